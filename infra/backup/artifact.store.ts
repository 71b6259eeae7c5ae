import { createHash } from 'node:crypto';
import { PassThrough, type Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { AppConfig, BucketConfig, SwitchyardConfig } from '../config/config.schema';
import { createS3Client } from '../storage/s3.client';
import { objectLockEnabled, objectRetention, putComplianceRetention } from '../storage/object-lock';
import { latestDate, type RestorePointLock, retentionToSet } from '../../workflows/object-lock';
import { mapLimit } from './concurrency';
import type { VerificationRecord } from '../../workflows/verification';
import type { Tombstone } from '../../workflows/soft-delete';
import { layout, type RestorePointManifest, SHA256_METADATA } from './manifest';

/**
 * Streams artifacts in and out of the regions' backup buckets. Nothing is ever held whole in
 * memory: uploads go through multipart Upload with a bounded queue of parts, downloads are
 * streams, and SHA-256 is computed on the bytes as they pass.
 */

/**
 * Multipart part size for a stream of unknown size, and how many parts may be in flight. The SDK
 * keeps several copies of a part while it signs and sends it, so a transfer's memory is a few
 * times size × queue (measured: docs/benchmarks.md). 16 MiB parts allow streams up to 156 GiB
 * (S3's 10,000 parts); when the size is known the part is sized to it (`partSizeFor`).
 */
export const PART_SIZE = 16 * 1024 * 1024;
export const PART_QUEUE = 2;
const MIN_PART_SIZE = 8 * 1024 * 1024;
const MAX_PARTS = 9_000;

/** The part size for an object of known size: small parts, unless there would be too many. */
export function partSizeFor(size: number | undefined): number {
  if (size === undefined || size < 0) return PART_SIZE;
  return Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS / (1024 * 1024)) * 1024 * 1024);
}

export interface StoredObject {
  size: number;
  sha256: string;
  versionId?: string;
}

export interface Progress {
  (bytes: number): void;
}

/** A stream that hashes and counts what passes through it. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onProgress?: Progress) {
    super();
  }

  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    done: (err?: Error | null, data?: Buffer) => void,
  ) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    done(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/** The S3 checksum the server is asked to verify on upload (config `checksumAlgorithm`). */
function s3Checksum(bucket: BucketConfig): { ChecksumAlgorithm?: 'CRC32' | 'CRC32C' | 'SHA256' } {
  return bucket.checksumAlgorithm === 'none' ? {} : { ChecksumAlgorithm: bucket.checksumAlgorithm };
}

/** One version (or delete marker) of an object; `versionId` is absent for the null version. */
export interface ObjectVersion {
  key: string;
  versionId?: string;
  size: number;
  isLatest: boolean;
  lastModified?: Date;
  deleteMarker: boolean;
}

/** The server has no ListObjectVersions (an S3 server without versioning support). */
export class VersionsNotSupportedError extends Error {
  constructor() {
    super('the S3 server does not list object versions');
    this.name = 'VersionsNotSupportedError';
  }
}

/** A bucket plus the key folder inside it: one region's place for one app. */
export interface BucketPlace {
  bucket: BucketConfig;
  folder: string;
}

export class ArtifactMismatchError extends Error {
  constructor(
    readonly what: string,
    readonly expected: { size: number; sha256: string },
    readonly actual: { size: number; sha256: string },
  ) {
    super(
      `${what}: expected ${expected.size} bytes with SHA-256 ${expected.sha256.slice(0, 12)}…, ` +
        `read ${actual.size} bytes with SHA-256 ${actual.sha256.slice(0, 12)}…`,
    );
    this.name = 'ArtifactMismatchError';
  }
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/** S3 access to buckets by configuration: one client per distinct bucket configuration. */
export class BucketClients {
  private readonly clients = new Map<string, S3Client>();

  /**
   * `requestTimeoutMs` bounds the wait for a server's first answer to each request (a stopped
   * server fails the call instead of hanging it); readers that must answer fast (the API's
   * catalog) use a short one and a single attempt.
   */
  constructor(private readonly options: { requestTimeoutMs?: number; maxAttempts?: number } = {}) {}

