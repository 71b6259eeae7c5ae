import { GetObjectCommand } from '@aws-sdk/client-s3';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BucketConfig } from '../config/config.schema';
import { describeS3Error } from '../storage/s3.client';
import {
  ArtifactMismatchError,
  HashingCounter,
  type ObjectIo,
  VersionsNotSupportedError,
} from './artifact.store';
import { mapLimit } from './concurrency';
import type { ObjectSetEntry } from './manifest';
import type {
  ArtifactSink,
  ArtifactSource,
  RestoreResult,
  ServiceAdapter,
  ServiceContext,
  ServiceOf,
  SnapshotResult,
  VerifyResult,
} from './service-adapter.port';

/**
 * An S3 prefix (bucket + key prefix) behind the ServiceAdapter port. The cut is the listing: on a
 * versioned bucket, the version of each key that was current when it was listed, and every copy is
 * pinned to that version, so writes during the snapshot do not leak into it. Objects are copied
 * into the backup bucket (server-side when it lives on the same S3 endpoint, streamed otherwise)
 * a few at a time; the artifact is the listing (key, size, SHA-256, version). Memory grows with
 * the number of objects (the listing), never with their size.
 */

type S3Service = ServiceOf<'s3'>;
type Ctx = ServiceContext<S3Service>;

/** Objects in flight at once, in a snapshot or a restore. */
export const S3_PREFIX_CONCURRENCY = 4;

interface ListedObject {
  /** Full key in the bucket. */
  key: string;
  size: number;
  /** Present when the bucket is versioned: the version current at listing time. */
  versionId?: string;
  lastModified?: Date;
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Reports at most once a second, and on demand (`force`). */
function throttled(ctx: Ctx): (details: Record<string, unknown>, force?: boolean) => void {
  let last = 0;
  return (details, force = false) => {
    const now = Date.now();
    if (!force && now - last < 1000) return;
    last = now;
    ctx.heartbeat(details);
  };
}

export class S3PrefixAdapter implements ServiceAdapter<S3Service> {
  constructor(
    private readonly io: ObjectIo,
    private readonly options: { concurrency?: number } = {},
  ) {}

  async quiesce(): Promise<void> {}

  async marker(ctx: Ctx): Promise<Record<string, unknown>> {
    const { bucket, prefix } = ctx.target;
    let objects = 0;
    let bytes = 0;
    let newest: Date | undefined;
    try {
      for await (const o of this.io.list(bucket, prefix)) {
        objects++;
        bytes += o.size;
        if (o.lastModified && (!newest || o.lastModified > newest)) newest = o.lastModified;
      }
    } catch (err) {
      throw new Error(`${this.what(ctx)}: listing failed: ${describeS3Error(err)}`, { cause: err });
    }
    return { objects, bytes, newestLastModified: newest?.toISOString() ?? null };
  }

  async snapshot(ctx: Ctx, sink: ArtifactSink): Promise<SnapshotResult> {
    const { bucket, prefix } = ctx.target;
    const listed = await this.listCut(ctx);
    const dest = sink.objectSet();
    const entries: ObjectSetEntry[] = [];
    const methods = { 'server-side': 0, streamed: 0, 'already-present': 0 };
    let bytes = 0;
    const heartbeat = throttled(ctx);
    const progress = (force = false) =>
      heartbeat({ phase: 'copy', objects: entries.length, of: listed.length, bytes, methods }, force);

    await mapLimit(
      listed,
      this.options.concurrency ?? S3_PREFIX_CONCURRENCY,
      async (o) => {
        const relative = o.key.slice(prefix.length);
        const toKey = dest.prefix + relative;
        let entry: ObjectSetEntry;
        if (o.versionId) {
          // Pinned: the hash and the copy read the same immutable version.
          const { body, contentType } = await this.openSource(bucket, o.key, o.versionId);
          const counter = new HashingCounter(() => progress());
          await pipeline(body, counter, new Writable({ write: (_c, _e, done) => done() }));
          const expect = {
            size: counter.bytes,
            sha256: counter.digest(),
            contentType,
            versionId: o.versionId,
          };
          const copied = await dest.io.copy(bucket, o.key, dest.bucket, toKey, expect, {
            signal: ctx.signal,
            onProgress: () => progress(),
          });
          methods[copied.method]++;
          entry = { key: relative, size: expect.size, sha256: expect.sha256, sourceVersionId: o.versionId };
          if (contentType) entry.contentType = contentType;
        } else {
          // Unversioned: the object may change at any time, so hash exactly the bytes stored in the copy.
          const { body, contentType } = await this.openSource(bucket, o.key);
          const stored = await dest.io.upload(dest.bucket, toKey, body, {
            contentType,
            signal: ctx.signal,
            onProgress: () => progress(),
          });
          methods.streamed++;
          entry = { key: relative, size: stored.size, sha256: stored.sha256 };
          if (contentType) entry.contentType = contentType;
        }
        entries.push(entry);
        bytes += entry.size;
        progress(true);
      },
      ctx.signal,
    );

    entries.sort(byKey);
    const artifact = await sink.putListing(entries);
    ctx.logger.info(
      { objects: entries.length, bytes, methods },
      `s3://${bucket.name}/${prefix} copied into the backup bucket`,
    );
    return {
      artifact,
      marker: { objects: entries.length, bytes, versioned: listed.some((o) => o.versionId) },
    };
  }

