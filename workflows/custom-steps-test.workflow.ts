import { ApplicationFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import { type CustomStepPlan, expandSteps, installCheckpointHandler, runCustomStepsAt } from './custom-steps';
import { operationIdOf, operationStatusQuery } from './definitions';
import type { FailoverMode, FailoverSpec, OperationStatus } from './operation';
import { OperationRuntime } from './operation-runtime';

/**
 * A failover-shaped operation whose built-in steps do nothing (or fail where `failAt` says), for
 * the end-to-end test of custom steps (test/e2e/custom-steps.e2e.test.ts): webhooks, checkpoints
 * confirmed through the API, compensations, exactly as failoverWorkflow runs them. Changes nothing.
 */
export interface CustomStepsTestInput {
  app: string;
  spec: FailoverSpec;
  requestedBy: string;
  mode: FailoverMode;
  builtins: string[];
  custom: CustomStepPlan[];
  /** The built-in step that fails, if any. */
  failAt?: string;
}

export async function customStepsTestWorkflow(input: CustomStepsTestInput): Promise<OperationStatus> {
  const status: OperationStatus = {
    operationId: operationIdOf(input.app, workflowInfo().firstExecutionRunId),
    kind: 'failover',
    app: input.app,
    spec: input.spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: expandSteps(input.builtins, input.custom).map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    facts: {},
  };
  const op = new OperationRuntime(status);
  setHandler(operationStatusQuery, () => status);
  installCheckpointHandler(op, input.custom);
  const custom = { app: input.app, custom: input.custom, mode: input.mode };
  let current = input.builtins[0]!;
  try {
    for (const builtin of input.builtins) {
      current = builtin;
      await runCustomStepsAt(op, { before: builtin }, custom);
      await op.runStep(builtin, async (step) => {
        if (builtin === input.failAt) throw ApplicationFailure.nonRetryable('injected failure', 'injected');
        step.detail = 'nothing to do (test)';
      });
      await runCustomStepsAt(op, { after: builtin }, custom);
    }
    status.phase = 'Completed';
  } catch (err) {
    await op.failAndCompensate(err, status.steps.find((s) => s.status === 'Failed')?.name ?? current);
  }
  return op.end();
}
