import { Body, Controller, Delete, HttpCode, Param, Put, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { z } from 'zod';
import { type AuthenticatedRequest, Roles } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import {
  deleteDnsRecordQuerySchema,
  type OverrideDnsRecordRequest,
  overrideDnsRecordSchema,
} from './dns-records.dto';
import { DnsRecordsService } from './dns-records.service';
import { softChangeStartedSchema } from '../common/responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

/** The audit event of each call names the record it acted on. */
function audited(res: Response, app: string, name: string, details: Record<string, unknown> = {}): void {
  res.locals.audit = { target: `dns-record:${app}/${name}`, details: { app, name, ...details } };
}

/**
 * Soft DNS changes (docs/soft-deletes.md, DNS records): remove one of an app's DNS records, or point
 * one at a region now; both are operations undoable until their window ends.
 */
@ApiTags('apps')
@ApiBearerAuth()
@Controller('v1/apps/:app/dns-records')
export class DnsRecordsController {
  constructor(private readonly records: DnsRecordsService) {}

  @Delete(':name')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary:
      "Remove one of the app's DNS records: hidden and removed from its providers now, final when the undo window ends",
    description:
      'Starts a `dns-record-delete` operation; answers `{operationId, undoableUntil, awaitingApproval}`. Undo with POST /v1/operations/{id}/undo. 404 dns-record-not-found; 409 dns-record-already-deleted (details.operationId) / operation-in-progress.',
  })
  @ApiAnswers({ 202: softChangeStartedSchema }, 404, 409)
  @ApiQueryFrom(deleteDnsRecordQuerySchema)
  remove(
    @Param('app') app: string,
    @Param('name') name: string,
    @Query(new ZodPipe(deleteDnsRecordQuerySchema, 'query')) q: z.output<typeof deleteDnsRecordQuerySchema>,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name);
    return this.records.remove(app, name, q.reason, req.principal!);
  }

  @Put(':name')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary:
      "Override where one of the app's DNS records points: the region's address now, undoable until the window ends",
    description:
      "Starts a `dns-override` operation writing one simple record set (dns.ttl, the region's dns.target) on every provider of the record; answers `{operationId, undoableUntil, awaitingApproval}`. 404 dns-record-not-found; 422 unknown-region; 409 region-halted / region-removed / dns-record-deleted / operation-in-progress.",
  })
  @ApiBody({ schema: jsonSchema(overrideDnsRecordSchema) })
  @ApiAnswers({ 202: softChangeStartedSchema }, 404, 409, 422)
  override(
    @Param('app') app: string,
    @Param('name') name: string,
    @Body(new ZodPipe(overrideDnsRecordSchema)) body: OverrideDnsRecordRequest,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    audited(res, app, name, { region: body.region });
    return this.records.override(app, name, body, req.principal!);
  }
}
