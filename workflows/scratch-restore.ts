import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { BackupRegionActivities } from '../infra/activities/restore-point.activities';
import type {
  CheckResult,
  ScratchPlan,
  ScratchRegionActivities,
} from '../infra/activities/scratch.activities';
import { regionTaskQueue } from './definitions';
import type { OperationRuntime } from './operation-runtime';
import { toOperationError } from './operation-runtime';
import { restoreInto } from './restore-core';

/**
 * The pieces test restores and drills share (docs/drills.md): restore a restore point into the
 * scratch places of one region (the restore core, ./restore-core.ts, with `place: 'scratch'`:
 * artifacts verified first, services in dependency order, each verified after), start the app's scratch
 * instance and wait until it answers healthy, run the app's declared checks, and clean every
 * scratch place up again. Live places are never named: every call goes to the scratch place.
 */

export type { CheckResult, ScratchPlan };

export interface CleanupResult {
  /** A service name, or `app` for the scratch instance's stop hook. */
  what: string;
  ok: boolean;
  detail: string;
}

/** What a test restore or a drill did; a drill adds its measurements (DrillReport). */
export interface ScratchReport {
  region: string;
  restorePoint?: { id: string; cutAt: string; verification?: string };
  /** Per service: Pending → Restoring → Restored → Verified | VerifyFailed | Failed: <why>. */
  services: Record<string, string>;
  healthyAt?: string;
  checks: CheckResult[];
  cleanup: CleanupResult[];
  /** Restored, healthy, every check passed and every scratch place cleaned up. */
  passed: boolean;
}

function scratchRegion(prefix: string, region: string) {
  return proxyActivities<BackupRegionActivities & ScratchRegionActivities>({
    taskQueue: regionTaskQueue(prefix, region),
    startToCloseTimeout: '6h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  });
}

interface Ctx {
  app: string;
  taskQueuePrefix: string;
  operationId: string;
}

/**
 * Prepares every service's scratch place (emptied; a scratch database created), then the restore
 * core with `place: 'scratch'`: every artifact of the region's copy checked against the manifest,
 * the services restored in dependency order, each verified. Throws on the first failure;
 * `report.services` says how far each got.
 */
export async function restoreIntoScratch(
  op: OperationRuntime,
  c: Ctx,
  plan: ScratchPlan,
  report: ScratchReport,
): Promise<string> {
  const { manifest, region } = plan;
  const acts = scratchRegion(c.taskQueuePrefix, region);
  manifest.services.forEach((s) => (report.services[s.name] = 'Pending'));
  await Promise.all(
    manifest.services.map((s) =>
      acts.prepareScratchService({ app: c.app, region, service: s.name, restorePointId: manifest.id }),
    ),
  );
  const detail = await restoreInto(op, {
    app: c.app,
    region,
    taskQueuePrefix: c.taskQueuePrefix,
    manifest,
    perService: report.services,
    place: 'scratch',
  });
  return `${detail} (scratch places)`;
}

/** Starts the scratch instance (its start hook, if declared) and waits until it answers healthy. */
export async function startScratchApp(c: Ctx, plan: ScratchPlan, report: ScratchReport): Promise<string> {
  if (!plan.instance) return 'no scratch instance declared: healthy once every service verified';
  const r = await scratchRegion(c.taskQueuePrefix, plan.region).startScratchApp({
    app: c.app,
    region: plan.region,
    operationId: c.operationId,
    restorePointId: plan.manifest.id,
  });
  report.healthyAt = r.healthyAt;
  return r.detail;
}

/** Runs every declared check; throws `checks-failed` (after all ran) when one failed. */
export async function runScratchChecks(c: Ctx, plan: ScratchPlan, report: ScratchReport): Promise<string> {
  const acts = scratchRegion(c.taskQueuePrefix, plan.region);
  report.checks = await Promise.all(
    plan.checks.map((check) => acts.runCheck({ app: c.app, region: plan.region, check: check.name })),
  );
  const failed = report.checks.filter((r) => !r.ok);
  const summary = report.checks.map((r) => `${r.name}: ${r.ok ? 'ok' : 'FAILED'} (${r.detail})`).join('; ');
  if (failed.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `${failed.length} of ${report.checks.length} check(s) failed: ${failed.map((f) => `${f.name} (${f.detail})`).join('; ')}`,
      'checks-failed',
    );
  }
  return report.checks.length ? summary : 'the app declares no checks (apps.<app>.checks)';
}

/**
 * Stops the scratch instance and discards every service's scratch place, each attempted whatever
 * happened to the others; throws `cleanup-incomplete` naming what is left behind.
 */
export async function cleanUpScratch(c: Ctx, plan: ScratchPlan, report: ScratchReport): Promise<string> {
  const acts = scratchRegion(c.taskQueuePrefix, plan.region);
  const attempt = async (what: string, run: () => Promise<string>): Promise<CleanupResult> => {
    try {
      return { what, ok: true, detail: await run() };
    } catch (err) {
      return { what, ok: false, detail: toOperationError(err).message };
    }
  };
  const app = plan.instance?.stop
    ? [
        await attempt('app', () =>
          acts.stopScratchApp({ app: c.app, region: plan.region, operationId: c.operationId }),
        ),
      ]
    : [];
  const services = await Promise.all(
    plan.manifest.services.map((s) =>
      attempt(
        s.name,
        async () =>
          (
            await acts.discardScratchService({
              app: c.app,
              region: plan.region,
              service: s.name,
              restorePointId: plan.manifest.id,
            })
          ).detail,
      ),
    ),
  );
  report.cleanup = [...app, ...services];
  const left = report.cleanup.filter((r) => !r.ok);
  if (left.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `scratch cleanup incomplete in ${plan.region}: ${left.map((l) => `${l.what} (${l.detail})`).join('; ')}`,
      'cleanup-incomplete',
    );
  }
  return report.cleanup.map((r) => `${r.what}: ${r.detail}`).join('; ');
}

/**
 * A whole test restore inside one step (the verification's `test-restore`): restore, start,
 * checks, and the cleanup whatever happened before it. Throws the first failure after cleaning up.
 */
export async function testRestore(op: OperationRuntime, c: Ctx, plan: ScratchPlan, report: ScratchReport) {
  const details: string[] = [];
  let failure: unknown;
  try {
    details.push(await restoreIntoScratch(op, c, plan, report));
    details.push(await startScratchApp(c, plan, report));
    details.push(await runScratchChecks(c, plan, report));
  } catch (err) {
    failure = err;
  }
  try {
    details.push(await cleanUpScratch(c, plan, report));
  } catch (err) {
    failure ??= err;
  }
  report.passed = failure === undefined;
  if (failure !== undefined) throw failure;
  return details.join(' | ');
}
