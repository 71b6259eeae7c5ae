import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, type Transform } from 'node:stream';
import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
} from '@aws-sdk/client-s3';
import pino from 'pino';
import type { BucketPlace, ObjectIo } from '../../infra/backup/artifact.store';
import { type ArtifactRef, layout, type ObjectSetEntry } from '../../infra/backup/manifest';
import type { ArtifactSink, ArtifactSource, ServiceContext } from '../../infra/backup/service-adapter.port';
import type { BucketConfig, ServiceConfig } from '../../infra/config/config.schema';
import type { S3RegionInfo } from '../../infra/stack/stack-info';
import { localBucketConfig } from '../../infra/stack/app-config';
import { localS3Client } from '../../infra/stack/versitygw.component';
import { verifyingStream } from '../../infra/backup/artifact-io';

/**
 * Test doubles of the ArtifactSink and ArtifactSource the restore point activities hand to a
 * service adapter, over a real bucket (a BucketPlace on one of the harness's versitygw servers),
 * plus small stream helpers.
 */

/** A bucket of one of the harness's S3 servers, as configuration. */
export const bucketConfig = localBucketConfig;

/** Creates a bucket on a harness S3 server (versioned unless told otherwise; Object Lock when asked). */
export async function createBucket(
  region: S3RegionInfo,
  name: string,
  opts: { versioned?: boolean; objectLock?: boolean } = {},
): Promise<BucketConfig> {
  const s3 = localS3Client(region);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: name, ObjectLockEnabledForBucket: opts.objectLock }));
    if (opts.versioned ?? true) {
      await s3.send(
        new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
  } finally {
    s3.destroy();
  }
  return bucketConfig(region, name);
}

/** Every version and delete marker under `prefix`. */
export async function listVersions(
  io: ObjectIo,
  bucket: BucketConfig,
  prefix: string,
): Promise<{ key: string; versionId?: string; deleteMarker: boolean }[]> {
  const out = await io.buckets
    .client(bucket)
    .send(new ListObjectVersionsCommand({ Bucket: bucket.name, Prefix: prefix }));
  assert.ok(!out.IsTruncated, 'listVersions reads one page only');
  return [
    ...(out.Versions ?? []).map((v) => ({ key: v.Key!, versionId: v.VersionId, deleteMarker: false })),
    ...(out.DeleteMarkers ?? []).map((v) => ({ key: v.Key!, versionId: v.VersionId, deleteMarker: true })),
  ];
}

/** A service context for one region of `service`, recording its heartbeats. */
export function serviceContext<S extends ServiceConfig>(
  service: S,
  region: string,
  opts: { signal?: AbortSignal; restorePointId?: string } = {},
): ServiceContext<S> & { heartbeats: Record<string, unknown>[] } {
  const target = (service.regions as Record<string, S['regions'][string]>)[region];
  assert.ok(target, `service ${service.name} has no place in ${region}`);
  const heartbeats: Record<string, unknown>[] = [];
  return {
    app: 'shop',
    region,
    service,
    target,
    restorePointId: opts.restorePointId ?? 'shop-20260101T000000Z-00000000',
    heartbeat: (details) => heartbeats.push(details ?? {}),
    signal: opts.signal ?? new AbortController().signal,
    logger: pino({ level: 'silent' }),
    heartbeats,
  };
}

export interface TestSink extends ArtifactSink {
  place: BucketPlace;
}

/**
 * The sink of the restore point activities, written out plainly over one bucket place:
 * `<folder>restore-points/<id>/<service>.<ext>` and the object set under `<service>/`.
 * `beforeRead` runs once the adapter hands over its stream, before a byte of it is read.
 */
export function testSink(
  io: ObjectIo,
  place: BucketPlace,
  restorePointId: string,
  service: string,
  hooks: { beforeRead?: () => Promise<void> } = {},
): TestSink {
  const objectsPrefix = layout.objectsFolder(restorePointId, service);
  return {
    place,
    async put(body, opts) {
      await hooks.beforeRead?.();
      const key = layout.artifact(restorePointId, service, opts.extension);
      const stored = await io.upload(place.bucket, place.folder + key, body, {
        contentType: opts.contentType,
        onProgress: opts.onProgress,
      });
      return { key, size: stored.size, sha256: stored.sha256, contentType: opts.contentType };
    },
    objectSet() {
      return { bucket: place.bucket, prefix: place.folder + objectsPrefix, io };
    },
    async putListing(entries: ObjectSetEntry[]) {
      const key = layout.artifact(restorePointId, service, 'objects.jsonl');
      const text = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
      const stored = await io.upload(place.bucket, place.folder + key, Readable.from([Buffer.from(text)]), {
        contentType: 'application/x-ndjson',
      });
      return {
        key,
        size: stored.size,
        sha256: stored.sha256,
        contentType: 'application/x-ndjson',
        objects: {
          prefix: objectsPrefix,
          count: entries.length,
          bytes: entries.reduce((n, e) => n + e.size, 0),
        },
      };
    },
  };
}

function through(body: Readable, check: Transform): Readable {
  body.once('error', (err) => check.destroy(err));
  return body.pipe(check);
}

/** The source a restore reads: the artifact's bytes, hashed again while read (a mismatch fails at the end). */
export function testSource(io: ObjectIo, place: BucketPlace, artifact: ArtifactRef): ArtifactSource {
  return {
    artifact,
    async open() {
      const { body } = await io.open(place.bucket, place.folder + artifact.key);
      return through(body, verifyingStream(artifact.key, artifact));
    },
    async listing() {
      const { body } = await io.open(place.bucket, place.folder + artifact.key);
      const text = (await readAll(through(body, verifyingStream(artifact.key, artifact)))).toString('utf8');
      return text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as ObjectSetEntry);
    },
    async openObject(entry) {
      const key = place.folder + (artifact.objects?.prefix ?? '') + entry.key;
      const { body } = await io.open(place.bucket, key);
      return through(body, verifyingStream(entry.key, entry));
    },
  };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * `size` pseudo-random bytes from `seed` (xorshift32), generated chunk by chunk as they are read:
 * the same seed always gives the same bytes, and nothing is held beyond one chunk.
 */
export function generatedStream(size: number, seed: number, chunkSize = 1024 * 1024): Readable {
  let state = seed >>> 0 || 1;
  let left = size;
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(chunkSize, left);
      const words = new Uint32Array(Math.ceil(n / 4));
      for (let i = 0; i < words.length; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[i] = state >>> 0;
      }
      left -= n;
      this.push(Buffer.from(words.buffer, 0, n));
    },
  });
}

/** Reads `actual` through, comparing it with `expected` byte for byte; returns the length. */
export async function assertSameBytes(actual: Readable, expected: Readable): Promise<number> {
  const source = expected[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of actual) {
    let rest = chunk as Buffer;
    while (rest.length > 0) {
      if (pending.length === 0) {
        const next = await source.next();
        assert.ok(!next.done, `more bytes than expected (over ${offset})`);
        pending = next.value;
      }
      const n = Math.min(rest.length, pending.length);
      assert.ok(
        rest.subarray(0, n).equals(pending.subarray(0, n)),
        `bytes differ in [${offset}, ${offset + n})`,
      );
      rest = rest.subarray(n);
      pending = pending.subarray(n);
      offset += n;
    }
  }
  assert.ok(pending.length === 0 && (await source.next()).done, `fewer bytes than expected (${offset})`);
  return offset;
}
