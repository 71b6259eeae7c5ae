import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineUpdate,
  patched,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { CustomStepActivities, CustomStepAction } from '../infra/activities/custom-step.activities';
import type { FailoverMode, FailoverSpec, OperationStep } from './operation';
import type { OperationRuntime } from './operation-runtime';

/**
 * Custom steps of a failover plan (`apps.<app>.failover.steps`, docs/custom-steps.md): signed
 * HTTP webhooks and manual checkpoints, inserted before or after built-in steps by name.
 * Deterministic: the webhook call is an activity, the checkpoint waits for an Update.
 */

/**
 * One custom step as the API fixes it in the workflow's input (built by `buildCustomSteps` in
 * infra/config/custom-steps.ts). It names the step; it holds neither the webhook's URLs nor its
 * secret: the worker looks both up in its own configuration by app and step name, so whoever can
 * start a workflow cannot point the worker's signed calls elsewhere, and no history holds them.
 */
export interface CustomStepPlan {
  name: string;
  type: 'webhook' | 'checkpoint';
  /** Exactly one of before/after: the built-in step this one runs next to. */
  before?: string;
  after?: string;
  /** Webhook: it has a compensation (the configured `compensateUrl`), called when the operation rolls back. */
  compensates?: boolean;
  /**
   * Inputs of operations started before steps were resolved by name carry the URLs; the worker
   * ignores them. Only whether `compensateUrl` was set is read (as `compensates`).
   */
  url?: string;
  compensateUrl?: string;
  /** Webhook: bound on one call. Checkpoint: how long to wait for a confirmation. */
  timeoutSeconds: number;
  /** Webhook: the answers that count as success. */
  expectStatus: number[];
}

/** An operator's confirmation of a waiting checkpoint, sent by the API with the identity it authenticated. */
export interface ConfirmCheckpointRequest {
  step: string;
  reason: string;
  principal: { name: string; roles: string[] };
  requestId?: string;
}

export interface CheckpointConfirmation {
  operationId: string;
  step: string;
  confirmedBy: string;
  reason: string;
  confirmedAt: string;
}

/** Sent by `POST /v1/operations/{id}/checkpoints/{step}/confirm`; refused by the validator unless waiting. */
export const confirmCheckpointUpdate = defineUpdate<CheckpointConfirmation, [ConfirmCheckpointRequest]>(
  'confirmCheckpoint',
);

/** The `type` of the ApplicationFailure with which the update's validator refuses a confirmation. */
export const CHECKPOINT_REFUSALS = {
  /** The operation's plan has no checkpoint of that name. */
  notFound: 'checkpoint-not-found',
  /** The checkpoint exists but is not waiting (not reached yet, confirmed, timed out). */
  notWaiting: 'checkpoint-not-waiting',
} as const;

/** Marks runs that skip the compensation of a webhook step the worker does not know (it called nobody). */
const UNKNOWN_STEP_NOT_COMPENSATED = 'custom-step-unknown-not-compensated';

/** Error codes (`status.error.code`, `step.error.code`) of failed custom steps. */
export const CUSTOM_STEP_ERRORS = {
  checkpointTimeout: 'checkpoint-timeout',
  webhookUnexpectedStatus: 'custom-step-unexpected-status',
  webhookUnavailable: 'custom-step-unavailable',
  webhookNotConfigured: 'custom-step-not-configured',
} as const;

/**
 * The plan's step names in order: each built-in step with the custom steps placed before it, then
 * those after it, in the order of the configuration. Throws (`invalid-plan`) when a custom step names
 * a step that is not in `builtins` (the configuration is validated at load, so this means custom
 * steps built for another mode); the API can call it before starting the operation to refuse that.
 */
export function expandSteps(builtins: readonly string[], custom: readonly CustomStepPlan[]): string[] {
  for (const c of custom) {
    const anchor = c.before ?? c.after;
    if (!anchor || !builtins.includes(anchor)) {
      // Non-retryable: in a workflow this fails it at once instead of retrying its task forever.
      throw ApplicationFailure.nonRetryable(
        `custom step "${c.name}" runs ${c.before ? 'before' : 'after'} "${anchor ?? '?'}", which is not a step of this plan (${builtins.join(', ')})`,
        'invalid-plan',
      );
    }
  }
  return builtins.flatMap((b) => [
    ...custom.filter((c) => c.before === b).map((c) => c.name),
    b,
    ...custom.filter((c) => c.after === b).map((c) => c.name),
  ]);
}

