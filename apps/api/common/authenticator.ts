import { timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { JwtVerifier, looksLikeJwt, OidcUnavailableError } from '../../../infra/auth/jwt.verifier';
import type { Role, TokenStore } from '../../../infra/auth/token.port';
import { CONFIG, JWT_VERIFIER, TOKEN_STORE } from '../tokens';
import { ApiError } from './api-error';
import { type AuthenticatedRequest, type Principal, sha256Hex } from './principal';

const IDENTIFIED = Symbol('switchyard:identified');

type IdentifiedRequest = AuthenticatedRequest & {
  [IDENTIFIED]?: Promise<void>;
  /** Why the request has no principal: an error to answer on a route that needs one. */
  authFailure?: ApiError;
};

/**
 * Finds out who sent a request, once per request: the rate limiter needs it before the route's
 * guard does (a principal has its own budget, a source without valid credentials shares one).
 * Bearer tokens: the bootstrap tokens of switchyard.yaml and the tokens created with `switchyard
 * tokens create` (both compared by SHA-256, so no usable token is stored), or, when `auth.oidc` is
 * configured, JWTs from the organisation's identity provider.
 */
@Injectable()
export class Authenticator {
  private readonly bootstrap: { principal: Principal; digest: Buffer }[];

  constructor(
    @Inject(CONFIG) config: SwitchyardConfig,
    @Inject(TOKEN_STORE) private readonly tokenStore: TokenStore,
    @Inject(JWT_VERIFIER) private readonly jwt: JwtVerifier | null,
  ) {
    this.bootstrap = config.auth.tokens.map((t, i) => ({
      principal: {
        name: t.principal,
        roles: t.roles,
        credential: `bootstrap:${i}`,
        ...(t.vantage ? { vantage: t.vantage } : {}),
      },
      digest: Buffer.from(t.sha256, 'hex'),
    }));
  }

  /** Sets `req.principal`, or `req.authFailure` saying why there is none. */
  identify(req: AuthenticatedRequest): Promise<void> {
    const r = req as IdentifiedRequest;
    r[IDENTIFIED] ??= this.run(r);
    return r[IDENTIFIED];
  }

  /** The error to answer when a route needs a principal and the request has none. */
  failure(req: AuthenticatedRequest): ApiError {
    return (
      (req as IdentifiedRequest).authFailure ??
      new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)')
    );
  }

  private async run(req: IdentifiedRequest): Promise<void> {
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) {
      req.authFailure = new ApiError(
        401,
        'unauthorized',
        'missing bearer token (Authorization: Bearer <token>)',
      );
      return;
    }
    try {
      const principal = await this.authenticate(m[1]!);
      if (principal) req.principal = principal;
      else req.authFailure = new ApiError(401, 'unauthorized', 'unknown, revoked or expired token');
    } catch (err) {
      if (err instanceof OidcUnavailableError) {
        req.authFailure = new ApiError(
          503,
          'identity-provider-unavailable',
          "the identity provider's keys could not be fetched",
        );
        return;
      }
      throw err;
    }
  }

  private async authenticate(token: string): Promise<Principal | null> {
    const digest = sha256Hex(token);
    const bytes = Buffer.from(digest, 'hex');
    const bootstrap = this.bootstrap.find((t) => timingSafeEqual(t.digest, bytes));
    if (bootstrap) return bootstrap.principal;
    const stored = await this.tokenStore.findActiveBySha256(digest);
    if (stored) {
      return {
        name: stored.principal,
        roles: stored.roles,
        credential: `token:${stored.id}`,
        ...(stored.vantage ? { vantage: stored.vantage } : {}),
      };
    }
    if (this.jwt && looksLikeJwt(token)) {
      const v = await this.jwt.verify(token);
      if (v) {
        return {
          name: v.principal,
          roles: v.roles as Role[],
          credential: `oidc:${v.issuer}#${v.subject}`,
          ...(v.vantage ? { vantage: v.vantage } : {}),
        };
      }
    }
    return null;
  }
}
