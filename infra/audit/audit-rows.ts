import type { Kysely, Selectable } from 'kysely';
import type { AuditEventsTable, Schema } from '../database/schema';
import type { AuditEvent, AuditOutcome } from './audit.port';

export type AuditRow = Selectable<AuditEventsTable>;

export function toEvent(row: AuditRow): AuditEvent {
  return {
    sequence: Number(row.sequence),
    time: row.time,
    actor: row.actor,
    action: row.action,
    target: row.target,
    reason: row.reason,
    requestId: row.request_id,
    outcome: row.outcome as AuditOutcome,
    details: JSON.parse(row.details) as Record<string, unknown>,
    idempotencyKey: row.idempotency_key,
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}

export function toRow(e: AuditEvent): AuditRow {
  return {
    sequence: e.sequence,
    time: e.time,
    actor: e.actor,
    action: e.action,
    target: e.target,
    reason: e.reason,
    request_id: e.requestId,
    outcome: e.outcome,
    details: JSON.stringify(e.details),
    idempotency_key: e.idempotencyKey,
    previous_hash: e.previousHash,
    hash: e.hash,
  };
}

/** Up to `limit` events after `afterSequence`, in sequence order. */
export async function readEventsAfter(
  db: Kysely<Schema>,
  afterSequence: number,
  limit: number,
  throughSequence = Number.MAX_SAFE_INTEGER,
): Promise<AuditEvent[]> {
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('sequence', '>', afterSequence)
    .where('sequence', '<=', throughSequence)
    .orderBy('sequence')
    .limit(limit)
    .execute();
  return rows.map(toEvent);
}

/** Every event in sequence order, read a page at a time so memory stays bounded. */
export async function* streamEvents(db: Kysely<Schema>, pageSize = 500): AsyncGenerator<AuditEvent> {
  let after = 0;
  for (;;) {
    const page = await readEventsAfter(db, after, pageSize);
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.sequence;
  }
}
