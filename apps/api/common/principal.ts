import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { Role } from '../../../infra/auth/token.port';

export type { Role };

/** Who made a request, as the API authenticated it (docs/security.md). */
export interface Principal {
  name: string;
  roles: Role[];
  /**
   * Which credential proved it: `token:<id>` (minted), `bootstrap:<n>` (auth.tokens[n] of
   * switchyard.yaml) or `oidc:<issuer>#<subject>`. Approvals record it.
   */
  credential: string;
  /** A monitor token's vantage point: the only one it may report for. */
  vantage?: string;
}

export interface AuthenticatedRequest extends Request {
  principal?: Principal;
  /** Set by the request-id middleware; echoed as X-Request-Id. */
  requestId?: string;
}

export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
