import type { Kysely } from 'kysely';
import type { SwitchyardConfig } from '../config/config.schema';
import type { Schema } from '../database/schema';
import { describeS3Error } from '../storage/s3.client';
import type { AuditEvent } from './audit.port';
import { canonicalJson } from './audit-canonical';
import { ChainWalker, GENESIS_HASH, hashEvent } from './audit-chain';
import { readEventsAfter } from './audit-rows';
import {
  type AuditSegment,
  type IndexedSegment,
  indexSegments,
  parseSegmentName,
  readCopy,
  type SegmentCopy,
  type SegmentIndex,
  type SegmentTarget,
  segmentName,
  segmentTargets,
} from './audit-segments';

/** One bucket's outcome of a seal run. */
export interface SealTargetReport {
  /** The regions whose bucket (and prefix) this is. */
  regions: string[];
  bucket: string;
  ok: boolean;
  /** Highest sequence this bucket holds after the run. */
  sealedThrough: number;
  /** New segments written by this run. */
  written: number;
  /** Segments other buckets held and this one lacked, copied byte for byte. */
  copied: number;
  error?: string;
}

export interface SealReport {
  /** Highest sequence sealed in at least one bucket after the run. */
  sealedThrough: number;
  /** Segments this run created. */
  segments: { fromSequence: number; toSequence: number }[];
  targets: SealTargetReport[];
  /** Every bucket holds every segment. */
  ok: boolean;
  /** Segments a bucket lacked that were not copied: no holder's copy matches the chain. */
  refused: { segment: string; from: string[]; message: string }[];
}

/** One region's (one bucket's) sealed copy of an event, or why it could not be used. */
export interface SealedCopy {
  regions: string[];
  /** The segment it comes from, `<from>-<to>.json`. */
  segment: string;
  event?: AuditEvent;
  problem?: 'unreadable' | 'malformed';
  message?: string;
}

/** What verification reads back: every readable region's sealed copies of events. */
export interface SealedView {
  sealedThrough: number;
  /** Regions whose buckets could be listed. */
  readableRegions: string[];
  unreadableRegions: string[];
  /**
   * Each readable bucket's copy of an event, one entry per bucket whose segments cover it (none
   * when no segment does). Ascending calls are cheapest.
   */
  copiesAt(sequence: number): Promise<SealedCopy[]>;
}

export interface SealedAuditSource {
  openSealed(): Promise<SealedView>;
}

/** Sealing found events that do not continue the sealed chain; nothing after them is sealed. */
export class AuditSealError extends Error {
  constructor(
    message: string,
    readonly sequence: number,
  ) {
    super(message);
    this.name = 'AuditSealError';
  }
}

export interface AuditSealerOptions {
  /** Events per segment; default 1000. */
  segmentSize?: number;
  /**
   * Days each sealed copy is kept under an Object Lock compliance retention, where the bucket has
   * Object Lock; default 400 (a year and the time to notice). 0: no retention.
   */
  retainDays?: number;
  clock?: () => Date;
  requestTimeoutMs?: number;
}

/**
 * Copies the audit log, in segments, to every region's bucket, so that deleting the newest rows
 * of the database (which leaves a valid shorter chain) is still detected, and the log survives
 * the loss of the database. Segments are cut from the highest sequence sealed anywhere; a bucket
 * that missed segments (its region was down) gets them copied from another bucket, so every
 * bucket ends with the same objects.
 */
