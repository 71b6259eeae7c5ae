/**
 * The tables as Kysely sees them. Times are ISO-8601 text in UTC (`toISOString()`), so they
 * compare and sort the same in both dialects and hash exactly as stored; JSON columns are text.
 */
export interface AuditEventsTable {
  /** Assigned by the store (last + 1), never by the database: the chain's order is explicit. */
  sequence: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  reason: string | null;
  request_id: string | null;
  outcome: string;
  /** JSON object, already redacted. */
  details: string;
  idempotency_key: string | null;
  previous_hash: string;
  hash: string;
}

export interface ApiTokensTable {
  id: string;
  principal: string;
  /** JSON array of role names. */
  roles: string;
  sha256: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
  /** A monitor token's vantage point (migration 0002). */
  vantage: string | null;
}

export interface Schema {
  audit_events: AuditEventsTable;
  api_tokens: ApiTokensTable;
}
