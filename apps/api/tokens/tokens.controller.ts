import { randomBytes } from 'node:crypto';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { principalNameProblem } from '../../../infra/auth/reserved-principals';
import type { TokenStore } from '../../../infra/auth/token.port';
import { monitoringVantagePoints, type SwitchyardConfig } from '../../../infra/config/config.schema';
import { ApiError } from '../common/api-error';
import { type AuthenticatedRequest, Roles, sha256Hex } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { reasonSchema } from '../operations/failover.dto';
import { CONFIG, TOKEN_STORE } from '../tokens';
import { tokenCreatedSchema, tokenListSchema, tokenRecordSchema } from './tokens.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

export const createTokenSchema = z
  .object({
    principal: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9._@:-]{1,100}$/, 'expected a name: letters, digits, . _ @ : -'),
    roles: z
      .array(z.enum(['viewer', 'operator', 'approver', 'admin', 'monitor']))
      .min(1, 'give at least one role'),
    /** A monitor token's vantage point: the only one it may report for. */
    vantage: z.string().min(1).max(40).optional(),
    reason: reasonSchema,
  })
  .strict()
  .refine((b) => !b.roles.includes('monitor') || b.vantage !== undefined, {
    message: 'a monitor token names its vantage point (vantage), so it cannot speak for the others',
    path: ['vantage'],
  })
  .refine((b) => b.vantage === undefined || b.roles.includes('monitor'), {
    message: 'only a monitor token names a vantage point',
    path: ['vantage'],
  });

const listQuerySchema = z
  .object({ includeRevoked: z.enum(['true', 'false'], { error: 'expected true or false' }).optional() })
  .strict();

const revokeQuerySchema = z.object({ reason: reasonSchema }).strict();

/** API tokens: created and revoked by admins; the token is shown once, only its SHA-256 is kept. */
@ApiTags('tokens')
@ApiBearerAuth()
@Controller('v1/tokens')
export class TokensController {
  private readonly configured: string[];
  private readonly vantagePoints: Set<string>;

  constructor(
    @Inject(TOKEN_STORE) private readonly tokens: TokenStore,
    @Inject(CONFIG) config: SwitchyardConfig,
  ) {
    this.configured = config.auth.tokens.map((t) => t.principal);
    this.vantagePoints = new Set(Object.values(config.apps).flatMap((a) => monitoringVantagePoints(a)));
  }

  @Post()
  @HttpCode(201)
  @Roles('admin')
  @ApiOperation({
    summary: 'Create a token (shown once in the answer)',
    description:
      "422 reserved-principal for system, system:*, anonymous and monitor:*; 409 principal-from-configuration for a principal of switchyard.yaml's auth.tokens; 422 unknown-vantage-point for a monitor token whose vantage is in no app's quorum (docs/security.md).",
  })
  @ApiBody({ schema: jsonSchema(createTokenSchema) })
  @ApiAnswers({ 201: tokenCreatedSchema }, 409, 422)
  async create(
    @Body(new ZodPipe(createTokenSchema)) body: z.output<typeof createTokenSchema>,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const problem = principalNameProblem(body.principal, this.configured);
    if (problem) {
      throw new ApiError(problem.code === 'reserved-principal' ? 422 : 409, problem.code, problem.message, {
        principal: body.principal,
      });
    }
    if (body.vantage !== undefined && !this.vantagePoints.has(body.vantage)) {
      throw ApiError.unprocessable(
        'unknown-vantage-point',
        `"${body.vantage}" is not a vantage point of any app (monitoring.vantagePoints, else the region names)`,
        { vantagePoints: [...this.vantagePoints].sort() },
      );
    }
    const token = `sy_${randomBytes(32).toString('base64url')}`;
    const record = await this.tokens.create({
      principal: body.principal,
      roles: body.roles,
      sha256: sha256Hex(token),
      createdBy: req.principal!.name,
      ...(body.vantage !== undefined ? { vantage: body.vantage } : {}),
    });
    res.locals.audit = {
      target: `token:${record.id}`,
      details: { principal: record.principal, roles: record.roles, vantage: record.vantage },
    };
    // The only answer that ever holds the token: no cache, proxy or browser may keep it.
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    return { ...record, token };
  }

  @Get()
  @Roles('admin')
  @ApiOperation({ summary: 'List tokens (never the tokens themselves)' })
  @ApiAnswers({ 200: tokenListSchema })
  @ApiQueryFrom(listQuerySchema)
  async list(@Query(new ZodPipe(listQuerySchema, 'query')) q: z.output<typeof listQuerySchema>) {
    return { items: await this.tokens.list({ includeRevoked: q.includeRevoked === 'true' }) };
  }

  @Delete(':id')
  @Roles('admin')
  @ApiOperation({ summary: 'Revoke a token at once' })
  @ApiAnswers({ 200: tokenRecordSchema }, 404)
  @ApiQueryFrom(revokeQuerySchema)
  async revoke(
    @Param('id') id: string,
    @Query(new ZodPipe(revokeQuerySchema, 'query')) _q: z.output<typeof revokeQuerySchema>,
    @Req() req: AuthenticatedRequest,
  ) {
    const record = await this.tokens.revoke(id, req.principal!.name);
    if (!record) throw ApiError.notFound('token-not-found', `no token with id "${id}"`);
    return record;
  }
}