export class AuditSealer implements SealedAuditSource {
  private readonly targets: SegmentTarget[];
  private readonly segmentSize: number;
  private readonly clock: () => Date;
  private readonly retainDays: number;
  private sealing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Schema>,
    config: Pick<SwitchyardConfig, 'apps'>,
    options: AuditSealerOptions = {},
  ) {
    this.targets = segmentTargets(config, options.requestTimeoutMs);
    this.segmentSize = options.segmentSize ?? 1000;
    this.clock = options.clock ?? (() => new Date());
    this.retainDays = options.retainDays ?? 400;
  }

  /**
   * Seals every event not yet sealed; throws only when no bucket can be listed or the chain is
   * broken. Calls on one sealer run one at a time; sealers in other processes may overlap, which
   * only makes overlapping segments holding the same events.
   */
  seal(): Promise<SealReport> {
    const run = this.sealing.then(() => this.sealOnce());
    this.sealing = run.catch(() => undefined);
    return run;
  }

  private async sealOnce(): Promise<SealReport> {
    const index = await indexSegments(this.targets);
    const state = new Map<
      SegmentTarget,
      { names: Set<string>; written: number; copied: number; error?: string }
    >();
    for (const [target, listing] of index.listings) {
      state.set(
        target,
        'names' in listing
          ? { ...listing, written: 0, copied: 0 }
          : { names: new Set(), written: 0, copied: 0, error: listing.error },
      );
    }
    const live = () => [...state].filter(([, s]) => !s.error).map(([t]) => t);
    if (live().length === 0) {
      throw new Error(`no region's bucket could be listed: ${this.describeErrors(state)}`);
    }

    const refused: SealReport['refused'] = [];
    const retainUntil = this.retainUntil();
    for (const segment of index.segments) {
      const missing = live().filter((t) => !state.get(t)!.names.has(segment.name));
      if (missing.length === 0) continue;
      // Only a copy that matches the chain in the database is spread; a changed one never is.
      const good = await this.goodCopy(segment);
      if ('problems' in good) {
        const message = `segment ${segment.name} not copied: no region's copy matches the chain (${good.problems.join('; ')})`;
        refused.push({ segment: segment.name, from: segment.holders.flatMap((h) => h.regions), message });
        for (const t of missing) state.get(t)!.error ??= message;
        continue;
      }
      await Promise.all(
        missing.map(async (t) => {
          const s = state.get(t)!;
          try {
            await t.write(segment.name, good.body, retainUntil);
            s.names.add(segment.name);
            s.copied++;
          } catch (err) {
            s.error = describeS3Error(err);
          }
        }),
      );
    }

    const created: SealReport['segments'] = [];
    const walker = new ChainWalker(index.sealedThrough, await this.lastSealedHash(index));
    const through = await this.lastSequence();
    while (walker.lastSequence < through && live().length > 0) {
      const events = await readEventsAfter(this.db, walker.lastSequence, this.segmentSize, through);
      if (events.length === 0) break;
      for (const event of events) {
        const broken = walker.next(event);
        if (broken) {
          throw new AuditSealError(
            `not sealing past event ${broken.sequence - 1}: ${broken.message}`,
            broken.sequence,
          );
        }
      }
      const segment = this.segmentOf(events);
      const name = segmentName(segment.fromSequence, segment.toSequence);
      const body = JSON.stringify(segment);
      await Promise.all(
        live().map(async (t) => {
          const s = state.get(t)!;
          try {
            await t.write(name, body, retainUntil);
            s.names.add(name);
            s.written++;
          } catch (err) {
            s.error = describeS3Error(err);
          }
        }),
      );
      if ([...state.values()].some((s) => s.names.has(name))) {
        created.push({ fromSequence: segment.fromSequence, toSequence: segment.toSequence });
      }
    }

    const targets = this.targets.map((t): SealTargetReport => {
      const s = state.get(t)!;
      const sealedThrough = [...s.names].reduce(
        (max, n) => Math.max(max, parseSegmentName(n)?.toSequence ?? 0),
        0,
      );
      return {
        regions: [...t.regions],
        bucket: t.bucket,
        ok: !s.error,
        sealedThrough,
        written: s.written,
        copied: s.copied,
        ...(s.error ? { error: s.error } : {}),
      };
    });
    const sealedThrough = Math.max(index.sealedThrough, ...targets.map((t) => t.sealedThrough));
    return {
      sealedThrough,
      segments: created,
      targets,
      ok: targets.every((t) => t.ok) && refused.length === 0,
      refused,
    };
  }

  async openSealed(): Promise<SealedView> {
    const index = await indexSegments(this.targets);
    const readable: string[] = [];
    const unreadable: string[] = [];
    const readers: {
      target: SegmentTarget;
      copyAt: (sequence: number) => Promise<SealedCopy | undefined>;
    }[] = [];
    for (const [target, listing] of index.listings) {
      if (!('names' in listing)) {
        unreadable.push(...target.regions);
        continue;
      }
      readable.push(...target.regions);
      const held = index.segments.filter((s) => s.holders.includes(target));
      readers.push({ target, copyAt: sealedCopyReader(target, held) });
    }
    return {
      sealedThrough: index.sealedThrough,
      readableRegions: unique(readable),
      unreadableRegions: unique(unreadable),
      copiesAt: async (sequence) => {
        const copies = await Promise.all(readers.map((r) => r.copyAt(sequence)));
        return copies.filter((c): c is SealedCopy => c !== undefined);
      },
    };
  }

  close(): void {
    for (const t of this.targets) t.close();
  }

  private segmentOf(events: AuditEvent[]): AuditSegment {
    const first = events[0]!;
    const last = events[events.length - 1]!;
    return {
      fromSequence: first.sequence,
      toSequence: last.sequence,
      firstHash: first.hash,
      lastHash: last.hash,
      events,
      sealedAt: this.clock().toISOString(),
    };
  }

  /** The hash sealing continues from: the last sealed event's, from a copy that matches the database. */
  private async lastSealedHash(index: SegmentIndex): Promise<string> {
    if (index.sealedThrough === 0) return GENESIS_HASH;
    const last = index.segments.filter((s) => s.toSequence === index.sealedThrough).at(-1)!;
    const good = await this.goodCopy(last);
    if ('problems' in good) {
      throw new AuditSealError(
        `not sealing past event ${index.sealedThrough}: no copy of ${last.name} matches the database (${good.problems.join('; ')})`,
        last.fromSequence,
      );
    }
    return good.parsed.lastHash;
  }

  /**
   * The first holder's copy of a segment whose events are exactly the database's, each matching its
   * own hash and linked to the one before; or, per holder, why its copy is not good.
   */
  private async goodCopy(
    segment: IndexedSegment,
  ): Promise<{ body: string; parsed: AuditSegment } | { problems: string[] }> {
    const problems: string[] = [];
    const count = segment.toSequence - segment.fromSequence + 1;
    const rows = await readEventsAfter(this.db, segment.fromSequence - 1, count, segment.toSequence);
    for (const holder of segment.holders) {
      const copy = await readCopy(holder, segment.name);
      if ('problem' in copy) {
        problems.push(`${holder.label}: ${copy.problem}: ${copy.message}`);
        continue;
      }
      const mismatch = segmentMismatch(copy.parsed, rows);
      if (mismatch) problems.push(`${holder.label}: ${mismatch}`);
      else return copy;
    }
    return { problems };
  }

  private retainUntil(): Date | undefined {
    if (this.retainDays <= 0) return undefined;
    return new Date(this.clock().getTime() + this.retainDays * 86_400_000);
  }

  private async lastSequence(): Promise<number> {
    const row = await this.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.max('sequence').as('last'))
      .executeTakeFirst();
    return Number(row?.last ?? 0);
  }

  private describeErrors(state: Map<SegmentTarget, { error?: string }>): string {
    return [...state].map(([t, s]) => `${t.label} (${t.bucket}): ${s.error}`).join('; ');
  }
}

