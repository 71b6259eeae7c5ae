import { Inject, Injectable, Logger } from '@nestjs/common';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import {
  CheckpointRefusedError,
  CheckpointsRepository,
} from '../../../infra/temporal/checkpoints.repository';
import { CHECKPOINT_REFUSALS, type CheckpointConfirmation } from '../../../workflows/custom-steps';
import { parseOperationId } from '../../../workflows/definitions';
import { ApiError, orUnavailable } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { CONFIG } from '../tokens';

/** Confirms the manual checkpoints of running operations (docs/custom-steps.md). */
@Injectable()
export class CheckpointsService {
  private readonly log = new Logger('checkpoints');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly checkpoints: CheckpointsRepository,
  ) {}

  /**
   * 404 operation-not-found / checkpoint-not-found; 409 checkpoint-not-waiting (not reached yet,
   * already confirmed, timed out, or the operation has ended).
   */
  async confirm(
    operationId: string,
    step: string,
    body: { reason: string },
    principal: Principal,
    requestId?: string,
  ): Promise<CheckpointConfirmation> {
    // An operation of an app another deployment serves (same namespace) is not found here.
    const parsed = parseOperationId(operationId);
    if (!parsed || !Object.hasOwn(this.config.apps, parsed.app)) {
      throw ApiError.notFound('operation-not-found', `no operation with id "${operationId}"`);
    }
    try {
      const confirmation = await orUnavailable(
        this.checkpoints.confirm(operationId, {
          step,
          reason: body.reason,
          principal: { name: principal.name, roles: principal.roles },
          requestId,
        }),
      );
      if (!confirmation) {
        throw ApiError.notFound('operation-not-found', `no operation with id "${operationId}"`);
      }
      this.log.log(`checkpoint ${step} of ${operationId} confirmed by ${confirmation.confirmedBy}`);
      return confirmation;
    } catch (err) {
      if (err instanceof CheckpointRefusedError) {
        const status = err.code === CHECKPOINT_REFUSALS.notFound ? 404 : 409;
        throw new ApiError(status, err.code, err.message, err.details);
      }
      throw err;
    }
  }
}