/** The custom steps that run at a position, in configuration order. */
export function customStepsAt(
  custom: readonly CustomStepPlan[],
  position: { before?: string; after?: string },
): CustomStepPlan[] {
  return custom.filter((c) =>
    position.before !== undefined ? c.before === position.before : c.after === position.after,
  );
}

interface CheckpointState {
  /** The checkpoints of this operation's plan. */
  names: Set<string>;
  /** The checkpoint waiting for its confirmation now, if any. */
  waiting: string | null;
  confirmed: Map<string, CheckpointConfirmation>;
}

const checkpoints = new WeakMap<OperationRuntime, CheckpointState>();

/**
 * Accepts operators' confirmations of this operation's checkpoints as the `confirmCheckpoint`
 * Update. Call once when the operation starts, with its custom steps (calling it again is harmless).
 * The validator refuses, without touching history, a step that is no checkpoint of the plan
 * (`checkpoint-not-found`) or one that is not waiting now (`checkpoint-not-waiting`). Who may
 * confirm (operator, admin) is the API's check.
 */
export function installCheckpointHandler(op: OperationRuntime, custom: readonly CustomStepPlan[]): void {
  const existing = checkpoints.get(op);
  if (existing) {
    for (const c of custom) if (c.type === 'checkpoint') existing.names.add(c.name);
    return;
  }
  const state: CheckpointState = {
    names: new Set(custom.filter((c) => c.type === 'checkpoint').map((c) => c.name)),
    waiting: null,
    confirmed: new Map(),
  };
  checkpoints.set(op, state);
  setHandler(
    confirmCheckpointUpdate,
    async (req) => {
      // Two confirmations admitted while the step waited: the first one counts, the second is told so.
      const already = state.confirmed.get(req.step);
      if (already) return already;
      if (state.waiting !== req.step) {
        // Admitted while waiting, handled after the wait timed out.
        throw ApplicationFailure.nonRetryable(
          `checkpoint "${req.step}" is not waiting for a confirmation any more`,
          CHECKPOINT_REFUSALS.notWaiting,
        );
      }
      const confirmation: CheckpointConfirmation = {
        operationId: op.status.operationId,
        step: req.step,
        confirmedBy: req.principal.name,
        reason: req.reason,
        confirmedAt: new Date().toISOString(),
      };
      state.confirmed.set(req.step, confirmation);
      const recorded =
        (op.status.facts.checkpoints as Record<string, CheckpointConfirmation> | undefined) ?? {};
      recorded[req.step] = confirmation;
      op.status.facts.checkpoints = recorded;
      op.publish();
      await op.audit(
        'checkpoint.confirmed',
        'accepted',
        { step: req.step, comment: req.reason, requestId: req.requestId },
        req.principal.name,
      );
      return confirmation;
    },
    {
      validator: (req) => {
        if (!state.names.has(req.step)) {
          throw ApplicationFailure.nonRetryable(
            `operation ${op.status.operationId} has no checkpoint named "${req.step}"` +
              (state.names.size ? ` (checkpoints: ${[...state.names].join(', ')})` : ''),
            CHECKPOINT_REFUSALS.notFound,
          );
        }
        if (state.waiting !== req.step || state.confirmed.has(req.step)) {
          const step = op.status.steps.find((s) => s.name === req.step);
          throw ApplicationFailure.nonRetryable(
            `checkpoint "${req.step}" is not waiting for a confirmation (step ${step?.status ?? 'unknown'})`,
            CHECKPOINT_REFUSALS.notWaiting,
            { stepStatus: step?.status },
          );
        }
      },
    },
  );
}

