import {
  CancelledFailure,
  ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  type ChildWorkflowHandle,
  ParentClosePolicy,
  startChild,
  TerminatedFailure,
  TimeoutFailure,
  upsertMemo,
  type Workflow,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  appSlotWorkflowId,
  coordinatorTaskQueue,
  OPERATION_SLOT_OF,
  operationIdOf,
  operationSearchAttributes,
  STATUS_MEMO_KEY,
  WORKFLOW_TYPES,
} from './definitions';
import {
  initialOperationStatus,
  OPERATION_PHASES,
  type OperationError,
  type OperationPhase,
  type OperationStatus,
  type RestorePointInput,
} from './operation';
import type { ScheduleTombstone } from './soft-delete';

/** What a schedule can run: restore points, verifications and drills. */
export const SCHEDULE_KINDS = ['restore-point', 'verification', 'drill'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];
export const SUPPORTED_SCHEDULE_KINDS = ['restore-point', 'verification', 'drill'] as const;
export type SupportedScheduleKind = (typeof SUPPORTED_SCHEDULE_KINDS)[number];

export interface ScheduledOperationInput {
  kind: SupportedScheduleKind;
  app: string;
  taskQueuePrefix: string;
  /** The Temporal Schedule that started this run (appScheduleId). */
  scheduleId: string;
  /** Verifications: end with a test restore (VerificationSpec.testRestore); absent: as configured. */
  testRestore?: boolean;
  /**
   * Set while the schedule is soft-deleted (docs/soft-deletes.md): the schedule is paused too, and
   * a run started anyway (a trigger from Temporal's own tools) starts nothing.
   */
  deleted?: ScheduleTombstone;
}

/**
 * What one run of a schedule did: the operation it started and how that ended, or why it started
 * none. Kept in the run's memo (SCHEDULED_RUN_MEMO_KEY) from the moment the operation starts, so
 * the API shows it as the schedule's last result without fetching the run's history.
 */
export type ScheduledRunResult =
  { operationId: string; phase: OperationPhase; error?: OperationError } | { skipped: true; reason: string };

export const SCHEDULED_RUN_MEMO_KEY = 'scheduledRun';

/**
 * A Temporal Schedule names its runs itself, so it cannot start an operation in the app's slot
 * directly: this thin workflow does, as an abandoned child with the slot's workflow id (Temporal
 * refuses the start while another run holds the slot), and waits for it, so the schedule's overlap
 * policy (SKIP) covers the whole operation.
 *
 * It never fails because the operation did: a failed restore point is the run's result (its phase
 * and error), shown as the schedule's last result, not a schedule run failing or retrying.
 */
export async function scheduledOperationWorkflow(
  input: ScheduledOperationInput,
): Promise<ScheduledRunResult> {
  const { app, scheduleId, taskQueuePrefix } = input;
  const kind = input.kind;
  // A verification's and a drill's input have the same shape (VerificationInput, DrillInput).
  const args: RestorePointInput = {
    app,
    spec: {
      reason: `scheduled by ${scheduleId}`,
      trigger: 'schedule',
      scheduleId,
      ...(kind === 'verification' && input.testRestore !== undefined
        ? { testRestore: input.testRestore }
        : {}),
    },
    requestedBy: `schedule:${scheduleId}`,
    taskQueuePrefix,
  };
  const record = (result: ScheduledRunResult): ScheduledRunResult => {
    upsertMemo({ [SCHEDULED_RUN_MEMO_KEY]: result });
    return result;
  };
  if (input.deleted) {
    return record({
      skipped: true,
      reason: `the schedule is deleted (operation ${input.deleted.operationId}, undoable until ${input.deleted.undoableUntil})`,
    });
  }

  let child: ChildWorkflowHandle<Workflow>;
  try {
    child = await startChild(WORKFLOW_TYPES[kind], {
      workflowId: appSlotWorkflowId(app, OPERATION_SLOT_OF[kind]),
      taskQueue: coordinatorTaskQueue(taskQueuePrefix),
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      // The operation belongs to the app's slot, not to this run: it outlives a terminated or
      // cancelled run (an operation is cancelled through its own route).
      parentClosePolicy: ParentClosePolicy.ABANDON,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      args: [args],
      memo: {
        [STATUS_MEMO_KEY]: initialOperationStatus(
          kind,
          app,
          args.spec,
          args.requestedBy,
          new Date().toISOString(),
        ),
      },
      typedSearchAttributes: operationSearchAttributes(app, kind),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return record({
        skipped: true,
        reason: `${kind === 'restore-point' ? 'restore point' : kind} already in progress`,
      });
    }
    throw err;
  }

  const operationId = operationIdOf(app, child.firstExecutionRunId);
  record({ operationId, phase: 'Running' });
  try {
    const status = (await child.result()) as Partial<OperationStatus> | undefined;
    return record({ operationId, phase: phaseOf(status?.phase, 'Completed') });
  } catch (err) {
    // Anything else (this run itself cancelled) fails the run; the memo still names the operation.
    if (!(err instanceof ChildWorkflowFailure)) throw err;
    return record({ operationId, ...outcomeOfFailure(err) });
  }
}

function phaseOf(value: unknown, otherwise: OperationPhase): OperationPhase {
  return OPERATION_PHASES.includes(value as OperationPhase) ? (value as OperationPhase) : otherwise;
}

/**
 * An operation workflow that ends in any phase but Completed fails with its status as the
 * failure's details (see failoverWorkflow's end()); one terminated, cancelled or timed out by
 * Temporal has none, and is reported as Failed with what happened to it.
 */
function outcomeOfFailure(err: ChildWorkflowFailure): { phase: OperationPhase; error: OperationError } {
  const cause = err.cause;
  if (cause instanceof TerminatedFailure) {
    return {
      phase: 'Failed',
      error: { code: 'workflow-terminated', message: 'the operation was terminated' },
    };
  }
  if (cause instanceof CancelledFailure) {
    return { phase: 'Failed', error: { code: 'workflow-cancelled', message: 'the operation was cancelled' } };
  }
  if (cause instanceof TimeoutFailure) {
    return { phase: 'Failed', error: { code: 'workflow-timed-out', message: 'the operation timed out' } };
  }
  const failure = cause as { type?: string | null; message?: string; details?: unknown[] } | undefined;
  const status = failure?.details?.[0] as Partial<OperationStatus> | undefined;
  return {
    phase: phaseOf(status?.phase, 'Failed'),
    error: status?.error ?? {
      code: failure?.type ?? 'failed',
      message: failure?.message ?? err.message,
    },
  };
}
