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
import type { TokenStore } from '../../../infra/auth/token.port';
import { ApiError } from '../common/api-error';
import { type AuthenticatedRequest, Roles, sha256Hex } from '../common/auth.guard';
import { jsonSchema, ZodPipe } from '../common/zod.pipe';
import { reasonSchema } from '../operations/failover.dto';
import { TOKEN_STORE } from '../tokens';
import { tokenCreatedSchema, tokenListSchema, tokenRecordSchema } from './tokens.responses';
import { ApiAnswers, ApiQueryFrom } from '../common/openapi';

export const createTokenSchema = z
  .object({
    principal: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9._@-]{1,100}$/, 'expected a name: letters, digits, . _ @ -'),
    roles: z
      .array(z.enum(['viewer', 'operator', 'approver', 'admin', 'monitor']))
      .min(1, 'give at least one role'),
    reason: reasonSchema,
  })
  .strict();

const listQuerySchema = z
  .object({ includeRevoked: z.enum(['true', 'false'], { error: 'expected true or false' }).optional() })
  .strict();

const revokeQuerySchema = z.object({ reason: reasonSchema }).strict();

/** API tokens: created and revoked by admins; the token is shown once, only its SHA-256 is kept. */
@ApiTags('tokens')
@ApiBearerAuth()
@Controller('v1/tokens')
export class TokensController {
  constructor(@Inject(TOKEN_STORE) private readonly tokens: TokenStore) {}

  @Post()
  @HttpCode(201)
  @Roles('admin')
  @ApiOperation({ summary: 'Create a token (shown once in the answer)' })
  @ApiBody({ schema: jsonSchema(createTokenSchema) })
  @ApiAnswers({ 201: tokenCreatedSchema })
  async create(
    @Body(new ZodPipe(createTokenSchema)) body: z.output<typeof createTokenSchema>,
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: Response,
  ) {
    const token = `sy_${randomBytes(32).toString('base64url')}`;
    const record = await this.tokens.create({
      principal: body.principal,
      roles: body.roles,
      sha256: sha256Hex(token),
      createdBy: req.principal!.name,
    });
    res.locals.audit = {
      target: `token:${record.id}`,
      details: { principal: record.principal, roles: record.roles },
    };
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
