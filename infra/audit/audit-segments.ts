import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { BucketConfig, SwitchyardConfig } from '../config/config.schema';
import { objectLockEnabled, putComplianceRetention } from '../storage/object-lock';
import { createS3Client, describeS3Error } from '../storage/s3.client';
import type { AuditEvent } from './audit.port';

/** A run of consecutive events copied out of the database, the same object in every bucket. */
export interface AuditSegment {
  fromSequence: number;
  toSequence: number;
  firstHash: string;
  lastHash: string;
  events: AuditEvent[];
  sealedAt: string;
}

/** A segment's name, `<from>-<to>.json` with both numbers zero-padded to 12 digits. */
export function segmentName(fromSequence: number, toSequence: number): string {
  return `${String(fromSequence).padStart(12, '0')}-${String(toSequence).padStart(12, '0')}.json`;
}

export function parseSegmentName(name: string): { fromSequence: number; toSequence: number } | null {
  const m = /^(\d{12,})-(\d{12,})\.json$/.exec(name);
  if (!m) return null;
  const fromSequence = Number(m[1]);
  const toSequence = Number(m[2]);
  return fromSequence >= 1 && toSequence >= fromSequence ? { fromSequence, toSequence } : null;
}

/**
 * One place segments are kept: a bucket and key prefix. Apps whose regions share a bucket and
 * prefix share one target, so each object is written once.
 */
export class SegmentTarget {
  readonly regions: string[] = [];
  readonly bucket: string;
  /** `<bucket prefix>audit/segments/` */
  readonly prefix: string;
  private client: S3Client | undefined;
  private locking: Promise<boolean> | undefined;

  constructor(
    readonly id: string,
    private readonly bucketConfig: BucketConfig,
    private readonly requestTimeoutMs: number,
  ) {
    this.bucket = bucketConfig.name;
    this.prefix = `${bucketConfig.prefix}audit/segments/`;
  }

  /** `east` or, for a bucket several regions share, `east+eu`. */
  get label(): string {
    return this.regions.join('+');
  }

  private s3(): S3Client {
    this.client ??= createS3Client(this.bucketConfig, { requestTimeoutMs: this.requestTimeoutMs });
    return this.client;
  }

  /** Names of the segments in this bucket (`<from>-<to>.json`), every page of the listing. */
  async listNames(): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3().send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(this.prefix.length);
        if (name && parseSegmentName(name)) names.push(name);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names;
  }

  async read(name: string): Promise<string> {
    const out = await this.s3().send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + name }));
    return out.Body!.transformToString('utf8');
  }

  /**
   * Writes a segment and, where the bucket has Object Lock, puts a compliance retention until
   * `retainUntil` on the version just written: nobody (Switchyard's credentials included) can delete
   * or overwrite that version before then. A new version of the key can still be put; verification
   * reads the newest and names the region when it differs from the database.
   */
  async write(name: string, body: string, retainUntil?: Date): Promise<{ locked: boolean }> {
    const out = await this.s3().send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.prefix + name,
        Body: body,
        ContentType: 'application/json',
      }),
    );
    if (!retainUntil || !(await this.objectLock())) return { locked: false };
    await putComplianceRetention(
      this.s3(),
      this.bucket,
      this.prefix + name,
      out.VersionId,
      retainUntil.toISOString(),
    );
    return { locked: true };
  }

  /** Whether the bucket has Object Lock; asked once per target (a failed answer is asked again). */
  private objectLock(): Promise<boolean> {
    this.locking ??= objectLockEnabled(this.s3(), this.bucket).catch((err: unknown) => {
      this.locking = undefined;
      throw err;
    });
    return this.locking;
  }

  close(): void {
    this.client?.destroy();
    this.client = undefined;
    this.locking = undefined;
  }
}

/** Every region bucket of every app, deduplicated by endpoint, bucket and prefix. */
export function segmentTargets(
  config: Pick<SwitchyardConfig, 'apps'>,
  requestTimeoutMs = 5_000,
): SegmentTarget[] {
  const targets = new Map<string, SegmentTarget>();
  for (const app of Object.values(config.apps)) {
    for (const region of app.regions) {
      const b = region.bucket;
      const id = `${b.endpoint ?? 'aws'}|${b.name}|${b.prefix}`;
      let target = targets.get(id);
      if (!target) {
        target = new SegmentTarget(id, b, requestTimeoutMs);
        targets.set(id, target);
      }
      if (!target.regions.includes(region.name)) target.regions.push(region.name);
    }
  }
  return [...targets.values()];
}

/** Parses a segment and checks that its events are the run its name promises. */
export function parseSegment(name: string, body: string): AuditSegment {
  const range = parseSegmentName(name);
  const segment = JSON.parse(body) as AuditSegment;
  const events = Array.isArray(segment?.events) ? segment.events : [];
  const fits =
    range !== null &&
    segment.fromSequence === range.fromSequence &&
    segment.toSequence === range.toSequence &&
    events.length === range.toSequence - range.fromSequence + 1 &&
    events.every((e, i) => e?.sequence === range.fromSequence + i) &&
    events[0]?.hash === segment.firstHash &&
    events[events.length - 1]?.hash === segment.lastHash;
  if (!fits) throw new Error(`segment ${name} is malformed: its events do not match its name`);
  return segment;
}

/** A segment present in at least one readable bucket, and the buckets that hold it. */
export interface IndexedSegment {
  name: string;
  fromSequence: number;
  toSequence: number;
  holders: SegmentTarget[];
}

export interface SegmentIndex {
  /** Ordered by fromSequence, then toSequence. */
  segments: IndexedSegment[];
  /** Highest sequence in any segment; 0 when none. */
  sealedThrough: number;
  /** Per target: its names, or why it could not be listed. */
  listings: Map<SegmentTarget, { names: Set<string> } | { error: string }>;
}

/** Lists every target at once; a target that cannot be listed is reported, not fatal. */
export async function indexSegments(targets: SegmentTarget[]): Promise<SegmentIndex> {
  const listings = new Map<SegmentTarget, { names: Set<string> } | { error: string }>();
  await Promise.all(
    targets.map(async (t) => {
      try {
        listings.set(t, { names: new Set(await t.listNames()) });
      } catch (err) {
        listings.set(t, { error: describeS3Error(err) });
      }
    }),
  );
  const byName = new Map<string, IndexedSegment>();
  for (const t of targets) {
    const listing = listings.get(t);
    if (!listing || !('names' in listing)) continue;
    for (const name of listing.names) {
      let entry = byName.get(name);
      if (!entry) {
        entry = { name, ...parseSegmentName(name)!, holders: [] };
        byName.set(name, entry);
      }
      entry.holders.push(t);
    }
  }
  const segments = [...byName.values()].sort(
    (a, b) => a.fromSequence - b.fromSequence || a.toSequence - b.toSequence,
  );
  const sealedThrough = segments.reduce((max, s) => Math.max(max, s.toSequence), 0);
  return { segments, sealedThrough, listings };
}

/** One target's copy of a segment: parsed, or why it could not be used. */
export type SegmentCopy =
  { body: string; parsed: AuditSegment } | { problem: 'unreadable' | 'malformed'; message: string };

export async function readCopy(target: SegmentTarget, name: string): Promise<SegmentCopy> {
  let body: string;
  try {
    body = await target.read(name);
  } catch (err) {
    return { problem: 'unreadable', message: describeS3Error(err) };
  }
  try {
    return { body, parsed: parseSegment(name, body) };
  } catch (err) {
    return { problem: 'malformed', message: (err as Error).message };
  }
}
