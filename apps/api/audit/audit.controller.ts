import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import type { AuditStore } from '../../../infra/audit/audit.port';
import { AuditInputError } from '../../../infra/audit/sql-audit.store';
import { ApiError } from '../common/api-error';
import { Roles } from '../common/auth.guard';
import { ZodPipe } from '../common/zod.pipe';
import { safeName } from '../../../workflows/safe-text';
import { AUDIT_STORE } from '../tokens';

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
  @ApiQuery({ name: 'actor', required: false })
  @ApiQuery({ name: 'action', required: false })
  @ApiQuery({ name: 'target', required: false })
  @ApiQuery({ name: 'since', required: false })
  @ApiQuery({ name: 'until', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  @ApiQuery({ name: 'limit', required: false })
  async list(@Query(new ZodPipe(auditQuerySchema, 'query')) q: z.output<typeof auditQuerySchema>) {
    try {
      return await this.audit.list(q);
    } catch (err) {
      // The store refuses what it cannot read (a cursor it did not issue): the client's mistake.
      if (err instanceof AuditInputError) {
        const [field, ...rest] = err.message.split(': ');
        const path = `query.${field}`;
        const message = rest.join(': ') || err.message;
        throw ApiError.badRequest('validation-failed', `${path}: ${message}`, {
          issues: [{ path, message }],
        });
      }
      throw err;
    }
  }

  @Get('verify')
  @Roles('viewer')
  @ApiOperation({
    summary: 'Recompute the hash chain and compare it with the sealed segments in the buckets',
    description: 'ok:false names the first broken link (sequence and reason).',
  })
  verify() {
    return this.audit.verify();
  }
}
