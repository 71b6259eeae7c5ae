import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { AuditStore } from '../../../infra/audit/audit.port';
import { AuditInputError } from '../../../infra/audit/sql-audit.store';
import { ApiError } from '../common/api-error';
import { Roles } from '../common/auth.guard';
import { ZodPipe } from '../common/zod.pipe';
import { safeName } from '../../../workflows/safe-text';
import { AUDIT_STORE } from '../tokens';
import { auditPageSchema, auditVerificationSchema } from './audit.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

const isoTime = z.iso.datetime({
  offset: true,
  error: 'expected an ISO 8601 time, e.g. 2026-11-22T10:00:00Z',
});

export const auditQuerySchema = z
  .object({
    actor: safeName().optional(),
    action: safeName().optional(),
    target: safeName().optional(),
    since: isoTime.optional(),
    until: isoTime.optional(),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a cursor from a previous page')
      .optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

@ApiTags('audit')
@ApiBearerAuth()
@Controller('v1/audit')
export class AuditController {
  constructor(@Inject(AUDIT_STORE) private readonly audit: AuditStore) {}

  @Get()
  @Roles('viewer')
  @ApiOperation({ summary: 'Audit events, oldest first, filtered; page with nextCursor' })
  @ApiAnswers({ 200: auditPageSchema })
  @ApiQueryFrom(auditQuerySchema)
  async list(@Query(new ZodPipe(auditQuerySchema, 'query')) q: z.output<typeof auditQuerySchema>) {
    try {
      return await this.audit.list(q);
    } catch (err) {
      // The store refuses what only it can check (a cursor it did not give out): the caller's fault.
      if (!(err instanceof AuditInputError)) throw err;
      const [field, ...rest] = err.message.split(': ');
      const path = `query.${field}`;
      const message = rest.join(': ') || err.message;
      throw ApiError.badRequest('validation-failed', `${path}: ${message}`, { issues: [{ path, message }] });
    }
  }

  @Get('verify')
  @Roles('viewer')
  @ApiOperation({
    summary: 'Recompute the hash chain and compare it with the sealed segments in the buckets',
    description: 'ok:false names the first broken link (sequence and reason).',
  })
  @ApiAnswers({ 200: auditVerificationSchema })
  verify() {
    return this.audit.verify();
  }
}
