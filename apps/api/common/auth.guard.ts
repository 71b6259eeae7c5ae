import { createHash, timingSafeEqual } from 'node:crypto';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { JwtVerifier, looksLikeJwt, OidcUnavailableError } from '../../../infra/auth/jwt.verifier';
import type { Role, TokenStore } from '../../../infra/auth/token.port';
import { CONFIG, JWT_VERIFIER, TOKEN_STORE } from '../tokens';
import { ApiError } from './api-error';

export type { Role };

export interface Principal {
  name: string;
  roles: Role[];
}

export interface AuthenticatedRequest extends Request {
  principal?: Principal;
  /** Set by the request-id middleware; echoed as X-Request-Id. */
  requestId?: string;
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
 * Bearer tokens: the bootstrap tokens of switchyard.yaml and those created with
 * `switchyard tokens create` (both compared by SHA-256, so no usable token is stored), or, when
 * `auth.oidc` is configured, JWTs from the organisation's identity provider.
 * 401 without valid credentials, 403 for a known principal without the route's role.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly tokens: { principal: Principal; digest: Buffer }[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(CONFIG) config: SwitchyardConfig,
    @Inject(TOKEN_STORE) private readonly tokenStore: TokenStore,
    @Inject(JWT_VERIFIER) private readonly jwt: JwtVerifier | null,
  ) {
    this.tokens = config.auth.tokens.map((t) => ({
      principal: { name: t.principal, roles: t.roles },
      digest: Buffer.from(t.sha256, 'hex'),
    }));
  }

  private async authenticate(token: string): Promise<Principal | null> {
    const digest = sha256Hex(token);
    const bytes = Buffer.from(digest, 'hex');
    const bootstrap = this.tokens.find((t) => timingSafeEqual(t.digest, bytes));
    if (bootstrap) return bootstrap.principal;
    const stored = await this.tokenStore.findActiveBySha256(digest);
    if (stored) return { name: stored.principal, roles: stored.roles };
    if (this.jwt && looksLikeJwt(token)) {
      try {
        const v = await this.jwt.verify(token);
        if (v) return { name: v.principal, roles: v.roles };
      } catch (err) {
        if (err instanceof OidcUnavailableError) {
          throw new ApiError(
            503,
            'identity-provider-unavailable',
            "the identity provider's keys could not be fetched",
          );
        }
        throw err;
      }
    }
    return null;
  }

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
    const principal = await this.authenticate(m[1]!);
    if (!principal) throw new ApiError(401, 'unauthorized', 'unknown, revoked or expired token');
    req.principal = principal;
    const needed = this.reflector.getAllAndOverride<Role[]>(ROLES_KEY, targets) ?? ['viewer'];
    const roles = principal.roles;
    // Reading needs any role but `monitor`: a monitor token reports region health and nothing else.
    if (
      roles.includes('admin') ||
      needed.some((r) => roles.includes(r)) ||
      (needed.includes('viewer') && roles.some((r) => r !== 'monitor'))
    ) {
      return true;
    }
    throw new ApiError(
      403,
      'forbidden',
      `${principal.name} lacks a role this needs: one of ${needed.join(', ')}`,
    );
  }
}
