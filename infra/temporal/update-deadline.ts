import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import {
  type Client,
  isGrpcServiceError,
  type WorkflowClientInterceptor,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
} from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type UpdateDefinition } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { UPDATE_DEADLINE_PASSED, UPDATE_NOT_AFTER_HEADER } from '../../workflows/update-deadline';

/**
 * Every Update the API sends has a deadline (docs/temporal-security.md#update-deadlines). Without
 * one, an Update to a workflow that no worker polls waits for ever. At the deadline the API stops
 * waiting and says what is true: not applied (and the workflow refuses it if a worker takes it
 * later), applied after all, or unknown.
 */

/** What is known of an Update at its deadline. */
export type UpdateOutcome = 'not-applied' | 'accepted' | 'unknown';

/** No worker took the Update in time (`not-applied`), or its fate cannot be known (`unknown`), or it is accepted but unfinished. */
export class UpdateNotTakenError extends Error {
  override name = 'UpdateNotTakenError';
  constructor(
    readonly code: 'worker-unavailable' | 'update-outcome-unknown' | 'update-unfinished',
    message: string,
    readonly details: { outcome: UpdateOutcome; timeoutSeconds: number; updateId: string; notAfter: string },
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** How long the check of an Update's stage after its deadline may take. */
const STAGE_CHECK_MS = 3_000;

const timeouts = new WeakMap<Client, number>();
const notAfterOfCall = new AsyncLocalStorage<number>();

/** Records the Update deadline of a client (temporal.updateTimeoutSeconds). */
export function setUpdateTimeout(client: Client, ms: number): void {
  timeouts.set(client, ms);
}

/**
 * Puts the deadline of the Update being sent into its headers, for the workflow's refusal of a late
 * one (workflows/update-deadline.ts). In clear: codecs see no Update headers, on either side, and
 * a time is no secret.
 */
export function updateDeadlineInterceptor(): WorkflowClientInterceptor {
  return {
    startUpdate(input, next) {
      const notAfter = notAfterOfCall.getStore();
      if (notAfter === undefined) return next(input);
      const header = defaultPayloadConverter.toPayload(notAfter);
      return next({ ...input, headers: { ...input.headers, [UPDATE_NOT_AFTER_HEADER]: header } });
    },
  };
}

/**
 * Sends an Update and waits for its result, each stage bounded by the client's update timeout.
 * Throws UpdateNotTakenError when the deadline passes; everything else (refusals, a closed
 * workflow) as the SDK throws it.
 */
export async function executeUpdateWithin<Ret, Arg, Name extends string>(
  client: Client,
  target: { workflowId: string; runId?: string },
  def: UpdateDefinition<Ret, [Arg], Name>,
  arg: Arg,
): Promise<Ret> {
  const timeoutMs = timeouts.get(client) ?? DEFAULT_TIMEOUT_MS;
  const updateId = randomUUID();
  const notAfter = Date.now() + timeoutMs;
  const details = (outcome: UpdateOutcome) => ({
    outcome,
    timeoutSeconds: timeoutMs / 1000,
    updateId,
    notAfter: new Date(notAfter).toISOString(),
  });
  const handle = client.workflow.getHandle(target.workflowId, target.runId);
  const late = (err: unknown) =>
    err instanceof WorkflowUpdateFailedError &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === UPDATE_DEADLINE_PASSED;

  let accepted = false;
  try {
    const update = await notAfterOfCall.run(notAfter, () =>
      client.withDeadline(notAfter, () =>
        handle.startUpdate(def, { args: [arg], updateId, waitForStage: WorkflowUpdateStage.ACCEPTED }),
      ),
    );
    accepted = true;
    return await client.withDeadline(Date.now() + timeoutMs, () => update.result());
  } catch (err) {
    if (late(err)) {
      throw new UpdateNotTakenError(
        'worker-unavailable',
        `no worker took the update within ${timeoutMs / 1000} s; it was not applied (the workflow refused it when it arrived late)`,
        details('not-applied'),
      );
    }
    if (!(err instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) throw err;
    const { stage, why } = accepted
      ? { stage: 'accepted' as const, why: undefined }
      : await stageAfterDeadline(client, target, updateId, notAfter);
    if (stage === 'accepted') {
      // It counts: give its result if it is there by now, else say it is on its way.
      try {
        return await client.withDeadline(Date.now() + STAGE_CHECK_MS, () =>
          handle.getUpdateHandle<Ret>(updateId, { workflowRunId: target.runId }).result(),
        );
      } catch (again) {
        if (!(again instanceof WorkflowUpdateRPCTimeoutOrCancelledError)) throw again;
        throw new UpdateNotTakenError(
          'update-unfinished',
          `the workflow accepted the update but did not finish it within ${timeoutMs / 1000} s; it takes effect when a worker finishes it (update ${updateId})`,
          details('accepted'),
        );
      }
    }
    if (stage === 'not-applied') {
      throw new UpdateNotTakenError(
        'worker-unavailable',
        `no worker took the update within ${timeoutMs / 1000} s; it was not applied, and the workflow refuses it if a worker takes it later`,
        details('not-applied'),
      );
    }
    throw new UpdateNotTakenError(
      'update-outcome-unknown',
      `no answer within ${timeoutMs / 1000} s and the update's fate cannot be known yet (${why ?? 'no answer'}): read the operation before sending it again (update ${updateId})`,
      details('unknown'),
    );
  }
}

const Stage = temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage;
const PendingTaskState = temporal.api.enums.v1.PendingWorkflowTaskState;

/**
 * Where an Update stands after its deadline passed unaccepted. Admitted but not accepted means
 * not applied: the workflow refuses it once delivered, unless a workflow task that started before
 * the deadline (and so may accept it) is still running — then unknown.
 */
async function stageAfterDeadline(
  client: Client,
  target: { workflowId: string; runId?: string },
  updateId: string,
  notAfter: number,
): Promise<{ stage: UpdateOutcome; why?: string }> {
  try {
    return await client.withDeadline(Date.now() + STAGE_CHECK_MS, async () => {
      let stage: number;
      try {
        const res = await client.workflowService.pollWorkflowExecutionUpdate({
          namespace: client.options.namespace,
          updateRef: { workflowExecution: { workflowId: target.workflowId, runId: target.runId }, updateId },
          identity: client.options.identity,
          waitPolicy: { lifecycleStage: Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED },
        });
        stage = res.stage ?? Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_UNSPECIFIED;
      } catch (err) {
        // Never admitted: there is nothing for a worker to take.
        if (isGrpcServiceError(err) && err.code === 5) return { stage: 'not-applied' as const };
        throw err;
      }
      if (stage >= Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED)
        return { stage: 'accepted' as const };
      const d = await client.workflowService.describeWorkflowExecution({
        namespace: client.options.namespace,
        execution: { workflowId: target.workflowId, runId: target.runId },
      });
      const task = d.pendingWorkflowTask;
      const started = task?.startedTime?.seconds ? Number(task.startedTime.seconds) * 1000 : undefined;
      if (task?.state === PendingTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED && (started ?? 0) <= notAfter)
        return {
          stage: 'unknown' as const,
          why: `a worker took a workflow task at ${new Date(started ?? 0).toISOString()}, before the deadline, and has not finished it`,
        };
      return { stage: 'not-applied' as const };
    });
  } catch (err) {
    return { stage: 'unknown', why: `its stage could not be read: ${(err as Error).message}` };
  }
}