  client(bucket: BucketConfig): S3Client {
    const key = JSON.stringify([bucket.endpoint, bucket.region, bucket.accessKeyId, bucket.forcePathStyle]);
    let c = this.clients.get(key);
    if (!c) {
      c = createS3Client(bucket, {
        requestTimeoutMs: this.options.requestTimeoutMs ?? 30_000,
        maxAttempts: this.options.maxAttempts,
      });
      this.clients.set(key, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}

/** Same server and credentials: S3 can copy between the two buckets without the bytes leaving it. */
export function sameEndpoint(a: BucketConfig, b: BucketConfig): boolean {
  return (
    a.endpoint === b.endpoint &&
    a.region === b.region &&
    a.accessKeyId === b.accessKeyId &&
    a.secretAccessKey === b.secretAccessKey
  );
}

/**
 * Low-level streaming object operations on any configured bucket. The S3 service adapter uses it
 * for the app's own buckets; ArtifactStore uses it for the backup buckets.
 */
export class ObjectIo {
  constructor(readonly buckets: BucketClients = new BucketClients()) {}

  /** Streams `body` to `key`; returns its size and SHA-256. Metadata is set when known in advance. */
  async upload(
    bucket: BucketConfig,
    key: string,
    body: Readable,
    opts: {
      contentType?: string;
      sha256?: string;
      /** The size, when known in advance: parts are sized to it. */
      size?: number;
      onProgress?: Progress;
      signal?: AbortSignal;
    } = {},
  ): Promise<StoredObject> {
    const counter = new HashingCounter(opts.onProgress);
    const pass = new PassThrough({ highWaterMark: 1024 * 1024 });
    const feeding = pipeline(body, counter, pass);
    const upload = new Upload({
      client: this.buckets.client(bucket),
      params: {
        Bucket: bucket.name,
        Key: key,
        Body: pass,
        ContentType: opts.contentType ?? 'application/octet-stream',
        ...(opts.sha256 ? { Metadata: { [SHA256_METADATA]: opts.sha256 } } : {}),
        ...s3Checksum(bucket),
      },
      partSize: partSizeFor(opts.size),
      queueSize: PART_QUEUE,
      leavePartsOnError: false,
    });
    const abort = () => void upload.abort().catch(() => undefined);
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      const [, out] = await Promise.all([feeding, upload.done()]);
      const stored = { size: counter.bytes, sha256: counter.digest(), versionId: out.VersionId };
      if (opts.sha256 && stored.sha256 !== opts.sha256) {
        await this.deleteObject(bucket, key, stored.versionId).catch(() => undefined);
        throw new ArtifactMismatchError(
          `s3://${bucket.name}/${key}`,
          { size: -1, sha256: opts.sha256 },
          stored,
        );
      }
      return stored;
    } finally {
      opts.signal?.removeEventListener('abort', abort);
    }
  }

  async open(
    bucket: BucketConfig,
    key: string,
    versionId?: string,
  ): Promise<{ body: Readable; size: number; versionId?: string }> {
    const out = await this.buckets
      .client(bucket)
      .send(new GetObjectCommand({ Bucket: bucket.name, Key: key, VersionId: versionId }));
    return { body: out.Body as Readable, size: out.ContentLength ?? -1, versionId: out.VersionId };
  }

  /** Reads the object through and hashes it. */
  async hash(bucket: BucketConfig, key: string, opts: { versionId?: string; onProgress?: Progress } = {}) {
    const { body, versionId } = await this.open(bucket, key, opts.versionId);
    const counter = new HashingCounter(opts.onProgress);
    await pipeline(body, counter, new Writable({ write: (_c, _e, done) => done() }));
    return { size: counter.bytes, sha256: counter.digest(), versionId };
  }

  /** Size and recorded SHA-256 metadata, or null when there is no such object. */
  async head(bucket: BucketConfig, key: string): Promise<{ size: number; sha256?: string } | null> {
    try {
      const out = await this.buckets
        .client(bucket)
        .send(new HeadObjectCommand({ Bucket: bucket.name, Key: key }));
      return { size: out.ContentLength ?? 0, sha256: out.Metadata?.[SHA256_METADATA] };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * Copies one object, server-side when both buckets live on one S3 endpoint (objects above 5 GiB
   * go through the streamed path), streamed otherwise. The copy must hash to `expect`; a copy
   * already in place with the same size and recorded SHA-256 is kept (retries do not copy twice).
   */
  async copy(
    from: BucketConfig,
    fromKey: string,
    to: BucketConfig,
    toKey: string,
    expect: { size: number; sha256: string; contentType?: string; versionId?: string },
    opts: { onProgress?: Progress; signal?: AbortSignal } = {},
  ): Promise<{ method: 'server-side' | 'streamed' | 'already-present'; bytes: number }> {
    const existing = await this.head(to, toKey);
    if (existing && existing.size === expect.size && existing.sha256 === expect.sha256) {
      return { method: 'already-present', bytes: 0 };
    }
    if (sameEndpoint(from, to) && expect.size < 5 * 1024 ** 3) {
      const versionId = await this.checkSource(from, fromKey, expect);
      const source = `${from.name}/${encodeURIComponent(fromKey).replace(/%2F/g, '/')}`;
      await this.buckets.client(to).send(
        new CopyObjectCommand({
          Bucket: to.name,
          Key: toKey,
          CopySource: versionId ? `${source}?versionId=${encodeURIComponent(versionId)}` : source,
          MetadataDirective: 'REPLACE',
          ContentType: expect.contentType ?? 'application/octet-stream',
          Metadata: { [SHA256_METADATA]: expect.sha256 },
        }),
      );
      opts.onProgress?.(expect.size);
      return { method: 'server-side', bytes: expect.size };
    }
    const { body } = await this.open(from, fromKey, expect.versionId);
    const stored = await this.upload(to, toKey, body, {
      contentType: expect.contentType,
      sha256: expect.sha256,
      size: expect.size,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
    if (stored.size !== expect.size) {
      await this.deleteObject(to, toKey, stored.versionId).catch(() => undefined);
      throw new ArtifactMismatchError(`s3://${to.name}/${toKey}`, expect, stored);
    }
    return { method: 'streamed', bytes: stored.size };
  }

  /**
   * A server-side copy takes the source's bytes as they are, unread: check them first (by the
   * SHA-256 recorded when Switchyard wrote them, else by reading them) and return the version
   * checked, so that exactly that version is copied (where the bucket keeps versions).
   */
  private async checkSource(
    from: BucketConfig,
    key: string,
    expect: { size: number; sha256: string; versionId?: string },
  ): Promise<string | undefined> {
    const head = await this.buckets
      .client(from)
      .send(new HeadObjectCommand({ Bucket: from.name, Key: key, VersionId: expect.versionId }));
    const versionId = head.VersionId && head.VersionId !== 'null' ? head.VersionId : expect.versionId;
    const size = head.ContentLength ?? 0;
    const recorded = head.Metadata?.[SHA256_METADATA];
    const actual =
      size !== expect.size || recorded
        ? { size, sha256: recorded ?? '(not read)' }
        : await this.hash(from, key, { versionId });
    if (actual.size !== expect.size || actual.sha256 !== expect.sha256) {
      throw new ArtifactMismatchError(`s3://${from.name}/${key}`, expect, actual);
    }
    return versionId;
  }

  async putJson(bucket: BucketConfig, key: string, value: unknown): Promise<void> {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
    const sha256 = createHash('sha256').update(body).digest();
    await this.buckets.client(bucket).send(
      new PutObjectCommand({
        Bucket: bucket.name,
        Key: key,
        Body: body,
        ContentType: 'application/json',
        Metadata: { [SHA256_METADATA]: sha256.toString('hex') },
        ...s3Checksum(bucket),
      }),
    );
  }

  async getJson<T>(bucket: BucketConfig, key: string): Promise<T | null> {
    try {
      const out = await this.buckets
        .client(bucket)
        .send(new GetObjectCommand({ Bucket: bucket.name, Key: key }));
      return JSON.parse(await out.Body!.transformToString('utf8')) as T;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Every current object under `prefix`: key, size, last modified. */
  async *list(
    bucket: BucketConfig,
    prefix: string,
  ): AsyncGenerator<{ key: string; size: number; lastModified?: Date }> {
    let token: string | undefined;
    do {
      const out = await this.buckets.client(bucket).send(
        new ListObjectsV2Command({
          Bucket: bucket.name,
          Prefix: prefix,
          ContinuationToken: token,
          MaxKeys: 1000,
        }),
      );
      for (const o of out.Contents ?? [])
        yield { key: o.Key!, size: o.Size ?? 0, lastModified: o.LastModified };
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  /** The immediate sub-folders of `prefix` (S3 common prefixes with delimiter '/'), without the prefix. */
  async listFolders(bucket: BucketConfig, prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.buckets.client(bucket).send(
        new ListObjectsV2Command({
          Bucket: bucket.name,
          Prefix: prefix,
          Delimiter: '/',
          ContinuationToken: token,
          MaxKeys: 1000,
        }),
      );
      for (const p of page.CommonPrefixes ?? []) out.push(p.Prefix!.slice(prefix.length).replace(/\/$/, ''));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async deleteObject(bucket: BucketConfig, key: string, versionId?: string): Promise<void> {
    await this.buckets
      .client(bucket)
      .send(new DeleteObjectCommand({ Bucket: bucket.name, Key: key, VersionId: versionId }));
  }

  /**
   * Removes everything under `prefix`, every version of it where the bucket is versioned: what a
   * failed attempt left must not linger as noncurrent versions either. Returns how many versions went.
   */
  async purgePrefix(bucket: BucketConfig, prefix: string): Promise<number> {
    let removed = 0;
    try {
      for await (const v of this.versions(bucket, prefix)) {
        await this.deleteObject(bucket, v.key, v.versionId);
        removed++;
      }
    } catch (err) {
      // An unversioned server without ListObjectVersions: current objects are all there is.
      if (!(err instanceof VersionsNotSupportedError)) throw err;
    }
    // Servers that list no versions for an unversioned bucket still hold current objects.
    for await (const o of this.list(bucket, prefix)) {
      await this.deleteObject(bucket, o.key);
      removed++;
    }
    return removed;
  }

  /**
   * Every version and delete marker under `prefix`, across pages. Throws VersionsNotSupportedError
   * (before yielding anything) when the server has no ListObjectVersions.
   */
  async *versions(bucket: BucketConfig, prefix: string): AsyncGenerator<ObjectVersion> {
    const client = this.buckets.client(bucket);
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await client.send(
          new ListObjectVersionsCommand({
            Bucket: bucket.name,
            Prefix: prefix,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
        );
      } catch (err) {
        if ((err as { name?: string }).name === 'NotImplemented') throw new VersionsNotSupportedError();
        throw err;
      }
      const id = (v: string | undefined) => (v && v !== 'null' ? v : undefined);
      for (const v of page.Versions ?? []) {
        yield {
          key: v.Key!,
          versionId: id(v.VersionId),
          size: v.Size ?? 0,
          isLatest: v.IsLatest === true,
          lastModified: v.LastModified,
          deleteMarker: false,
        };
      }
      for (const m of page.DeleteMarkers ?? []) {
        yield {
          key: m.Key!,
          versionId: id(m.VersionId),
          size: 0,
          isLatest: m.IsLatest === true,
          lastModified: m.LastModified,
          deleteMarker: true,
        };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
  }
}

/**
 * The app's restore points in its regions' backup buckets: artifacts, manifests, cleanup.
 * Keys are relative to the app's folder in each bucket (see manifest.ts).
 */
export class ArtifactStore {
  readonly io: ObjectIo;

  constructor(
    private readonly config: Pick<SwitchyardConfig, 'apps'>,
    io?: ObjectIo,
  ) {
    this.io = io ?? new ObjectIo();
  }

  private app(app: string): AppConfig {
    const a = this.config.apps[app];
    if (!a) throw new Error(`unknown app "${app}"`);
    return a;
  }

  place(app: string, region: string): BucketPlace {
    const r = this.app(app).regions.find((x) => x.name === region);
    if (!r) throw new Error(`unknown region "${region}" of app "${app}"`);
    return { bucket: r.bucket, folder: layout.appFolder(r.bucket.prefix, app) };
  }

  knowsApp(app: string): boolean {
    return app in this.config.apps;
  }

  regions(app: string): string[] {
    return this.app(app).regions.map((r) => r.name);
  }

  upload(
    app: string,
    region: string,
    key: string,
    body: Readable,
    opts: { contentType?: string; size?: number; onProgress?: Progress; signal?: AbortSignal } = {},
  ): Promise<StoredObject> {
    const p = this.place(app, region);
    return this.io.upload(p.bucket, p.folder + key, body, opts);
  }

  open(app: string, region: string, key: string, versionId?: string) {
    const p = this.place(app, region);
    return this.io.open(p.bucket, p.folder + key, versionId);
  }

  hash(app: string, region: string, key: string, opts: { versionId?: string; onProgress?: Progress } = {}) {
    const p = this.place(app, region);
    return this.io.hash(p.bucket, p.folder + key, opts);
  }

  head(app: string, region: string, key: string) {
    const p = this.place(app, region);
    return this.io.head(p.bucket, p.folder + key);
  }

  copy(
    app: string,
    from: string,
    to: string,
    key: string,
    expect: { size: number; sha256: string; contentType?: string },
    opts: { onProgress?: Progress; signal?: AbortSignal } = {},
  ) {
    const a = this.place(app, from);
    const b = this.place(app, to);
    return this.io.copy(a.bucket, a.folder + key, b.bucket, b.folder + key, expect, opts);
  }

  writeManifest(app: string, region: string, manifest: RestorePointManifest): Promise<void> {
    const p = this.place(app, region);
    return this.io.putJson(p.bucket, p.folder + layout.manifest(manifest.id), manifest);
  }

  readManifest(app: string, region: string, id: string): Promise<RestorePointManifest | null> {
    const p = this.place(app, region);
    return this.io.getJson<RestorePointManifest>(p.bucket, p.folder + layout.manifest(id));
  }

  /** Ids of the restore points whose manifest is in this region's bucket. */
  async listManifestIds(app: string, region: string): Promise<string[]> {
    const p = this.place(app, region);
    const base = p.folder + layout.manifestsFolder();
    const ids: string[] = [];
    for await (const o of this.io.list(p.bucket, base)) {
      const rest = o.key.slice(base.length);
      if (rest.endsWith('.json') && !rest.includes('/')) ids.push(rest.slice(0, -'.json'.length));
    }
    return ids.sort();
  }

  writeVerification(app: string, region: string, record: VerificationRecord): Promise<void> {
    const p = this.place(app, region);
    return this.io.putJson(p.bucket, p.folder + layout.verification(record.restorePointId), record);
  }

  readVerification(app: string, region: string, id: string): Promise<VerificationRecord | null> {
    const p = this.place(app, region);
    return this.io.getJson<VerificationRecord>(p.bucket, p.folder + layout.verification(id));
  }

  /** The verification records in this region's bucket: restore point id and a stamp that changes with each rewrite. */
  async listVerifications(app: string, region: string): Promise<{ id: string; stamp: string }[]> {
    const p = this.place(app, region);
    const base = p.folder + layout.verificationsFolder();
    const out: { id: string; stamp: string }[] = [];
    for await (const o of this.io.list(p.bucket, base)) {
      const rest = o.key.slice(base.length);
      if (rest.endsWith('.json') && !rest.includes('/')) {
        out.push({
          id: rest.slice(0, -'.json'.length),
          stamp: `${o.lastModified?.toISOString() ?? ''}/${o.size}`,
        });
      }
    }
    return out;
  }

  /** Ids of the restore points that have an artifact folder in this region (committed or not). */
  async listAttemptIds(app: string, region: string): Promise<string[]> {
    const p = this.place(app, region);
    return this.io.listFolders(p.bucket, p.folder + 'restore-points/');
  }

  /** Removes a restore point's manifest and then its artifacts (every version) from one region. */
  async purge(app: string, region: string, id: string): Promise<number> {
    const p = this.place(app, region);
    const manifests = await this.io.purgePrefix(p.bucket, p.folder + layout.manifest(id));
    return manifests + (await this.io.purgePrefix(p.bucket, p.folder + layout.attemptFolder(id)));
  }

  writeTombstone(app: string, region: string, tombstone: Tombstone): Promise<void> {
    const p = this.place(app, region);
    return this.io.putJson(p.bucket, p.folder + layout.tombstone(tombstone.restorePointId), tombstone);
  }

  readTombstone(app: string, region: string, id: string): Promise<Tombstone | null> {
    const p = this.place(app, region);
    return this.io.getJson<Tombstone>(p.bucket, p.folder + layout.tombstone(id));
  }

  /** Ids of the soft-deleted restore points of this region's bucket. */
  async listTombstoneIds(app: string, region: string): Promise<string[]> {
    const p = this.place(app, region);
    const base = p.folder + layout.tombstonesFolder();
    const ids: string[] = [];
    for await (const o of this.io.list(p.bucket, base)) {
      const rest = o.key.slice(base.length);
      if (rest.endsWith('.json') && !rest.includes('/')) ids.push(rest.slice(0, -'.json'.length));
    }
    return ids.sort();
  }

  /** Removes a tombstone (every version), e.g. at undo; the restore point is listed again. */
  removeTombstone(app: string, region: string, id: string): Promise<number> {
    const p = this.place(app, region);
    return this.io.purgePrefix(p.bucket, p.folder + layout.tombstone(id));
  }

  /** Removes a restore point's verification record (every version) from one region. */
  removeVerification(app: string, region: string, id: string): Promise<number> {
    const p = this.place(app, region);
    return this.io.purgePrefix(p.bucket, p.folder + layout.verification(id));
  }

  /** Whether this region's bucket has S3 Object Lock enabled (GetObjectLockConfiguration). */
  objectLockEnabled(app: string, region: string): Promise<boolean> {
    const p = this.place(app, region);
    return objectLockEnabled(this.io.buckets.client(p.bucket), p.bucket.name);
  }

  /** Every object version (no delete markers) of a restore point in one region: manifest, artifacts, objects. */
  private async restorePointVersions(app: string, region: string, id: string): Promise<ObjectVersion[]> {
    const p = this.place(app, region);
    const out = new Map<string, ObjectVersion>();
    for (const prefix of [layout.manifest(id), layout.attemptFolder(id)]) {
      // Keyed by key and version: versitygw lists the version at a page boundary on both pages.
      for await (const v of this.io.versions(p.bucket, p.folder + prefix)) {
        if (!v.deleteMarker) out.set(`${v.key}\u0000${v.versionId ?? ''}`, v);
      }
    }
    return [...out.values()];
  }

  /**
   * Locks every version of a restore point in one region in compliance mode until at least
   * `until`: a version locked as long already is kept, any other gets `until` (never shorter).
   */
  async lockRestorePoint(
    app: string,
    region: string,
    id: string,
    until: string,
  ): Promise<{ versions: number; extended: number; kept: number }> {
    const p = this.place(app, region);
    const client = this.io.buckets.client(p.bucket);
    const versions = await this.restorePointVersions(app, region, id);
    const set = await mapLimit(versions, LOCK_CONCURRENCY, async (v) => {
      const current = await objectRetention(client, p.bucket.name, v.key, v.versionId);
      const date = retentionToSet(current, until);
      if (date) await putComplianceRetention(client, p.bucket.name, v.key, v.versionId, date);
      return date !== null;
    });
    const extended = set.filter(Boolean).length;
    return { versions: versions.length, extended, kept: versions.length - extended };
  }

  /** The latest retain-until date among a restore point's versions in one region (undefined: none). */
  async lockedUntil(app: string, region: string, id: string): Promise<string | undefined> {
    const p = this.place(app, region);
    const client = this.io.buckets.client(p.bucket);
    const versions = await this.restorePointVersions(app, region, id);
    const dates = await mapLimit(versions, LOCK_CONCURRENCY, async (v) => {
      const r = await objectRetention(client, p.bucket.name, v.key, v.versionId);
      return r?.retainUntil;
    });
    return latestDate(dates);
  }

  writeLock(app: string, region: string, lock: RestorePointLock): Promise<void> {
    const p = this.place(app, region);
    return this.io.putJson(p.bucket, p.folder + layout.lock(lock.restorePointId), lock);
  }

  readLock(app: string, region: string, id: string): Promise<RestorePointLock | null> {
    const p = this.place(app, region);
    return this.io.getJson<RestorePointLock>(p.bucket, p.folder + layout.lock(id));
  }

  /** Removes a restore point's lock record (every version) from one region, at its purge. */
  removeLock(app: string, region: string, id: string): Promise<number> {
    const p = this.place(app, region);
    return this.io.purgePrefix(p.bucket, p.folder + layout.lock(id));
  }

  close(): void {
    this.io.buckets.close();
  }
}

/** Retention reads and writes in flight per region while locking one restore point. */
const LOCK_CONCURRENCY = 8;
