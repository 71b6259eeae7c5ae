import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import {
  type BulkDeleteRestorePointsQuery,
  bulkDeleteRestorePointsQuerySchema,
  type DeleteRestorePointQuery,
  deleteRestorePointQuerySchema,
  listRestorePointsQuerySchema,
  type RestoreRequest,
  restoreRequestSchema,
  type TakeRestorePointRequest,
  takeRestorePointSchema,
  type VerifyRequest,
  verifyRequestSchema,
} from './restore-points.dto';
import { RestorePointsService } from './restore-points.service';
import { operationStartedSchema } from '../common/responses';
import {
  restorePointDeleteStartedSchema,
  restorePointListingSchema,
  restorePointSchema,
  restorePointStartedSchema,
} from './restore-points.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

@ApiTags('restore-points')
@ApiBearerAuth()
@Controller('v1')
export class RestorePointsController {
  constructor(private readonly restorePoints: RestorePointsService) {}

  @Get('apps/:app/restore-points')
  @Roles('viewer')
  @ApiOperation({
    summary: "An app's restore points, newest first, read from the manifests in every region's bucket",
    description:
      'Each item has its services (size, SHA-256, marker), its age and where its manifest is (`copies`). With a region unreachable the others answer and `regions` says which could not be read; 503 catalog-unavailable when none can. Soft-deleted ones are listed only with `include=deleted`, marked `deleted`.',
  })
  @ApiAnswers({ 200: restorePointListingSchema }, 404)
  @ApiQueryFrom(listRestorePointsQuerySchema)
  list(
    @Param('app') app: string,
    @Query(new ZodPipe(listRestorePointsQuerySchema, 'query'))
    q: z.output<typeof listRestorePointsQuerySchema>,
  ) {
    return this.restorePoints.list(app, { includeDeleted: q.include === 'deleted' });
  }

  @Post('apps/:app/restore-points')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Take a consistent restore point of every service of the app now',
    description: '202 {operationId, restorePointId}; 409 operation-in-progress while one is being taken.',
  })
  @ApiBody({ schema: jsonSchema(takeRestorePointSchema) })
  @ApiAnswers({ 202: restorePointStartedSchema }, 404, 409, 422)
  take(
    @Param('app') app: string,
    @Body(new ZodPipe(takeRestorePointSchema)) body: TakeRestorePointRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.restorePoints.take(app, body, req.principal!);
  }

  @Post('apps/:app/verifications')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: "Verify (and repair) every region's copy of the app's newest restore points now",
    description:
      'Every artifact and object is read through in every region (size, SHA-256) and compared with the manifest; a missing or corrupt copy is repaired from a region whose copy verified; a restore point with no good copy is marked unrecoverable. 202 {operationId}; 409 operation-in-progress while a verification runs.',
  })
  @ApiBody({ schema: jsonSchema(verifyRequestSchema) })
  @ApiAnswers({ 202: operationStartedSchema }, 404, 409, 422)
  verify(
    @Param('app') app: string,
    @Body(new ZodPipe(verifyRequestSchema)) body: VerifyRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.restorePoints.verify(app, body, req.principal!);
  }

  @Get('restore-points/:id')
  @Roles('viewer')
  @ApiOperation({
    summary: 'One restore point: services, artifacts, checksums, marker, age, copies per region',
  })
  @ApiAnswers({ 200: restorePointSchema }, 404)
  get(@Param('id') id: string) {
    return this.restorePoints.get(id);
  }

  @Delete('apps/:app/restore-points')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Soft-delete several restore points at once: those cut before olderThan, or the ids listed',
    description:
      'One restore-point-delete operation for all of them (one undo brings all back). Every guard rail applies to each, as if the older ones were deleted already; any refusal refuses all (409, details.refusals). Above softDelete.bulkApprovalThreshold the operation waits for approval under policies.approvals.restore-point-delete. 202 {operationId, restorePointIds, undoableUntil, awaitingApproval}; 422 nothing-to-delete.',
  })
  @ApiAnswers({ 202: restorePointDeleteStartedSchema }, 404, 409, 422)
  @ApiQueryFrom(bulkDeleteRestorePointsQuerySchema)
  removeMany(
    @Param('app') app: string,
    @Query(new ZodPipe(bulkDeleteRestorePointsQuerySchema, 'query')) q: BulkDeleteRestorePointsQuery,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.restorePoints.bulkSoftDelete(app, q, req.principal!);
  }

  @Delete('restore-points/:id')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Soft-delete a restore point: hidden at once, purged when the undo window ends',
    description:
      '202 {operationId, undoableUntil}; undo with POST /v1/operations/{id}/undo before then. 404 restore-point-not-found; 409 restore-point-already-deleted / restore-point-protected (the newest verified, or committed, one) / restore-point-in-rpo-window / restore-point-in-use.',
  })
  @ApiAnswers({ 202: restorePointDeleteStartedSchema }, 404, 409)
  @ApiQueryFrom(deleteRestorePointQuerySchema)
  remove(
    @Param('id') id: string,
    @Query(new ZodPipe(deleteRestorePointQuerySchema, 'query')) q: DeleteRestorePointQuery,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.restorePoints.softDelete(id, q, req.principal!);
  }

  @Post('apps/:app/restores')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Restore every service of the app from a restore point into a region',
    description:
      'Artifacts are verified (size, SHA-256) before any is used; services are restored in dependency order. Restoring into the active region waits for approval per `policies.approvals.restore`. 202 {operationId}; 404 restore-point-not-found; 422 unknown-region / restore-point-not-in-region; 409 operation-in-progress.',
  })
  @ApiBody({ schema: jsonSchema(restoreRequestSchema) })
  @ApiAnswers({ 202: operationStartedSchema }, 404, 409, 422)
  restore(
    @Param('app') app: string,
    @Body(new ZodPipe(restoreRequestSchema)) body: RestoreRequest,
    @Req() req: AuthenticatedRequest,
  ) {
    return this.restorePoints.restore(app, body, req.principal!);
  }
}
