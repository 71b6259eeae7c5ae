/**
 * The audit log: append-only, hash-chained, tamper-evident. Each event's hash is SHA-256 over a
 * canonical encoding of the event's fields and the previous event's hash, so changing, deleting
 * or reordering any row breaks the chain from there on; sealed segments copied to every region's
 * bucket catch truncation of the newest rows.
 */

export type AuditOutcome = 'accepted' | 'refused' | 'succeeded' | 'failed' | 'info';

export interface AuditEventInput {
  /** Principal name; `system` for the coordinator itself; `anonymous` for unauthenticated calls. */
  actor: string;
  /** Dotted verb, e.g. `failover.requested`, `approval.approved`, `operation.step.completed`. */
  action: string;
  /** What it acted on, `kind:id`, e.g. `app:shop`, `operation:shop-0195...`, `token:7`. */
  target: string;
  reason?: string;
  requestId?: string;
  outcome: AuditOutcome;
  details?: Record<string, unknown>;
  /** ISO time; the store's clock when absent. */
  time?: string;
  /**
   * Appending twice with the same key stores one event and returns it both times, so a retried
   * activity never writes an event twice.
   */
  idempotencyKey?: string;
}

export interface AuditEvent {
  sequence: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  reason: string | null;
  requestId: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
  idempotencyKey: string | null;
  previousHash: string;
  hash: string;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  /** ISO times, inclusive. */
  since?: string;
  until?: string;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
  /** Default 100, at most 1000. */
  limit?: number;
}

export interface AuditPage {
  items: AuditEvent[];
  nextCursor: string | null;
}

export interface AuditBreak {
  /** The first sequence number whose row does not fit the chain (or is missing). */
  sequence: number;
  reason:
    'hash-mismatch' | 'previous-hash-mismatch' | 'sequence-gap' | 'missing-sealed-events' | 'sealed-mismatch';
  message: string;
}

export interface AuditVerification {
  ok: boolean;
  /** Rows checked in the database. */
  checked: number;
  lastSequence: number;
  /** Highest sequence sealed in the buckets that could be read. */
  sealedThrough: number;
  firstBreak: AuditBreak | null;
  /** Regions whose sealed segments could not be read (verification used the others). */
  unreadableRegions: string[];
  /** Each region whose sealed copy of a segment differs from the database: its first differing event. */
  regionMismatches: RegionMismatch[];
}

export interface RegionMismatch {
  region: string;
  /** The segment's name, `<from>-<to>.json`. */
  segment: string;
  /** The first event of the segment whose copy differs (or the segment's first, when it is malformed). */
  sequence: number;
  message: string;
}

export interface AuditStore {
  append(event: AuditEventInput): Promise<AuditEvent>;
  list(query: AuditQuery): Promise<AuditPage>;
  /** Recomputes the chain; with a sealer, also checks it against the sealed segments. */
  verify(): Promise<AuditVerification>;
  close(): Promise<void>;
}
