import {
  ApplicationFailure,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  BackupCoordinatorActivities,
  BackupRegionActivities,
  RestorePointPlan,
} from '../infra/activities/restore-point.activities';
import type { ArtifactRef, RestorePointManifest, ServiceCut } from '../infra/backup/manifest';
import type { ObjectLockActivities } from '../infra/activities/object-lock.activities';
import {
  appOwnOperationWorkflowId,
  MANIFEST_SCHEMA,
  operationIdOf,
  operationSearchAttributes,
  operationStatusQuery,
  regionTaskQueue,
  restorePointIdOf,
} from './definitions';
import { OPERATION_STEPS, type OperationStatus, type RestorePointInput } from './operation';
import { OperationRuntime, toOperationError } from './operation-runtime';
import { lockUntil } from './object-lock';
import { planRetention } from './retention';
import type { restorePointDeleteWorkflow } from './restore-point-delete.workflow';
import type { RestorePointDeleteInput } from './soft-delete';

/**
 * Takes one restore point of an app, consistent across its services:
 *
 *   preflight → quiesce (every service, in parallel, within the quiesce window; then the markers)
 *   → snapshot (in parallel, heartbeating, streamed to the source region's bucket with SHA-256)
 *   → release → replicate (every artifact into every other region's bucket, checked)
 *   → commit (the manifest, last, into every region)
 *   → lock (with restorePoints.objectLock: the newest N restore points locked in compliance mode)
 *   → retention (every restore point past the policy is handed to a soft delete of its own)
 *
 * The restore point exists in a region only once its manifest is there. Any failure before the
 * commit releases the services and removes everything the attempt wrote, in every region.
 */

const coordinator = proxyActivities<BackupCoordinatorActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Locking lists every version of the newest restore points in every region: allow it time. */
const locker = proxyActivities<ObjectLockActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** How long services stay quiesced without news from the coordinator, beyond twice the window. */
const QUIESCE_LEASE_MARGIN_SECONDS = 300;

/** A whole cut is tried this often; a failure that a retry cannot fix (a refusal) ends at once. */
const CUT_ATTEMPTS = 2;
const RETRYABLE_CUT_ERRORS = new Set(['failed', 'timeout', 'lease-expired']);

const sweeper = proxyActivities<BackupCoordinatorActivities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 1 },
});

function region(prefix: string, name: string, timeouts: Parameters<typeof proxyActivities>[0]) {
  return proxyActivities<BackupRegionActivities>({ ...timeouts, taskQueue: regionTaskQueue(prefix, name) });
}

