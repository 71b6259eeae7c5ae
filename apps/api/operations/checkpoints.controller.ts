import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { CheckpointsService } from './checkpoints.service';
import { reasonSchema } from './failover.dto';
import { checkpointConfirmationSchema } from './operations.responses';
import { ApiAnswers } from '../common/openapi';

export const confirmCheckpointSchema = z.object({ reason: reasonSchema }).strict();
export type ConfirmCheckpointBody = z.output<typeof confirmCheckpointSchema>;

@ApiTags('operations')
@ApiBearerAuth()
@Controller('v1')
export class CheckpointsController {
  constructor(private readonly checkpoints: CheckpointsService) {}

  @Post('operations/:id/checkpoints/:step/confirm')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({
    summary: 'Confirm a manual checkpoint the operation is waiting at (operator or admin)',
    description:
      'The operation goes on past the checkpoint; the confirmation (who, reason) is on the operation (facts.checkpoints) and in the audit log (checkpoint.confirmed). 200 {operationId, step, confirmedBy, reason, confirmedAt}; 404 operation-not-found / checkpoint-not-found; 409 checkpoint-not-waiting.',
  })
  @ApiBody({ schema: jsonSchema(confirmCheckpointSchema) })
  @ApiAnswers({ 200: checkpointConfirmationSchema }, 404, 409)
  confirm(
    @Param('id') id: string,
    @Param('step') step: string,
    @Body(new ZodPipe(confirmCheckpointSchema)) body: ConfirmCheckpointBody,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.checkpoints.confirm(id, step, body, req.principal!, req.requestId);
  }
}
