import { proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ScratchCoordinatorActivities } from '../infra/activities/scratch.activities';
import { operationIdOf, operationStatusQuery } from './definitions';
import { type DrillSpec, OPERATION_STEPS, type OperationStatus } from './operation';
import { OperationRuntime, toOperationError } from './operation-runtime';
import {
  cleanUpScratch,
  restoreIntoScratch,
  runScratchChecks,
  type ScratchPlan,
  type ScratchReport,
  startScratchApp,
} from './scratch-restore';

/**
 * A drill rehearses a failover without touching live DNS or the active region (docs/drills.md):
 *
 *   preflight (the scratch region is a standby; the newest verified restore point it holds)
 *   → restore (into the region's scratch places: artifacts verified, services in dependency order)
 *   → start (the app's scratch instance started and answering healthy: the measured RTO ends here)
 *   → checks (the app's declared SQL and HTTP checks against the scratch copy)
 *   → cleanup (always, once anything was touched: the instance stopped, every scratch place discarded)
 *
 * The drill report (`facts.report`, DrillReport) keeps what was measured: RTO = drill start to
 * healthy, RPO = age of the restored data at the drill's start, each against its target.
 */

export interface DrillInput {
  app: string;
  spec: DrillSpec;
  requestedBy: string;
  taskQueuePrefix: string;
}

export interface DrillReport extends ScratchReport {
  startedAt: string;
  /** Drill start to healthy, in seconds (null when it never got healthy). */
  rtoSeconds: number | null;
  /** `drills.rtoSeconds`, when configured. */
  rtoTargetSeconds?: number;
  rtoMet?: boolean;
  /** Age of the restored data (its cut) at the drill's start, in seconds. */
  rpoSeconds: number | null;
  /** `policies.rpoSeconds`. */
  rpoTargetSeconds?: number;
  rpoMet?: boolean;
  /** The live DNS records and the active region are never touched by a drill. */
  liveDnsTouched: false;
}

const coordinator = proxyActivities<ScratchCoordinatorActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

export async function drillWorkflow(input: DrillInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const startedAt = new Date();
  const status: OperationStatus = {
    operationId: operationIdOf(app, workflowInfo().firstExecutionRunId),
    kind: 'drill',
    app,
    spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: OPERATION_STEPS.drill.map((name) => ({ name, status: 'Pending' })),
    startedAt: startedAt.toISOString(),
    facts: {},
  };
  const op = new OperationRuntime(status);
  setHandler(operationStatusQuery, () => status);
  const report: DrillReport = {
    region: '',
    services: {},
    checks: [],
    cleanup: [],
    passed: false,
    startedAt: status.startedAt,
    rtoSeconds: null,
    rpoSeconds: null,
    liveDnsTouched: false,
  };
  status.facts.report = report;
  const c = { app, taskQueuePrefix: input.taskQueuePrefix, operationId: status.operationId };
  await op.audit('operation.started', 'info', { spec, requestedBy: input.requestedBy });

  let plan: ScratchPlan | undefined;
  let touched = false;
  let failure: unknown;
  try {
    await op.runStep('preflight', async (step) => {
      plan = await coordinator.planScratchRestore({ app, purpose: 'drill' });
      report.region = plan.region;
      report.restorePoint = plan.restorePoint;
      report.rpoSeconds = Math.max(
        0,
        Math.round((startedAt.getTime() - Date.parse(plan.restorePoint.cutAt)) / 1000),
      );
      report.rpoTargetSeconds = plan.rpoSeconds;
      report.rpoMet = report.rpoSeconds <= plan.rpoSeconds;
      if (plan.rtoSeconds !== undefined) report.rtoTargetSeconds = plan.rtoSeconds;
      step.detail =
        `restore point ${plan.restorePoint.id} (${plan.restorePoint.verification ?? 'unverified'}, cut ${plan.restorePoint.cutAt}) ` +
        `into the scratch places of ${plan.region} (active region: ${plan.activeRegion}, untouched)`;
    });
    const p = plan!;
    await op.runStep('restore', async (step) => {
      touched = true;
      step.detail = await restoreIntoScratch(op, c, p, report);
    });
    await op.runStep('start', async (step) => {
      step.detail = await startScratchApp(c, p, report);
      const healthyAt = report.healthyAt ? Date.parse(report.healthyAt) : Date.now();
      report.healthyAt ??= new Date(healthyAt).toISOString();
      report.rtoSeconds = Math.round((healthyAt - startedAt.getTime()) / 100) / 10;
      if (report.rtoTargetSeconds !== undefined) report.rtoMet = report.rtoSeconds <= report.rtoTargetSeconds;
      step.detail += `; RTO ${report.rtoSeconds}s`;
    });
    await op.runStep('checks', async (step) => {
      step.detail = await runScratchChecks(c, p, report);
    });
  } catch (err) {
    failure = err;
  }
  if (touched && plan) {
    const p = plan;
    try {
      await op.runStep('cleanup', async (step) => {
        step.detail = await cleanUpScratch(c, p, report);
      });
    } catch (err) {
      failure ??= err;
    }
  }
  report.passed = failure === undefined;
  status.facts.summary = summarize(report);
  if (failure !== undefined) {
    const failedStep = status.steps.find((s) => s.status === 'Failed')?.name;
    status.error = toOperationError(failure, failedStep);
    status.phase = 'Failed';
  } else {
    status.phase = 'Completed';
  }
  await op.audit('drill.reported', report.passed ? 'succeeded' : 'failed', {
    restorePointId: report.restorePoint?.id,
    region: report.region,
    rtoSeconds: report.rtoSeconds,
    rpoSeconds: report.rpoSeconds,
    checks: report.checks.map((r) => ({ name: r.name, ok: r.ok })),
    cleanedUp: report.cleanup.length > 0 && report.cleanup.every((r) => r.ok),
  });
  return op.end();
}

/** One line for tables and the CLI. */
export function summarize(r: DrillReport): string {
  const rto =
    r.rtoSeconds === null
      ? 'RTO not reached'
      : `RTO ${r.rtoSeconds}s${r.rtoTargetSeconds !== undefined ? ` (target ${r.rtoTargetSeconds}s${r.rtoMet ? ', met' : ', MISSED'})` : ''}`;
  const rpo =
    r.rpoSeconds === null
      ? 'RPO unknown'
      : `RPO ${r.rpoSeconds}s (target ${r.rpoTargetSeconds}s${r.rpoMet ? ', met' : ', MISSED'})`;
  const checks = `${r.checks.filter((x) => x.ok).length}/${r.checks.length} checks passed`;
  const cleanup =
    r.cleanup.length === 0
      ? 'no scratch place touched'
      : r.cleanup.every((x) => x.ok)
        ? 'scratch cleaned up'
        : 'cleanup incomplete';
  return `${r.passed ? 'passed' : 'FAILED'}: ${rto}, ${rpo}, ${checks}, ${cleanup}`;
}
