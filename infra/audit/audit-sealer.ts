import type { Kysely } from 'kysely';
import type { SwitchyardConfig } from '../config/config.schema';
import type { Schema } from '../database/schema';
import { describeS3Error } from '../storage/s3.client';
import type { AuditEvent } from './audit.port';
import { ChainWalker, GENESIS_HASH } from './audit-chain';
import { readEventsAfter } from './audit-rows';
import {
  type AuditSegment,
  type IndexedSegment,
  indexSegments,
  parseSegmentName,
  readSegment,
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

/** What verification reads back: sealed copies of events, from whichever regions answer. */
export interface SealedView {
  sealedThrough: number;
  /** Regions whose buckets could be read. */
  readableRegions: string[];
  unreadableRegions: string[];
  /** The sealed copy of an event, undefined when no readable segment covers it. Ascending calls are cheapest. */
  eventAt(sequence: number): Promise<AuditEvent | undefined>;
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
  private sealing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Schema>,
    config: Pick<SwitchyardConfig, 'apps'>,
    options: AuditSealerOptions = {},
  ) {
    this.targets = segmentTargets(config, options.requestTimeoutMs);
    this.segmentSize = options.segmentSize ?? 1000;
    this.clock = options.clock ?? (() => new Date());
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

    for (const segment of index.segments) {
      const missing = live().filter((t) => !state.get(t)!.names.has(segment.name));
      if (missing.length === 0) continue;
      const { body } = await readSegment(segment);
      await Promise.all(
        missing.map(async (t) => {
          const s = state.get(t)!;
          try {
            await t.write(segment.name, body);
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
            await t.write(name, body);
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
    return { sealedThrough, segments: created, targets, ok: targets.every((t) => t.ok), refused: [] };
  }

  async openSealed(): Promise<SealedView> {
    const index = await indexSegments(this.targets);
    const readable: string[] = [];
    const unreadable: string[] = [];
    for (const [target, listing] of index.listings) {
      ('names' in listing ? readable : unreadable).push(...target.regions);
    }
    return {
      sealedThrough: index.sealedThrough,
      readableRegions: unique(readable),
      unreadableRegions: unique(unreadable),
      eventAt: sealedEventReader(index.segments),
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

  private async lastSealedHash(index: SegmentIndex): Promise<string> {
    if (index.sealedThrough === 0) return GENESIS_HASH;
    const last = index.segments.filter((s) => s.toSequence === index.sealedThrough).at(-1)!;
    return (await readSegment(last)).parsed.lastHash;
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

/** Reads each segment at most once while sequences ascend; keeps only the current one in memory. */
function sealedEventReader(
  segments: IndexedSegment[],
): (sequence: number) => Promise<AuditEvent | undefined> {
  let current: AuditSegment | undefined;
  let next = 0;
  return async (sequence) => {
    if (current && current.fromSequence <= sequence && sequence <= current.toSequence) {
      return current.events[sequence - current.fromSequence];
    }
    if (current && sequence < current.fromSequence) next = 0; // a step back: search from the start
    while (next < segments.length && segments[next]!.toSequence < sequence) next++;
    // The longest segment covering it: overlapping ones (two sealers at once) hold the same events.
    let covering: IndexedSegment | undefined;
    for (let i = next; i < segments.length && segments[i]!.fromSequence <= sequence; i++) {
      const s = segments[i]!;
      if (s.toSequence >= sequence && (!covering || s.toSequence > covering.toSequence)) covering = s;
    }
    if (!covering) return undefined;
    current = (await readSegment(covering)).parsed;
    return current.events[sequence - current.fromSequence];
  };
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
