import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { CONFIG } from '../tokens';
import { ApiError } from './api-error';

export type Role = 'viewer' | 'operator' | 'approver' | 'admin';

export interface Principal {
  name: string;
  roles: Role[];
}

export interface AuthenticatedRequest extends Request {
  principal?: Principal;
}

const ROLES_KEY = 'switchyard:roles';
const PUBLIC_KEY = 'switchyard:public';

/** Any one of these roles may call the route. `admin` may call every route. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
export const Public = () => SetMetadata(PUBLIC_KEY, true);

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Bearer tokens, compared by SHA-256 so that the configuration never holds a usable token.
 * 401 without valid credentials, 403 for a known principal without the route's role.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly tokens: { principal: Principal; digest: Buffer }[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(CONFIG) config: SwitchyardConfig,
  ) {
    this.tokens = config.auth.tokens.map((t) => ({
      principal: { name: t.principal, roles: t.roles },
      digest: Buffer.from(t.sha256, 'hex'),
    }));
  }

  canActivate(ctx: ExecutionContext): boolean {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    const digest = Buffer.from(sha256Hex(m[1]!), 'hex');
    const found = this.tokens.find((t) => timingSafeEqual(t.digest, digest));
    if (!found) throw new ApiError(401, 'unauthorized', 'unknown or revoked token');
    req.principal = found.principal;
    const needed = this.reflector.getAllAndOverride<Role[]>(ROLES_KEY, targets) ?? ['viewer'];
    const roles = found.principal.roles;
    if (
      roles.includes('admin') ||
      needed.some((r) => roles.includes(r)) ||
      (needed.includes('viewer') && roles.length > 0)
    ) {
      return true;
    }
    throw new ApiError(
      403,
      'forbidden',
      `${found.principal.name} lacks a role this needs: one of ${needed.join(', ')}`,
    );
  }
}