/**
 * Runs the custom steps placed at `position` (`{before: s}` or `{after: s}` for a built-in step s),
 * each as a step of the operation, in configuration order. A failed custom step throws like any
 * failed step (its status and error are on the step); the caller compensates. A webhook that
 * `compensates` registers its compensation call before it is called.
 */
export async function runCustomStepsAt(
  op: OperationRuntime,
  position: { before?: string; after?: string },
  input: { app: string; custom: CustomStepPlan[]; mode?: FailoverMode },
): Promise<void> {
  const due = customStepsAt(input.custom, position);
  if (due.length === 0) return;
  installCheckpointHandler(op, input.custom);
  for (const plan of due) {
    await op.runStep(plan.name, (step) =>
      plan.type === 'webhook' ? runWebhook(op, step, plan, input) : awaitCheckpoint(op, step, plan),
    );
  }
}

function modeOf(op: OperationRuntime, mode?: FailoverMode): FailoverMode {
  if (mode) return mode;
  if ((op.status.kind as string) === 'failback') return 'failback';
  return (op.status.spec as Partial<FailoverSpec>).mode ?? 'planned';
}

async function runWebhook(
  op: OperationRuntime,
  step: OperationStep,
  plan: CustomStepPlan,
  input: { app: string; mode?: FailoverMode },
): Promise<void> {
  const activities = proxyActivities<CustomStepActivities>({
    // The call itself is bounded by the step's timeout; this leaves room to sign and to answer.
    startToCloseTimeout: (plan.timeoutSeconds + 10) * 1000,
    // An unexpected answer fails at once (non-retryable); a timeout or a 5xx is tried twice more
    // with the same delivery id, so receivers can drop repeats.
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
  });
  const call = (action: CustomStepAction) =>
    activities.callCustomStepWebhook({
      app: input.app,
      operationId: op.status.operationId,
      step: plan.name,
      mode: modeOf(op, input.mode),
      action,
      timeoutSeconds: plan.timeoutSeconds,
      expectStatus: plan.expectStatus,
      to: (op.status.spec as Partial<FailoverSpec>).to,
    });
  // A step this worker does not know called nobody: there is nothing to compensate.
  let unknown = false;
  if (plan.compensates ?? plan.compensateUrl !== undefined) {
    // Registered before the call: a call that timed out may still have acted.
    op.onFailureUndo(plan.name, async () => {
      if (unknown && patched(UNKNOWN_STEP_NOT_COMPENSATED)) return;
      await call('compensate');
    });
  }
  step.detail = `calling the webhook of custom step "${plan.name}"`;
  op.publish();
  const result = await call('run').catch((err: unknown) => {
    unknown =
      err instanceof ActivityFailure &&
      err.cause instanceof ApplicationFailure &&
      err.cause.type === CUSTOM_STEP_ERRORS.webhookNotConfigured;
    throw err;
  });
  step.detail = `${result.target} answered ${result.status} in ${result.durationMs} ms`;
}

async function awaitCheckpoint(
  op: OperationRuntime,
  step: OperationStep,
  plan: CustomStepPlan,
): Promise<void> {
  const state = checkpoints.get(op)!;
  const deadline = new Date(Date.now() + plan.timeoutSeconds * 1000).toISOString();
  state.waiting = plan.name;
  step.detail = `waiting for an operator's confirmation until ${deadline}`;
  op.publish();
  await op.audit('checkpoint.waiting', 'info', { step: plan.name, until: deadline });
  op.notify('checkpoint.waiting', {
    step: plan.name,
    until: deadline,
    requestedBy: op.status.requestedBy,
    reason: op.status.spec.reason,
  });
  try {
    const confirmed = await condition(() => state.confirmed.has(plan.name), plan.timeoutSeconds * 1000);
    if (!confirmed) {
      throw ApplicationFailure.nonRetryable(
        `checkpoint "${plan.name}" was not confirmed within ${plan.timeoutSeconds} s`,
        CUSTOM_STEP_ERRORS.checkpointTimeout,
      );
    }
  } finally {
    state.waiting = null;
  }
  const c = state.confirmed.get(plan.name)!;
  step.detail = `confirmed by ${c.confirmedBy}: ${c.reason}`;
}
