import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  CHECKPOINT_REFUSALS,
  type CheckpointConfirmation,
  type ConfirmCheckpointRequest,
  confirmCheckpointUpdate,
} from '../../workflows/custom-steps';
import type { OperationsRepository } from './operations.repository';
import { executeUpdateWithin, UpdateNotTakenError } from './update-deadline';

/** The workflow refused a confirmation; `code` is one of CHECKPOINT_REFUSALS. */
export class CheckpointRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CheckpointRefusedError';
  }
}

/** Checkpoints of running operations (docs/custom-steps.md), confirmed through the `confirmCheckpoint` Update. */
export class CheckpointsRepository {
  constructor(
    private readonly client: () => Promise<Client>,
    private readonly operations: OperationsRepository,
  ) {}

  /**
   * Sends an operator's confirmation; the workflow's validator decides. Null when there is no
   * such operation; CheckpointRefusedError when the step is not a checkpoint of it or not waiting.
   */
  async confirm(operationId: string, req: ConfirmCheckpointRequest): Promise<CheckpointConfirmation | null> {
    const id = await this.operations.locate(operationId);
    if (!id) return null;
    const client = await this.client();
    try {
      return await executeUpdateWithin(client, id, confirmCheckpointUpdate, req);
    } catch (err) {
      if (err instanceof UpdateNotTakenError) throw err;
      const refusal = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (
        refusal instanceof ApplicationFailure &&
        Object.values<string>(CHECKPOINT_REFUSALS).includes(refusal.type ?? '')
      ) {
        throw new CheckpointRefusedError(
          refusal.type!,
          refusal.message,
          refusal.details?.[0] as Record<string, unknown> | undefined,
        );
      }
      // Closed, or an operation without checkpoints: its own record says what is there.
      const op = await this.operations.get(operationId);
      if (!op) return null;
      const step = op.steps.find((s) => s.name === req.step);
      if (!step) {
        throw new CheckpointRefusedError(
          CHECKPOINT_REFUSALS.notFound,
          `operation ${operationId} has no step named "${req.step}"`,
        );
      }
      throw new CheckpointRefusedError(
        CHECKPOINT_REFUSALS.notWaiting,
        `step "${req.step}" is not waiting for a confirmation (step ${step.status}, operation ${op.phase})`,
        { stepStatus: step.status, phase: op.phase },
      );
    }
  }
}
