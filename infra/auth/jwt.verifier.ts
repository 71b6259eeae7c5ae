import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { z } from 'zod';
import type { Role } from './token.port';

/**
 * Bearer tokens issued by an organisation's identity provider (OIDC access tokens or any JWT signed
 * with keys published as a JWKS). Optional: configured as `auth.oidc` in switchyard.yaml. The API
 * tries this verifier for tokens that look like a JWT and the token store for the others.
 *
 * The token never appears in a log line or an error: a bearer token is a credential.
 */

const ROLES = ['viewer', 'operator', 'approver', 'admin', 'monitor'] as const satisfies readonly Role[];

/** Asymmetric algorithms only: a JWKS publishes public keys, so HS* (and `none`) make no sense. */
export const OIDC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

// The keys decide who may act; fetching them over plain HTTP lets anyone on the path mint tokens.
const keyServerUrl = z
  .string()
  .url('expected a URL')
  .refine((u) => {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
  }, 'expected an https:// URL (http:// is accepted only on loopback)');

const claimPath = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'expected a claim name or a dotted path such as realm_access.roles');

export const oidcSchema = z
  .object({
    /** Must equal the tokens' `iss` claim exactly (trailing slash included). */
    issuer: keyServerUrl,
    /** Must be one of the tokens' `aud` values. */
    audience: z.string().min(1, 'must not be empty'),
    /** Defaults to `<issuer>/.well-known/jwks.json`; take `jwks_uri` from the IdP's discovery document. */
    jwksUrl: keyServerUrl.optional(),
    principalClaim: claimPath.default('sub'),
    rolesClaim: claimPath.default('roles'),
    /**
     * For monitors with IdP tokens: the claim naming the token's vantage point (a string). A token
     * mapped to `monitor` reports only for that vantage point, and without the claim for none.
     */
    vantageClaim: claimPath.optional(),
    /** Claim value (a group, a role, a scope) → Switchyard roles. Unmapped values are ignored. */
    roleMapping: z
      .record(z.string().min(1), z.array(z.enum(ROLES)).min(1, 'map the value to at least one role'))
      .refine((m) => Object.keys(m).length > 0, 'map at least one claim value to roles'),
    algorithms: z.array(z.enum(OIDC_ALGORITHMS)).min(1).default(['RS256', 'ES256']),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
  })
  .strict()
  .transform((c) => ({
    ...c,
    jwksUrl: c.jwksUrl ?? `${c.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
  }));

export type OidcConfigInput = z.input<typeof oidcSchema>;
export type OidcConfig = z.output<typeof oidcSchema>;

export interface VerifiedPrincipal {
  principal: string;
  /** Empty when the token is valid but none of its claim values is mapped: the caller answers 403. */
  roles: Role[];
  /** The token's `iss` and `sub`: which credential it was, recorded with approvals. */
  issuer: string;
  subject: string;
  /** The `vantageClaim`'s value, when configured and a non-empty string. */
  vantage?: string;
}

/** The identity provider's keys could not be fetched: the caller answers 503, not 401. */
export class OidcUnavailableError extends Error {
  override name = 'OidcUnavailableError';
}

export interface JwtVerifierDeps {
  fetch?: typeof fetch;
  logger?: { debug(obj: object, msg: string): void };
  /** How long after a fetch an unknown `kid` may trigger another one (jose's default: 30 s). */
  jwksCooldownMs?: number;
  jwksTimeoutMs?: number;
}

/** Three non-empty base64url parts: a compact JWS. Opaque API tokens have no dots. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

// jose errors that mean "this token is not acceptable"; anything else (JWKS unreachable, not
// 200, not JSON, malformed set) is a fault on our side or the IdP's and must not become a 401.
const BAD_TOKEN_CODES = new Set<string>([
  errors.JWTClaimValidationFailed.code,
  errors.JWTExpired.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
]);

export class JwtVerifier {
  private readonly cfg: OidcConfig;
  private readonly keys: JWTVerifyGetKey;

  /** Throws (a ZodError) when the configuration is invalid. */
  constructor(
    cfg: OidcConfigInput,
    private readonly deps: JwtVerifierDeps = {},
  ) {
    this.cfg = oidcSchema.parse(cfg);
    const fetchImpl = deps.fetch;
    this.keys = createRemoteJWKSet(new URL(this.cfg.jwksUrl), {
      ...(deps.jwksCooldownMs !== undefined ? { cooldownDuration: deps.jwksCooldownMs } : {}),
      ...(deps.jwksTimeoutMs !== undefined ? { timeoutDuration: deps.jwksTimeoutMs } : {}),
      ...(fetchImpl ? { [customFetch]: (url: string, init: RequestInit) => fetchImpl(url, init) } : {}),
    });
  }

  /**
   * The principal and roles of a valid token; null for anything that is not a valid, unexpired JWT
   * from this issuer for this audience. Throws OidcUnavailableError only when the keys cannot be had.
   */
  async verify(token: string): Promise<VerifiedPrincipal | null> {
    if (!looksLikeJwt(token)) return this.reject('malformed');
    // A cheap look before any key fetch: tokens of other issuers must not make us call the IdP.
    let claimed: JWTPayload;
    try {
      claimed = decodeJwt(token);
    } catch {
      return this.reject('malformed');
    }
    if (claimed.iss !== this.cfg.issuer) return this.reject('other-issuer');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        algorithms: [...this.cfg.algorithms],
        clockTolerance: this.cfg.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JOSEError && BAD_TOKEN_CODES.has(err.code)) return this.reject(err.code);
      const reason = err instanceof errors.JOSEError ? err.code : describeFetchError(err);
      throw new OidcUnavailableError(
        `cannot fetch the identity provider's keys (${this.keysAt()}): ${reason}`,
        {
          cause: err,
        },
      );
    }

    const principal = readClaim(payload, this.cfg.principalClaim);
    if (typeof principal !== 'string' || principal === '') return this.reject('no-principal-claim');
    const vantage = this.cfg.vantageClaim ? readClaim(payload, this.cfg.vantageClaim) : undefined;
    return {
      principal,
      roles: this.mapRoles(readClaim(payload, this.cfg.rolesClaim)),
      // The credential an approval records: who vouched (issuer) for whom (subject).
      issuer: payload.iss ?? this.cfg.issuer,
      subject: payload.sub ?? principal,
      ...(typeof vantage === 'string' && vantage !== '' ? { vantage } : {}),
    };
  }

  private mapRoles(value: unknown): Role[] {
    const values = claimValues(value);
    const granted = new Set<Role>();
    for (const v of values) {
      if (!Object.hasOwn(this.cfg.roleMapping, v)) continue;
      for (const role of this.cfg.roleMapping[v] ?? []) granted.add(role);
    }
    return ROLES.filter((r) => granted.has(r));
  }

  private reject(reason: string): null {
    this.deps.logger?.debug({ reason }, 'bearer JWT refused');
    return null;
  }

  private keysAt(): string {
    const url = new URL(this.cfg.jwksUrl);
    return `${url.origin}${url.pathname}`;
  }
}

/**
 * A claim by name, or by dotted path into nested objects. The exact name wins, so namespaced
 * claims such as `https://example.com/roles` still work.
 */
function readClaim(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let node: unknown = payload;
  for (const key of path.split('.')) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** An array of strings, or one string: taken whole and, like `scope`, split on spaces. */
function claimValues(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value === 'string') return [value, ...value.split(/\s+/).filter(Boolean)];
  return [];
}

function describeFetchError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.name ?? 'request failed';
}