export async function restorePointWorkflow(
  input: RestorePointInput & { restorePointId?: string },
): Promise<OperationStatus> {
  const { app } = input;
  const info = workflowInfo();
  const restorePointId =
    input.restorePointId ?? restorePointIdOf(app, info.startTime, uuid4().replace(/-/g, ''));
  const status: OperationStatus = {
    operationId: operationIdOf(app, info.firstExecutionRunId),
    kind: 'restore-point',
    app,
    spec: input.spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: OPERATION_STEPS['restore-point'].map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    facts: { restorePointId },
  };
  const op = new OperationRuntime(status);
  setHandler(operationStatusQuery, () => status);
  await op.audit('operation.started', 'info', {
    spec: input.spec,
    requestedBy: input.requestedBy,
    restorePointId,
  });

  let plan!: RestorePointPlan;
  let failedStep = 'preflight';
  try {
    await op.runStep('preflight', async (step) => {
      plan = await coordinator.planRestorePoint({ app });
      status.facts.sourceRegion = plan.sourceRegion;
      status.facts.regions = plan.regions;
      // Best effort: a region that cannot be read now is swept by a later attempt.
      const swept = await sweeper.sweepLeftovers({ app, exclude: restorePointId }).catch((err: unknown) => {
        status.facts.sweepError = toOperationError(err).message;
        return { removed: [] as string[], unreachable: [] as string[] };
      });
      if (swept.removed.length) status.facts.leftoversRemoved = swept.removed;
      step.detail = `${plan.services.length} service(s) in ${plan.sourceRegion} (epoch ${plan.epoch}); copies to ${plan.regions.join(', ')}`;
      if (swept.removed.length)
        step.detail += `; removed ${swept.removed.length} leftover(s) of failed attempts`;
    });
    const src = plan.sourceRegion;
    const call = (service: string) => ({ app, region: src, service, restorePointId });

    // Quiesce calls share the window: none may outlast it, and a region whose workers are gone
    // fails here instead of holding the services quiesced. The services hold their quiesce for at
    // most the lease, so a coordinator that dies never freezes the app for long.
    const quiesceWindow = plan.quiesceTimeoutSeconds * 1000;
    const lease = plan.quiesceTimeoutSeconds * 2 + QUIESCE_LEASE_MARGIN_SECONDS;
    const quick = region(input.taskQueuePrefix, src, {
      scheduleToCloseTimeout: quiesceWindow,
      startToCloseTimeout: quiesceWindow,
      retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s' },
    });
    const releaser = region(input.taskQueuePrefix, src, {
      scheduleToCloseTimeout: '2m',
      startToCloseTimeout: '20s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
    });
    // A snapshot is never retried on its own: a retry could run after the quiesce has ended and
    // capture a state that is not the cut. The whole cut (quiesce → snapshot) is retried instead.
    const snapper = region(input.taskQueuePrefix, src, {
      startToCloseTimeout: plan.snapshotTimeoutSeconds * 1000,
      heartbeatTimeout: '10s',
      retry: { maximumAttempts: 1 },
    });
    let released = true;
    /** Releases every service; returns those whose hold had already ended by its lease. */
    const releaseAll = async (): Promise<string[]> => {
      if (released) return [];
      const results = await Promise.allSettled(
        plan.services.map((s) => releaser.releaseService(call(s.name))),
      );
      released = true;
      const failed = results
        .map((r, i) =>
          r.status === 'rejected' ? `${plan.services[i]!.name}: ${toOperationError(r.reason).message}` : null,
        )
        .filter((x): x is string => x !== null);
      // A release that could not be delivered ends with the service's lease anyway.
      if (failed.length) status.facts.releaseErrors = failed;
      return results
        .map((r, i) => (r.status === 'fulfilled' && r.value.leaseExpired ? plan.services[i]!.name : null))
        .filter((x): x is string => x !== null);
    };
    op.onFailureUndo('quiesce', async () => void (await releaseAll()));
    op.onFailureUndo('snapshot', async () => {
      status.facts.cleanup = await coordinator.purgeRestorePoint({
        app,
        restorePointId,
        regions: plan.regions,
      });
    });

    let quiescedAt = '';
    let releasedAt = '';
    const markers: Record<string, Record<string, unknown>> = {};
    const artifacts: Record<string, ArtifactRef> = {};
    for (let attempt = 1; ; attempt++) {
      try {
        failedStep = 'quiesce';
        await op.runStep('quiesce', async (step) => {
          const started = Date.now();
          released = false;
          await Promise.all(
            plan.services.map((s) => quick.quiesceService({ ...call(s.name), leaseSeconds: lease })),
          );
          quiescedAt = new Date().toISOString();
          const got = await Promise.all(plan.services.map((s) => quick.markService(call(s.name))));
          plan.services.forEach((s, i) => (markers[s.name] = got[i]!));
          step.detail = `${plan.services.length} service(s) quiesced in ${Date.now() - started} ms (lease ${lease}s)`;
        });

        failedStep = 'snapshot';
        await op.runStep('snapshot', async (step) => {
          const results = await Promise.all(plan.services.map((s) => snapper.snapshotService(call(s.name))));
          plan.services.forEach((s, i) => {
            artifacts[s.name] = results[i]!.artifact;
            Object.assign(markers[s.name]!, results[i]!.marker ?? {});
          });
          const total = results.reduce((n, r) => n + r.artifact.size, 0);
          step.detail = `${results.length} artifact(s), ${total} bytes, in ${src}`;
        });

        failedStep = 'release';
        await op.runStep('release', async (step) => {
          const expired = await releaseAll();
          releasedAt = new Date().toISOString();
          const held = Date.parse(releasedAt) - Date.parse(quiescedAt);
          status.facts.quiesceMs = held;
          if (expired.length > 0) {
            // The hold ended before the snapshots did: writes may have run inside the cut.
            throw ApplicationFailure.create({
              type: 'lease-expired',
              message: `the quiesce of ${expired.join(', ')} ended by its lease (${lease}s) before the release: the cut is not trusted`,
            });
          }
          step.detail = `services released after ${held} ms quiesced`;
        });
        break;
      } catch (err) {
        const error = toOperationError(err, failedStep);
        if (attempt >= CUT_ATTEMPTS || !RETRYABLE_CUT_ERRORS.has(error.code)) throw err;
        await releaseAll();
        await op.audit('restore-point.cut.retried', 'info', { attempt, error });
        status.facts.cutRetries = attempt;
        for (const name of ['quiesce', 'snapshot', 'release']) {
          const step = op.step(name);
          step.detail = `attempt ${attempt} failed (${error.message}); retrying the cut`;
          step.status = 'Pending';
          delete step.error;
        }
        op.publish();
      }
    }

    failedStep = 'replicate';
    await op.runStep('replicate', async (step) => {
      const refs = plan.services.map((s) => artifacts[s.name]!);
      const others = plan.regions.filter((r) => r !== src);
      const results = await Promise.all(
        others.map((to) =>
          region(input.taskQueuePrefix, to, {
            scheduleToCloseTimeout: plan.replicateTimeoutSeconds * 1000,
            startToCloseTimeout: plan.replicateTimeoutSeconds * 1000,
            heartbeatTimeout: '30s',
            retry: {
              initialInterval: '2s',
              backoffCoefficient: 2,
              maximumInterval: '30s',
              maximumAttempts: 5,
            },
          }).replicateArtifacts({ app, from: src, to, artifacts: refs }),
        ),
      );
      status.facts.replication = others.map((to, i) => ({ region: to, ...results[i]! }));
      step.detail =
        others
          .map((to, i) => `${to}: ${results[i]!.objects} object(s), ${results[i]!.bytes} bytes copied`)
          .join('; ') || 'single region';
    });

    failedStep = 'commit';
    await op.runStep('commit', async (step) => {
      const services: ServiceCut[] = plan.services.map((s) => ({
        name: s.name,
        type: s.type,
        dependsOn: s.dependsOn,
        marker: markers[s.name] ?? {},
        artifact: artifacts[s.name]!,
      }));
      const manifest: RestorePointManifest = {
        schema: MANIFEST_SCHEMA,
        id: restorePointId,
        app,
        operationId: status.operationId,
        requestedBy: input.requestedBy,
        reason: input.spec.reason,
        sourceRegion: src,
        epoch: plan.epoch,
        cutAt: quiescedAt,
        quiesce: {
          startedAt: op.step('quiesce').startedAt!,
          releasedAt,
          durationMs: Date.parse(releasedAt) - Date.parse(quiescedAt),
        },
        committedAt: new Date().toISOString(),
        services,
        regions: plan.regions,
        totalBytes: services.reduce((n, s) => n + s.artifact.size + (s.artifact.objects?.bytes ?? 0), 0),
      };
      await Promise.all(plan.regions.map((r) => coordinator.writeManifest({ region: r, manifest })));
      status.facts.manifest = {
        cutAt: manifest.cutAt,
        totalBytes: manifest.totalBytes,
        regions: manifest.regions,
      };
      step.detail = `restore point ${restorePointId} committed in ${plan.regions.join(', ')}`;
    });
  } catch (err) {
    await op.failAndCompensate(err, failedStep);
    return op.end();
  }

  // The lock runs after the commit and never undoes it: a restore point not locked now is locked
  // (or its lock extended) by the next commit.
  if (plan.objectLock) {
    const { keepNewest, retainSeconds } = plan.objectLock;
    try {
      await op.runStep('lock', async (step) => {
        const until = lockUntil(Date.now(), retainSeconds);
        const r = await locker.lockNewestRestorePoints({
          app,
          operationId: status.operationId,
          keepNewest,
          until,
        });
        status.facts.objectLock = {
          lockedUntil: until,
          restorePointIds: r.restorePointIds,
          regions: r.regions,
        };
        const locked = r.regions.filter((x) => x.objectLock === 'locked');
        step.detail =
          (locked.length
            ? `${r.restorePointIds.length} newest restore point(s) locked (COMPLIANCE) until ${until} in ${locked.map((x) => x.region).join(', ')}`
            : 'nothing locked') +
          r.regions
            .filter((x) => x.objectLock !== 'locked')
            .map((x) => `; ${x.region}: objectLock ${x.objectLock}${x.error ? ` (${x.error})` : ''}`)
            .join('');
        await op.audit('restore-point.locked', locked.length ? 'succeeded' : 'info', {
          restorePointIds: r.restorePointIds,
          lockedUntil: until,
          regions: r.regions.map((x) => ({
            region: x.region,
            objectLock: x.objectLock,
            restorePointIds: x.restorePointIds,
          })),
        });
      });
    } catch (err) {
      status.facts.objectLockError = toOperationError(err, 'lock').message;
    }
  } else {
    const step = op.step('lock');
    step.status = 'Skipped';
    step.detail = `apps.${app}.restorePoints.objectLock is not set`;
  }

  // Retention runs after the commit and never undoes it. Each expired restore point gets a soft
  // delete of its own (a child this operation abandons): hidden now, purged when its undo window
  // ends, and refused by the same guard rails as a delete through the API.
  try {
    await op.runStep('retention', async (step) => {
      const points = await coordinator.listRestorePoints({ app });
      const result = planRetention(
        points.filter((p) => p.complete).map((p) => ({ id: p.id, committedAt: p.committedAt })),
        plan.retention,
        new Date(),
      );
      const undoableUntil = new Date(Date.now() + plan.softDeleteWindowSeconds * 1000).toISOString();
      const deletes: { restorePointId: string; operationId?: string; error?: string }[] = [];
      for (const e of result.expire) {
        const uuid = uuid4();
        const child: RestorePointDeleteInput = {
          app,
          operationId: operationIdOf(app, uuid),
          spec: {
            restorePointId: e.id,
            reason: `past the retention policy (${input.spec.reason})`,
            trigger: 'retention',
          },
          requestedBy: 'retention',
          taskQueuePrefix: input.taskQueuePrefix,
          undoableUntil,
        };
        try {
          await startChild<typeof restorePointDeleteWorkflow>('restorePointDeleteWorkflow', {
            workflowId: appOwnOperationWorkflowId(app, uuid),
            args: [child],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            typedSearchAttributes: operationSearchAttributes(app, 'restore-point-delete'),
          });
          deletes.push({ restorePointId: e.id, operationId: child.operationId });
        } catch (err) {
          deletes.push({ restorePointId: e.id, error: toOperationError(err).message });
        }
      }
      status.facts.retention = { keep: result.keep.length, expired: deletes };
      step.detail =
        result.expire.length === 0
          ? `${result.keep.length} restore point(s) kept; none expired`
          : `${result.expire.length} restore point(s) past retention handed to soft deletes (undoable until ${undoableUntil}): ${deletes.map((d) => `${d.restorePointId} → ${d.operationId ?? d.error}`).join(', ')}`;
    });
  } catch (err) {
    status.facts.retentionError = toOperationError(err, 'retention').message;
  }
  status.phase = 'Completed';
  return op.end();
}
