import { sql } from 'kysely';
import type { Database } from '../database/database';
import type {
  AuditBreak,
  AuditEvent,
  AuditEventInput,
  AuditOutcome,
  AuditPage,
  AuditQuery,
  AuditStore,
  AuditVerification,
  RegionMismatch,
} from './audit.port';
import { canonicalJson, canonicalText, redactDetails } from './audit-canonical';
import { ChainWalker, GENESIS_HASH, hashEvent } from './audit-chain';
import { streamEvents, toEvent, toRow } from './audit-rows';
import { differingFields, type SealedAuditSource, type SealedCopy } from './audit-sealer';

/** A bad query or event: the caller's mistake (HTTP 400), never the store's. */
export class AuditInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditInputError';
  }
}

export interface SqlAuditStoreOptions {
  /** With a sealer, verify() also checks the database against the sealed segments. */
  sealer?: SealedAuditSource;
  clock?: () => Date;
  /** close() also closes the database; default false (it is usually shared with the token store). */
  closeDatabase?: boolean;
  /** Rows per page while verifying; default 500. */
  verifyPageSize?: number;
}

const OUTCOMES: readonly AuditOutcome[] = ['accepted', 'refused', 'succeeded', 'failed', 'info'];

/** Arbitrary but fixed: every Switchyard process appending to the same PostgreSQL database takes it. */
const PG_APPEND_LOCK = 7_346_190_215_032;

/**
 * The audit log in SQL. Appends are serialised across processes (SQLite: BEGIN IMMEDIATE, the
 * database's write lock; PostgreSQL: a transaction-scoped advisory lock), so each event links to
 * the one before it. `details` values under secret-named keys are redacted before hashing
 * (see isSecretKey in audit-canonical.ts): the store cannot know what callers put there.
 */
export class SqlAuditStore implements AuditStore {
  private readonly clock: () => Date;

  constructor(
    private readonly database: Database,
    private readonly options: SqlAuditStoreOptions = {},
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  async append(input: AuditEventInput): Promise<AuditEvent> {
    const fields = this.validate(input);
    return this.database.db.transaction().execute(async (trx) => {
      if (this.database.dialect === 'postgres') {
        await sql`select pg_advisory_xact_lock(${sql.lit(PG_APPEND_LOCK)})`.execute(trx);
      }
      if (fields.idempotencyKey !== null) {
        const existing = await trx
          .selectFrom('audit_events')
          .selectAll()
          .where('idempotency_key', '=', fields.idempotencyKey)
          .executeTakeFirst();
        if (existing) return toEvent(existing);
      }
      const last = await trx
        .selectFrom('audit_events')
        .select(['sequence', 'hash'])
        .orderBy('sequence', 'desc')
        .limit(1)
        .executeTakeFirst();
      const unhashed = {
        ...fields,
        sequence: last ? Number(last.sequence) + 1 : 1,
        previousHash: last?.hash ?? GENESIS_HASH,
      };
      const event: AuditEvent = { ...unhashed, hash: hashEvent(unhashed) };
      await trx.insertInto('audit_events').values(toRow(event)).execute();
      return event;
    });
  }

  async list(query: AuditQuery): Promise<AuditPage> {
    const limit = pageLimit(query.limit);
    let q = this.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('sequence', '>', query.cursor ? decodeCursor(query.cursor) : 0);
    // Stored strings are in canonical text form: a filter is put in that form too.
    if (query.actor !== undefined) q = q.where('actor', '=', canonicalText(query.actor));
    if (query.action !== undefined) q = q.where('action', '=', canonicalText(query.action));
    if (query.target !== undefined) q = q.where('target', '=', canonicalText(query.target));
    if (query.since !== undefined) q = q.where('time', '>=', isoTime(query.since, 'since'));
    if (query.until !== undefined) q = q.where('time', '<=', isoTime(query.until, 'until'));
    const rows = await q
      .orderBy('sequence')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map(toEvent);
    const more = rows.length > limit;
    return { items, nextCursor: more ? encodeCursor(items[items.length - 1]!.sequence) : null };
  }

  /**
   * Recomputes the chain in sequence order, a page at a time, and stops at the first break. With
   * a sealer, every readable region's copy of each sealed event is compared with the database: a
   * region whose copy differs while another region's agrees is named in `regionMismatches` (its
   * bucket was written to, the database was not); when no region's copy agrees, the database row is
   * the break (`sealed-mismatch`). The database must also reach the highest sealed sequence. When a
   * sealer is set but no region's bucket can be read, `ok` is false with no `firstBreak`: the newest
   * rows cannot be vouched for; `unreadableRegions` says why.
   */
  async verify(): Promise<AuditVerification> {
    const sealed = this.options.sealer ? await this.options.sealer.openSealed() : undefined;
    const useSealed = sealed && sealed.readableRegions.length > 0 ? sealed : undefined;
    const walker = new ChainWalker();
    const regions = new RegionFindings(sealed?.unreadableRegions ?? []);
    let checked = 0;
    let firstBreak: AuditBreak | null = null;
    for await (const event of streamEvents(this.database.db, this.options.verifyPageSize)) {
      checked++;
      firstBreak =
        walker.next(event) ??
        (useSealed ? regions.compare(event, await useSealed.copiesAt(event.sequence)) : null);
      if (firstBreak) break;
    }
    if (!firstBreak && useSealed && walker.lastSequence < useSealed.sealedThrough) {
      const first = walker.lastSequence + 1;
      firstBreak = {
        sequence: first,
        reason: 'missing-sealed-events',
        message: `events ${first} to ${useSealed.sealedThrough} are sealed in the buckets but missing from the database`,
      };
    }
    return {
      ok:
        firstBreak === null &&
        regions.mismatches.length === 0 &&
        (sealed === undefined || useSealed !== undefined),
      checked,
      lastSequence: firstBreak ? await this.lastSequence() : walker.lastSequence,
      sealedThrough: sealed?.sealedThrough ?? 0,
      firstBreak,
      unreadableRegions: regions.unreadable(),
      regionMismatches: regions.mismatches,
    };
  }

  async close(): Promise<void> {
    if (this.options.closeDatabase) await this.database.close();
  }

  private async lastSequence(): Promise<number> {
    const row = await this.database.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.max('sequence').as('last'))
      .executeTakeFirst();
    return Number(row?.last ?? 0);
  }