  async release(): Promise<void> {}

  /**
   * Makes the prefix equal the cut: writes every listed object back (checked against its SHA-256),
   * then deletes current objects the listing does not name. On a versioned bucket, what was
   * overwritten or deleted stays as noncurrent versions.
   */
  async restore(ctx: Ctx, source: ArtifactSource): Promise<RestoreResult> {
    const { bucket, prefix } = ctx.target;
    const entries = await source.listing();
    const concurrency = this.options.concurrency ?? S3_PREFIX_CONCURRENCY;
    const heartbeat = throttled(ctx);
    let restored = 0;
    let bytes = 0;
    await mapLimit(
      entries,
      concurrency,
      async (e) => {
        const key = prefix + e.key;
        const body = await source.openObject(e);
        const stored = await this.io.upload(bucket, key, body, {
          contentType: e.contentType,
          sha256: e.sha256,
          signal: ctx.signal,
          onProgress: (n) =>
            heartbeat({ phase: 'write', objects: restored, of: entries.length, bytes: bytes + n }),
        });
        if (stored.size !== e.size) {
          await this.io.deleteObject(bucket, key, stored.versionId).catch(() => undefined);
          throw new ArtifactMismatchError(`s3://${bucket.name}/${key}`, e, stored);
        }
        restored++;
        bytes += stored.size;
        heartbeat({ phase: 'write', objects: restored, of: entries.length, bytes }, true);
      },
      ctx.signal,
    );

    const wanted = new Set(entries.map((e) => prefix + e.key));
    const extras: string[] = [];
    for await (const o of this.io.list(bucket, prefix)) if (!wanted.has(o.key)) extras.push(o.key);
    let removed = 0;
    await mapLimit(
      extras,
      concurrency,
      async (key) => {
        await this.io.deleteObject(bucket, key);
        removed++;
        heartbeat({ phase: 'remove', removed, of: extras.length });
      },
      ctx.signal,
    );
    return { detail: `${restored} objects restored, ${removed} removed` };
  }

  async prepareScratch(ctx: Ctx): Promise<void> {
    await this.discardScratch(ctx);
  }

  /** Every object under the scratch prefix, every version. */
  async discardScratch(ctx: Ctx): Promise<{ detail: string }> {
    const { bucket, prefix } = ctx.target;
    const removed = await this.io.purgePrefix(bucket, prefix);
    return { detail: `s3://${bucket.name}/${prefix}: ${removed} object version(s) removed` };
  }

  async verify(ctx: Ctx): Promise<VerifyResult> {
    const { bucket, prefix } = ctx.target;
    let objects = 0;
    try {
      for await (const _ of this.io.list(bucket, prefix)) objects++;
    } catch (err) {
      return { ok: false, detail: `s3://${bucket.name}/${prefix}: ${describeS3Error(err)}` };
    }
    return { ok: true, detail: `s3://${bucket.name}/${prefix}: ${objects} objects` };
  }

  private what(ctx: Ctx): string {
    return `s3 service "${ctx.service.name}" in ${ctx.region} (s3://${ctx.target.bucket.name}/${ctx.target.prefix})`;
  }

  /**
   * The current objects under the prefix, each with the version that is current now when the
   * bucket keeps versions (ListObjectVersions, IsLatest); ListObjectsV2 where versions are not served.
   */
  private async listCut(ctx: Ctx): Promise<ListedObject[]> {
    const { bucket, prefix } = ctx.target;
    const out: ListedObject[] = [];
    try {
      try {
        for await (const v of this.io.versions(bucket, prefix)) {
          if (!v.isLatest || v.deleteMarker) continue;
          out.push({ key: v.key, size: v.size, versionId: v.versionId, lastModified: v.lastModified });
        }
      } catch (err) {
        if (!(err instanceof VersionsNotSupportedError)) throw err;
        out.length = 0;
        for await (const o of this.io.list(bucket, prefix)) out.push(o);
      }
      return out;
    } catch (err) {
      throw new Error(`${this.what(ctx)}: listing failed: ${describeS3Error(err)}`, { cause: err });
    }
  }

  private async openSource(
    bucket: BucketConfig,
    key: string,
    versionId?: string,
  ): Promise<{ body: Readable; contentType?: string }> {
    const out = await this.io.buckets
      .client(bucket)
      .send(new GetObjectCommand({ Bucket: bucket.name, Key: key, VersionId: versionId }));
    return { body: out.Body as Readable, contentType: out.ContentType };
  }
}
