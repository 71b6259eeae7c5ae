import {
  ApplicationFailure,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  sleep,
  startChild,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  appSlotWorkflowId,
  coordinatorTaskQueue,
  operationIdOf,
  operationSearchAttributes,
  STATUS_MEMO_KEY,
} from './definitions';
import { initialOperationStatus, type OperationStatus, type RestorePointInput } from './operation';
import type { restorePointWorkflow } from './restore-point.workflow';

/**
 * Takes a restore point for a failover (its final one, or a failback's reprotect) as a child
 * operation in the app's `restore-point` slot: listed, audited and cleaned up like any other. When
 * another restore point (a scheduled one) holds the slot, waits for it to finish, then takes its
 * own: the one running may have been cut before the writes stopped.
 */

const POLL_MS = 1_000;

export async function takeRestorePoint(input: {
  app: string;
  taskQueuePrefix: string;
  requestedBy: string;
  operationId: string;
  reason: string;
  waitSeconds: number;
  onWaiting: (runningWorkflowRun: string) => void;
}): Promise<{ restorePointId: string; operationId: string }> {
  const { app } = input;
  const args: RestorePointInput = {
    app,
    spec: { reason: input.reason, trigger: 'failover', operationId: input.operationId },
    requestedBy: input.requestedBy,
    taskQueuePrefix: input.taskQueuePrefix,
  };
  const deadline = Date.now() + input.waitSeconds * 1000;
  for (;;) {
    try {
      const child = await startChild<typeof restorePointWorkflow>('restorePointWorkflow', {
        workflowId: appSlotWorkflowId(app, 'restore-point'),
        taskQueue: coordinatorTaskQueue(input.taskQueuePrefix),
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        // A cancelled failover lets its restore point finish (and release the services) on its own.
        parentClosePolicy: ParentClosePolicy.ABANDON,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        args: [args],
        memo: {
          [STATUS_MEMO_KEY]: initialOperationStatus(
            'restore-point',
            app,
            args.spec,
            args.requestedBy,
            new Date().toISOString(),
          ),
        },
        typedSearchAttributes: operationSearchAttributes(app, 'restore-point'),
      });
      const status: OperationStatus = await child.result();
      return {
        restorePointId: status.facts.restorePointId as string,
        operationId: operationIdOf(app, child.firstExecutionRunId),
      };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      if (Date.now() >= deadline) {
        throw ApplicationFailure.nonRetryable(
          `another restore point of app "${app}" held the restore-point slot for more than ${input.waitSeconds}s`,
          'restore-point-slot-busy',
        );
      }
      input.onWaiting(appSlotWorkflowId(app, 'restore-point'));
      await sleep(POLL_MS);
    }
  }
}