/**
 * One target's sealed copy of each event, reading each of its segments at most once while
 * sequences ascend and keeping only the current one in memory.
 */
function sealedCopyReader(
  target: SegmentTarget,
  segments: IndexedSegment[],
): (sequence: number) => Promise<SealedCopy | undefined> {
  let current: { segment: IndexedSegment; copy: SegmentCopy } | undefined;
  let next = 0;
  const at = (sequence: number): SealedCopy => {
    const { segment, copy } = current!;
    const base = { regions: target.regions, segment: segment.name };
    if ('problem' in copy) return { ...base, problem: copy.problem, message: copy.message };
    return { ...base, event: copy.parsed.events[sequence - segment.fromSequence] };
  };
  return async (sequence) => {
    if (current && current.segment.fromSequence <= sequence && sequence <= current.segment.toSequence) {
      return at(sequence);
    }
    if (current && sequence < current.segment.fromSequence) next = 0; // a step back: search from the start
    while (next < segments.length && segments[next]!.toSequence < sequence) next++;
    // The longest segment covering it: overlapping ones (two sealers at once) hold the same events.
    let covering: IndexedSegment | undefined;
    for (let i = next; i < segments.length && segments[i]!.fromSequence <= sequence; i++) {
      const s = segments[i]!;
      if (s.toSequence >= sequence && (!covering || s.toSequence > covering.toSequence)) covering = s;
    }
    if (!covering) return undefined;
    current = { segment: covering, copy: await readCopy(target, covering.name) };
    return at(sequence);
  };
}

/** Why a sealed copy is not the database's run of events; null when it is. */
export function segmentMismatch(segment: AuditSegment, rows: AuditEvent[]): string | null {
  for (let i = 0; i < segment.events.length; i++) {
    const copy = segment.events[i]!;
    const row = rows[i];
    if (!row || row.sequence !== copy.sequence) {
      return `event ${copy.sequence} is not in the database`;
    }
    if (canonicalJson(copy) !== canonicalJson(row)) {
      return `event ${copy.sequence} differs from the database (${differingFields(row, copy).join(', ')})`;
    }
    if (hashEvent(copy) !== copy.hash) return `event ${copy.sequence} does not match its own hash`;
    if (i > 0 && copy.previousHash !== segment.events[i - 1]!.hash) {
      return `event ${copy.sequence} does not link to the event before it`;
    }
  }
  return null;
}

/** The fields of an event whose values differ between two copies of it. */
export function differingFields(a: AuditEvent, b: AuditEvent): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof AuditEvent>;
  return [...keys].filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}

export interface SealLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Seals now and then every `intervalMs` after the previous run ends, so runs never overlap. The
 * timer does not keep the process alive. The returned function stops it and resolves once a run
 * in progress has finished.
 */
export function startPeriodicSealing(
  sealer: Pick<AuditSealer, 'seal'>,
  intervalMs: number,
  logger: SealLogger,
): () => Promise<void> {
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const run = async () => {
    try {
      const report = await sealer.seal();
      const failed = report.targets.filter((t) => !t.ok);
      const copied = report.targets.reduce((n, t) => n + t.copied, 0);
      if (report.segments.length > 0 || copied > 0) {
        logger.info(
          { sealedThrough: report.sealedThrough, segments: report.segments.length, copied },
          'audit log sealed',
        );
      }
      if (failed.length > 0) {
        logger.warn(
          { regions: failed.map((t) => ({ regions: t.regions, bucket: t.bucket, error: t.error })) },
          'audit log sealing missed some regions',
        );
      }
    } catch (err) {
      logger.warn({ error: (err as Error).message }, 'audit log sealing failed');
    }
  };

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
    }, delayMs);
    timer.unref();
  };
  schedule(0);

  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
