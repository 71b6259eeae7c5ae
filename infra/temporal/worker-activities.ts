import type { Client } from '@temporalio/client';
import { createControlActivities } from '../activities/control.activities';
import { createCustomStepActivities } from '../activities/custom-step.activities';
import { createDnsActivities } from '../activities/dns.activities';
import { createDnsRecordActivities } from '../activities/dns-record.activities';
import { createFailoverDataActivities } from '../activities/failover-data.activities';
import { createCoordinatorActivities, createRegionActivities } from '../activities/failover.activities';
import { createRecordingActivities } from '../activities/recording.activities';
import {
  createBackupCoordinatorActivities,
  createBackupRegionActivities,
} from '../activities/restore-point.activities';
import { createScheduleDeleteActivities } from '../activities/schedule-delete.activities';
import {
  createScratchCoordinatorActivities,
  createScratchRegionActivities,
} from '../activities/scratch.activities';
import { createRegionRemoveActivities } from '../activities/region-remove.activities';
import { createSoftDeleteActivities } from '../activities/soft-delete.activities';
import { createObjectLockActivities } from '../activities/object-lock.activities';
import {
  createVerificationCoordinatorActivities,
  createVerificationRegionActivities,
} from '../activities/verification.activities';
import { createServiceAdapters } from '../backup/adapters';
import { ArtifactStore } from '../backup/artifact.store';
import { RestorePointCatalog } from '../backup/catalog';
import type { SwitchyardConfig } from '../config/config.schema';
import type { Persistence } from '../database/persistence';
import { createDnsProviders } from '../dns/dns.registry';
import type { Logger } from '../logging/logger';
import { WebhookSink } from '../notify/webhook.sink';
import { ControlStateStore } from '../storage/control-state.store';
import { SchedulesRepository } from './schedules.repository';

export interface WorkerActivityDeps {
  config: SwitchyardConfig;
  persistence: Persistence;
  logger: Logger;
  /** A Temporal client, opened on first use: the control activities reach the app controllers with it, schedule deletes the schedules. */
  temporal: () => Promise<Client>;
}

/**
 * Every activity a worker registers, built once from the configuration: `coordinator` for the
 * coordinator task queue (region-independent work), `region` for each region's queue (work that
 * must run in that region). The worker (apps/worker/main.ts) and the switchover bench, which
 * calls the same activities without Temporal, both take them from here, so neither can miss one.
 */
export function createWorkerActivities(deps: WorkerActivityDeps) {
  const { config, persistence, logger } = deps;
  const base = {
    config,
    dns: createDnsProviders(config),
    controlState: new ControlStateStore(config),
    logger,
    audit: persistence.audit,
    sealer: persistence.sealer,
    notifications: new WebhookSink(config.notifications.webhooks),
  };
  const artifacts = new ArtifactStore(config);
  const backup = {
    ...base,
    artifacts,
    catalog: new RestorePointCatalog(artifacts),
    adapters: createServiceAdapters(artifacts.io),
  };
  const control = {
    config,
    // Short per-region bounds: a stopped bucket is reported in `mirrored`, not waited for.
    controlState: new ControlStateStore(config, { requestTimeoutMs: 2_000, maxAttempts: 2 }),
    temporal: deps.temporal,
  };
  const schedules = new SchedulesRepository(deps.temporal, config.temporal.taskQueuePrefix);
  return {
    coordinator: {
      ...createCoordinatorActivities(base),
      ...createRecordingActivities(base),
      ...createBackupCoordinatorActivities(backup),
      ...createVerificationCoordinatorActivities(backup),
      ...createSoftDeleteActivities(backup),
      ...createRegionRemoveActivities(backup),
      // Object Lock of the newest restore points (#7): the lock step, the purge's wait
      ...createObjectLockActivities(backup),
      ...createCustomStepActivities(base),
      ...createControlActivities(control),
      ...createDnsActivities(base),
      // soft DNS changes (#7): dns-record-delete, dns-override
      ...createDnsRecordActivities(base),
      ...createScratchCoordinatorActivities(backup),
      ...createScheduleDeleteActivities({ schedules, logger }),
      // failover (#6): the restore point an unplanned failover restores
      ...createFailoverDataActivities(backup),
    },
    region: {
      ...createRegionActivities(base),
      ...createBackupRegionActivities(backup),
      ...createVerificationRegionActivities(backup),
      ...createScratchRegionActivities(backup),
    },
    /** Closes the S3 clients the activities hold. */
    close(): void {
      base.controlState.close();
      control.controlState.close();
      artifacts.close();
    },
  };
}
