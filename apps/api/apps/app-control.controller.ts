import { Body, Controller, Delete, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { type OverrideRequest, overrideRequestSchema, removeRegionQuerySchema } from './app-control.dto';
import { AppControlService } from './app-control.service';
import { softChangeStartedSchema } from '../common/responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

/**
 * Soft, undoable changes of an app's control state (docs/soft-deletes.md, docs/fencing.md#overrides):
 * removing a region, and an operator's override (halt, unhalt, set-active). Each answers 202 with
 * its operation; `POST /v1/operations/{id}/undo` takes it back within the window.
 */
@ApiTags('apps')
@ApiBearerAuth()
@Controller('v1/apps/:app')
export class AppControlController {
  constructor(private readonly control: AppControlService) {}

  @Delete('regions/:region')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary:
      'Remove a region from an app: hidden and never a target at once, final when the undo window ends',
    description:
      'Starts a `region-remove` operation: 202 {operationId, undoableUntil, awaitingApproval}. 404 region-not-found; 409 region-active / region-writer / last-standby / region-already-removed / operation-in-progress.',
  })
  @ApiAnswers({ 202: softChangeStartedSchema }, 404, 409)
  @ApiQueryFrom(removeRegionQuerySchema)
  removeRegion(
    @Param('app') app: string,
    @Param('region') region: string,
    @Query(new ZodPipe(removeRegionQuerySchema, 'query')) q: z.output<typeof removeRegionQuerySchema>,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    res.locals.audit = { details: { app, region } };
    return this.control.removeRegion(app, region, q.reason, req.principal!);
  }

  @Post('overrides')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: "Override the app's control state by hand: halt, unhalt or set-active a region",
    description:
      'Starts a `control-override` operation, applied at once (unhalt and set-active wait for policies.approvals.control-override first): 202 {operationId, undoableUntil, awaitingApproval}. 422 unknown-region; 409 override-no-op / region-halted / region-removed / operation-in-progress.',
  })
  @ApiBody({ schema: jsonSchema(overrideRequestSchema) })
  @ApiAnswers({ 202: softChangeStartedSchema }, 404, 409, 422)
  override(
    @Param('app') app: string,
    @Body(new ZodPipe(overrideRequestSchema)) body: OverrideRequest,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    res.locals.audit = { details: { app, action: body.action, region: body.region } };
    return this.control.override(app, body, req.principal!);
  }
}
