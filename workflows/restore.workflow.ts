import { removedRegionRefusal } from './control-guards';
import { refuse } from './control-hold';
import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CoordinatorActivities, RegionActivities } from '../infra/activities/failover.activities';
import type { BackupCoordinatorActivities } from '../infra/activities/restore-point.activities';
import type { SoftDeleteActivities } from '../infra/activities/soft-delete.activities';
import type { VerificationCoordinatorActivities } from '../infra/activities/verification.activities';
import type { RestorePointManifest } from '../infra/backup/manifest';
import { type ApprovalFacts, type ApprovalPolicy, initialApprovalState } from './approval';
import { awaitApproval, installApprovalHandler } from './approval-flow';
import { operationIdOf, operationStatusQuery, regionTaskQueue } from './definitions';
import { OPERATION_STEPS, type OperationStatus, type RestoreSpec } from './operation';
import { OperationRuntime } from './operation-runtime';
import {
  restoreOrder,
  restoreServices,
  type RestoreTarget,
  verifyArtifacts,
  verifyServices,
} from './restore-core';

/**
 * Restores every service of an app from one restore point into one region:
 *
 *   preflight (the region holds the restore point's manifest; the services match)
 *   → approval (per policy, when the region is the active one)
 *   → verify-artifacts (every artifact read through: size and SHA-256 against the manifest,
 *     before anything is touched)
 *   → restore (in dependency order; services with no order between them in parallel)
 *   → verify (each service answers after its restore)
 *
 * A restore replaces data and has no compensation of its own: that is why the artifacts are
 * verified first, and why restoring into the active region needs approval.
 */

export interface RestoreInput {
  app: string;
  spec: RestoreSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  plan: {
    /** Applies when the region is the active one; the API passes the app's restore policy. */
    approval: ApprovalPolicy;
  };
}

const coordinator = proxyActivities<
  BackupCoordinatorActivities &
    CoordinatorActivities &
    VerificationCoordinatorActivities &
    SoftDeleteActivities
>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Kept here for the callers that import it from the restore workflow. */
export { restoreOrder };

export async function restoreWorkflow(input: RestoreInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const status: OperationStatus = {
    operationId: operationIdOf(app, workflowInfo().firstExecutionRunId),
    kind: 'restore',
    app,
    spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: OPERATION_STEPS.restore.map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    approval: initialApprovalState({ ...input.plan.approval, required: 0 }, input.requestedBy),
    facts: {},
  };
  const op = new OperationRuntime(status);
  setHandler(operationStatusQuery, () => status);
  installApprovalHandler(op);
  const region = proxyActivities<RegionActivities>({
    taskQueue: regionTaskQueue(input.taskQueuePrefix, spec.region),
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  });

  let manifest!: RestorePointManifest;
  async function observe(): Promise<ApprovalFacts> {
    const state = await coordinator.readControlState({ app });
    const removed = removedRegionRefusal(state, app, spec.region, 'restored into');
    if (removed) refuse(removed);
    const probe = await region.probeRegionHealth({ app, region: spec.region });
    return {
      activeRegion: state.activeRegion,
      epoch: state.epoch,
      targetRegion: spec.region,
      targetHealthy: probe.healthy,
      targetHealth: probe.healthy ? `healthy (${probe.latencyMs} ms)` : probe.reason,
      restorePointId: spec.restorePointId,
      restorePointCutAt: manifest.cutAt,
    };
  }

  await op.audit('operation.started', 'info', { spec, requestedBy: input.requestedBy });
  let failedStep = 'preflight';
  try {
    let facts!: ApprovalFacts;
    await op.runStep('preflight', async (step) => {
      const m = await coordinator.readManifest({
        app,
        region: spec.region,
        restorePointId: spec.restorePointId,
      });
      if (!m) {
        throw ApplicationFailure.nonRetryable(
          `restore point ${spec.restorePointId} has no manifest in region ${spec.region}: it does not exist there`,
          'restore-point-not-in-region',
        );
      }
      manifest = m;
      // A soft-deleted restore point is never restored from (a delete after this check leaves its
      // bytes alone until the purge, days later).
      const deleted = await coordinator.readTombstone({ app, restorePointId: spec.restorePointId });
      if (deleted) {
        throw ApplicationFailure.nonRetryable(
          `restore point ${spec.restorePointId} is deleted (operation ${deleted.operationId}, purged at ${deleted.undoableUntil} unless undone)`,
          'restore-point-deleted',
        );
      }
      // A verification found no good copy of some artifact: its bytes are never restored.
      const verified = await coordinator.readVerificationRecord({ app, restorePointId: spec.restorePointId });
      if (verified?.status === 'unrecoverable') {
        throw ApplicationFailure.nonRetryable(
          `restore point ${spec.restorePointId} is unrecoverable (verification ${verified.operationId} at ${verified.verifiedAt})`,
          'restore-point-unrecoverable',
        );
      }
      facts = await observe();
      const ageSeconds = Math.round((Date.now() - Date.parse(m.cutAt)) / 1000);
      status.facts.restorePoint = { id: m.id, cutAt: m.cutAt, ageSeconds, sourceRegion: m.sourceRegion };
      status.facts.activeRegion = facts.activeRegion;
      status.facts.intoActiveRegion = facts.activeRegion === spec.region;
      status.facts.services = Object.fromEntries(m.services.map((s) => [s.name, 'Pending']));
      step.detail =
        `restore point ${m.id} (cut ${m.cutAt}, ${ageSeconds}s old, ${m.services.length} service(s)) into ` +
        `${spec.region}${facts.activeRegion === spec.region ? ' — the ACTIVE region' : ' (standby)'}`;
    });

    failedStep = 'approval';
    const approval = status.approval!;
    if (facts.activeRegion === spec.region && input.plan.approval.required > 0) {
      approval.policy = input.plan.approval;
      approval.status = 'Pending';
      approval.stillNeeded = input.plan.approval.required;
      const outcome = await awaitApproval(op, facts, observe);
      if (outcome.end) return await op.end();
    } else {
      const step = op.step('approval');
      step.status = 'Skipped';
      step.detail =
        facts.activeRegion === spec.region
          ? 'the restore approval policy requires none'
          : `${spec.region} is not the active region: no approval needed`;
    }

    const target: RestoreTarget = {
      app,
      region: spec.region,
      taskQueuePrefix: input.taskQueuePrefix,
      manifest,
      perService: status.facts.services as Record<string, string>,
    };
    let versions: Record<string, string | undefined> = {};
    failedStep = 'verify-artifacts';
    await op.runStep('verify-artifacts', async (step) => {
      const checked = await verifyArtifacts(target);
      versions = checked.versions;
      step.detail = checked.detail;
    });

    failedStep = 'restore';
    await op.runStep('restore', async (step) => {
      step.detail = await restoreServices(op, target, versions);
    });

    failedStep = 'verify';
    await op.runStep('verify', async (step) => {
      step.detail = await verifyServices(target);
    });
    status.phase = 'Completed';
  } catch (err) {
    if (status.endedAt) throw err;
    await op.failAndCompensate(err, failedStep);
  }
  return op.end();
}
