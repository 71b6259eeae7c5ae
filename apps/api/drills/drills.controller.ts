import { Body, Controller, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { type DrillRequest, drillRequestSchema } from './drills.dto';
import { DrillsService } from './drills.service';
import { operationStartedSchema } from '../common/responses';
import { ApiAnswers } from '../common/openapi';

@ApiTags('drills')
@ApiBearerAuth()
@Controller('v1')
export class DrillsController {
  constructor(private readonly drills: DrillsService) {}

  @Post('apps/:app/drills')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary:
      'Rehearse a failover in the scratch places of a standby region, never touching live DNS or the active region',
    description:
      'Restores the newest verified restore point into the scratch places of `drills.region` (default: the first standby), starts the app there, runs `checks`, measures RTO and RPO, cleans up; the drill report is `facts.report` of GET /v1/operations/{id} (docs/drills.md). 202 {operationId}; 422 no-services / no-scratch-place; 409 scratch-region-is-active / operation-in-progress.',
  })
  @ApiBody({ schema: jsonSchema(drillRequestSchema) })
  @ApiAnswers({ 202: operationStartedSchema }, 404, 409, 422)
  start(
    @Param('app') app: string,
    @Body(new ZodPipe(drillRequestSchema)) body: DrillRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.drills.start(app, body, req.principal!);
  }
}