  private validate(input: AuditEventInput): Omit<AuditEvent, 'sequence' | 'previousHash' | 'hash'> {
    for (const field of ['actor', 'action', 'target'] as const) {
      if (typeof input[field] !== 'string' || input[field].length === 0) {
        throw new AuditInputError(`audit event: ${field} must be a non-empty string`);
      }
    }
    if (!OUTCOMES.includes(input.outcome)) {
      throw new AuditInputError(`audit event: outcome must be one of ${OUTCOMES.join(', ')}`);
    }
    let details: Record<string, unknown>;
    try {
      details = redactDetails(input.details);
    } catch (err) {
      throw new AuditInputError(`audit event: ${(err as Error).message}`);
    }
    return {
      time: input.time !== undefined ? isoTime(input.time, 'time') : this.clock().toISOString(),
      actor: canonicalText(input.actor),
      action: canonicalText(input.action),
      target: canonicalText(input.target),
      reason: optionalText(input.reason, 'reason'),
      requestId: optionalText(input.requestId, 'requestId'),
      outcome: input.outcome,
      details,
      idempotencyKey: optionalText(input.idempotencyKey, 'idempotencyKey'),
    };
  }
}

/** What verification learns about each region's sealed copies, one finding per region and segment. */
class RegionFindings {
  readonly mismatches: RegionMismatch[] = [];
  private readonly unreadableSet: Set<string>;
  private readonly seen = new Set<string>();

  constructor(unreadable: string[]) {
    this.unreadableSet = new Set(unreadable);
  }

  unreadable(): string[] {
    return [...this.unreadableSet];
  }

  /**
   * Compares the copies of one event. A copy that differs from the database while matching its own
   * hash is evidence against the database: when no copy agrees and one such copy exists, the row is
   * the break (`sealed-mismatch`). Otherwise each differing region is named.
   */
  compare(event: AuditEvent, copies: SealedCopy[]): AuditBreak | null {
    const differing: { copy: SealedCopy; message: string; selfConsistent: boolean }[] = [];
    let agreeing = 0;
    for (const copy of copies) {
      if (copy.problem === 'unreadable') {
        for (const r of copy.regions) this.unreadableSet.add(r);
      } else if (copy.problem === 'malformed' || !copy.event) {
        const message = `its copy of ${copy.segment} is malformed: ${copy.message ?? ''}`;
        differing.push({ copy, message, selfConsistent: false });
      } else if (canonicalJson(copy.event) === canonicalJson(event)) {
        agreeing++;
      } else {
        const fields = differingFields(event, copy.event).join(', ');
        const selfConsistent = hashEvent(copy.event) === copy.event.hash;
        const message = `event ${event.sequence} differs from the database (${fields})${selfConsistent ? '' : ' and from its own hash'}`;
        differing.push({ copy, message, selfConsistent });
      }
    }
    if (differing.length === 0) return null;
    const evidence = differing.filter((d) => d.selfConsistent);
    if (agreeing === 0 && evidence.length > 0) {
      const names = evidence.flatMap((d) => d.copy.regions).join(', ');
      return {
        sequence: event.sequence,
        reason: 'sealed-mismatch',
        message: `event ${event.sequence} differs from its sealed copy in every region that holds it (${names}): ${evidence[0]!.message}`,
      };
    }
    for (const { copy, message } of differing) {
      for (const region of copy.regions) {
        const key = `${region}|${copy.segment}`;
        if (this.seen.has(key)) continue;
        this.seen.add(key);
        this.mismatches.push({ region, segment: copy.segment, sequence: event.sequence, message });
      }
    }
    return null;
  }
}

function optionalText(value: string | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new AuditInputError(`audit event: ${field} must be a string`);
  return canonicalText(value);
}

/** Times are stored as `toISOString()` text, so they compare as strings in both dialects. */
function isoTime(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new AuditInputError(`${field}: expected an ISO-8601 time, got "${value}"`);
  return new Date(ms).toISOString();
}

function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new AuditInputError(`limit: expected a whole number from 1 to 1000, got ${limit}`);
  }
  return Math.min(limit, 1000);
}

export function encodeCursor(sequence: number): string {
  return Buffer.from(String(sequence), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{1,15}$/.test(text) || encodeCursor(Number(text)) !== cursor) {
    throw new AuditInputError('cursor: not a cursor returned by this API');
  }
  return Number(text);
}
