import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CoordinatorActivities, RegionActivities } from '../infra/activities/failover.activities';
import type {
  BackupCoordinatorActivities,
  BackupRegionActivities,
} from '../infra/activities/restore-point.activities';
import type { SoftDeleteActivities } from '../infra/activities/soft-delete.activities';
import type { VerificationCoordinatorActivities } from '../infra/activities/verification.activities';
import type { RestorePointManifest, ServiceCut } from '../infra/backup/manifest';
import { type ApprovalFacts, type ApprovalPolicy, initialApprovalState } from './approval';
import { awaitApproval, installApprovalHandler } from './approval-flow';
import { operationIdOf, operationStatusQuery, regionTaskQueue } from './definitions';
import { OPERATION_STEPS, type OperationStatus, type RestoreSpec } from './operation';
import { OperationRuntime, toOperationError } from './operation-runtime';

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

/** Services grouped so that each group depends only on earlier groups. */
export function restoreOrder(services: Pick<ServiceCut, 'name' | 'dependsOn'>[]): string[][] {
  const done = new Set<string>();
  const names = new Set(services.map((s) => s.name));
  const levels: string[][] = [];
  let rest = [...services];
  while (rest.length > 0) {
    const ready = rest.filter((s) => s.dependsOn.every((d) => done.has(d) || !names.has(d)));
    if (ready.length === 0) {
      throw ApplicationFailure.nonRetryable(
        `the services depend on each other in a cycle: ${rest.map((s) => s.name).join(', ')}`,
        'dependency-cycle',
      );
    }
    levels.push(ready.map((s) => s.name).sort());
    ready.forEach((s) => done.add(s.name));
    rest = rest.filter((s) => !done.has(s.name));
  }
  return levels;
}

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
  const target = proxyActivities<BackupRegionActivities & RegionActivities>({
    taskQueue: regionTaskQueue(input.taskQueuePrefix, spec.region),
    startToCloseTimeout: '6h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  });

  let manifest!: RestorePointManifest;
  async function observe(): Promise<ApprovalFacts> {
    const state = await coordinator.readControlState({ app });
    const probe = await target.probeRegionHealth({ app, region: spec.region });
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

    const perService = status.facts.services as Record<string, string>;
    const versions: Record<string, string | undefined> = {};
    failedStep = 'verify-artifacts';
    await op.runStep('verify-artifacts', async (step) => {
      const results = await Promise.all(
        manifest.services.map((s) =>
          target.verifyArtifact({ app, region: spec.region, artifact: s.artifact }),
        ),
      );
      manifest.services.forEach((s, i) => {
        versions[s.name] = results[i]!.versionId;
        perService[s.name] = 'Verified';
      });
      step.detail = `${manifest.services.length} artifact(s) match their SHA-256 in ${spec.region}`;
    });

    failedStep = 'restore';
    await op.runStep('restore', async (step) => {
      const levels = restoreOrder(manifest.services);
      const details: string[] = [];
      for (const level of levels) {
        await Promise.all(
          level.map(async (name) => {
            const cut = manifest.services.find((s) => s.name === name)!;
            perService[name] = 'Restoring';
            op.publish();
            try {
              const r = await target.restoreService({
                app,
                region: spec.region,
                service: name,
                restorePointId: manifest.id,
                artifact: cut.artifact,
                versionId: versions[name],
              });
              perService[name] = 'Restored';
              details.push(`${name}: ${r.detail}`);
            } catch (err) {
              perService[name] = `Failed: ${toOperationError(err).message}`;
              throw err;
            }
            op.publish();
          }),
        );
      }
      step.detail = `in order ${levels.map((l) => l.join('+')).join(' → ')}; ${details.join('; ')}`;
    });

    failedStep = 'verify';
    await op.runStep('verify', async (step) => {
      const results = await Promise.all(
        manifest.services.map((s) =>
          target.verifyService({ app, region: spec.region, service: s.name, restorePointId: manifest.id }),
        ),
      );
      const bad = manifest.services.filter((_s, i) => !results[i]!.ok);
      manifest.services.forEach(
        (s, i) => (perService[s.name] = results[i]!.ok ? 'Verified' : 'VerifyFailed'),
      );
      step.detail = manifest.services.map((s, i) => `${s.name}: ${results[i]!.detail}`).join('; ');
      if (bad.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `service(s) ${bad.map((s) => s.name).join(', ')} did not verify after the restore`,
          'verify-failed',
        );
      }
    });
    status.phase = 'Completed';
  } catch (err) {
    if (status.endedAt) throw err;
    await op.failAndCompensate(err, failedStep);
  }
  return op.end();
}
