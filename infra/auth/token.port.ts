/**
 * API tokens created at run time (`switchyard tokens create`). Only the SHA-256 of a token is
 * stored; the token itself is shown once, at creation. Tokens listed in switchyard.yaml
 * (`auth.tokens`) are bootstrap tokens and cannot be revoked through the API.
 */
/** `monitor`: may report region health (POST /v1/monitor/reports) and nothing else, not even read. */
export type Role = 'viewer' | 'operator' | 'approver' | 'admin' | 'monitor';

export interface TokenRecord {
  id: string;
  principal: string;
  roles: Role[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  revokedBy: string | null;
  /** A monitor token's vantage point (it reports for that one only); null for other tokens. */
  vantage: string | null;
}

export interface TokenStore {
  /** Stores the digest of a new token; returns the record. */
  create(input: {
    principal: string;
    roles: Role[];
    sha256: string;
    createdBy: string;
    vantage?: string;
  }): Promise<TokenRecord>;
  /** The active (not revoked) token with this digest, or null. */
  findActiveBySha256(sha256: string): Promise<TokenRecord | null>;
  list(options?: { includeRevoked?: boolean }): Promise<TokenRecord[]>;
  /** Returns the record, null when unknown; revoking twice keeps the first revocation. */
  revoke(id: string, revokedBy: string): Promise<TokenRecord | null>;
}
