import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ArtifactMismatchError, ObjectIo } from '../../infra/backup/artifact.store';
import type { ArtifactRef } from '../../infra/backup/manifest';
import { S3PrefixAdapter } from '../../infra/backup/s3-prefix.adapter';
import type { ServiceOf } from '../../infra/backup/service-adapter.port';
import type { BucketConfig } from '../../infra/config/config.schema';
import {
  assertSameBytes,
  bucketConfig,
  createBucket,
  generatedStream,
  readAll,
  serviceContext,
  sha256,
  testSink,
  testSource,
} from '../support/artifact-fixtures';
import { stack, uniqueName } from '../support/stack';

/*
 * The S3 prefix adapter against the harness's versitygw servers: an app's prefix on the east
 * server, backed up into the west backup bucket (streamed copies) and into a second bucket of the
 * east server (server-side copies), then restored over a changed prefix.
 */

type S3Service = ServiceOf<'s3'>;

const BIG = 6 * 1024 * 1024 + 123;

/** The app's data: nested keys, an empty object, one of several MiB (generated from a seed). */
const ORIGINALS: Record<string, { body: () => Readable; contentType: string }> = {
  'a.txt': { body: () => Readable.from([Buffer.from('alpha\n')]), contentType: 'text/plain' },
  'nested/b/c.json': { body: () => Readable.from([Buffer.from('{"c":1}')]), contentType: 'application/json' },
  'nested/d.bin': { body: () => generatedStream(70_000, 7), contentType: 'application/octet-stream' },
  empty: { body: () => Readable.from([]), contentType: 'application/octet-stream' },
  'big.bin': { body: () => generatedStream(BIG, 42), contentType: 'application/octet-stream' },
  'with space+plus.txt': { body: () => Readable.from([Buffer.from('odd key')]), contentType: 'text/plain' },
};
const KEYS = Object.keys(ORIGINALS).sort();

function serviceAt(bucket: BucketConfig, prefix: string): S3Service {
  return { name: 'media', type: 's3', dependsOn: [], regions: { east: { bucket, prefix } } };
}

/** An ObjectIo whose writes wait until `before` has run once: a hook between listing and copying. */
class GatedIo extends ObjectIo {
  private gate: Promise<void> | undefined;

  constructor(private readonly before: () => Promise<void>) {
    super();
  }

  private opened() {
    return (this.gate ??= this.before());
  }

  override async copy(...args: Parameters<ObjectIo['copy']>) {
    await this.opened();
    return super.copy(...args);
  }

  override async upload(...args: Parameters<ObjectIo['upload']>) {
    await this.opened();
    return super.upload(...args);
  }
}

describe('s3 prefix adapter', () => {
  const io = new ObjectIo();
  const adapter = new S3PrefixAdapter(io);
  const [east, west] = stack().s3;
  const root = `${uniqueName('s3-adapter')}/`;
  const prefix = `${root}data/`;
  let source: BucketConfig;
  let second: BucketConfig;

  const put = (bucket: BucketConfig, key: string, body: Readable, contentType?: string) =>
    io.upload(bucket, key, body, { contentType });

  /** The prefix's keys (relative) and each one's SHA-256. */
  async function state(bucket: BucketConfig, at = prefix): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for await (const o of io.list(bucket, at))
      out[o.key.slice(at.length)] = (await io.hash(bucket, o.key)).sha256;
    return out;
  }

  async function originalHashes(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const k of KEYS) out[k] = sha256(await readAll(ORIGINALS[k]!.body()));
    return out;
  }

  before(async () => {
    assert.ok(east && west);
    source = bucketConfig(east);
    second = await createBucket(east, uniqueName('sy-backup'));
    for (const k of KEYS) await put(source, prefix + k, ORIGINALS[k]!.body(), ORIGINALS[k]!.contentType);
    // Neighbours the service does not own: never copied, never touched by a restore.
    await put(source, `${root}data-sibling.txt`, Readable.from([Buffer.from('sibling')]));
    await put(source, `${root}other/x.txt`, Readable.from([Buffer.from('other')]));
  });

  after(async () => {
    await io.purgePrefix(source, root);
    await io.purgePrefix(bucketConfig(west!), root);
    await io.purgePrefix(second, '');
    io.buckets.close();
  });

  it('marks the prefix: object count, bytes, newest modification', async () => {
    const ctx = serviceContext(serviceAt(source, prefix), 'east');
    const marker = await adapter.marker(ctx);
    assert.equal(marker.objects, KEYS.length);
    assert.equal(marker.bytes, 6 + 7 + 70_000 + 0 + BIG + 7);
    assert.ok(Date.now() - Date.parse(String(marker.newestLastModified)) < 120_000);
    await adapter.quiesce();
    await adapter.release();
    assert.deepEqual(await adapter.verify(ctx), {
      ok: true,
      detail: `s3://${source.name}/${prefix}: ${KEYS.length} objects`,
    });
  });

  let streamed: { artifact: ArtifactRef; place: { bucket: BucketConfig; folder: string } };
  let serverSide: { artifact: ArtifactRef; place: { bucket: BucketConfig; folder: string } };

  it('snapshots into the west backup bucket (streamed), pinned to the versions current at the cut', async (t) => {
    const originals = await originalHashes();
    // Between the listing and the first copy, the app changes its prefix.
    const gated = new GatedIo(async () => {
      await put(source, `${prefix}a.txt`, Readable.from([Buffer.from('changed after the cut')]));
      await io.deleteObject(source, `${prefix}nested/d.bin`);
      await put(source, `${prefix}late.txt`, Readable.from([Buffer.from('late')]));
    });
    const place = { bucket: bucketConfig(west!), folder: `${root}backup/` };
    const ctx = serviceContext(serviceAt(source, prefix), 'east');
    const sink = testSink(io, place, ctx.restorePointId, 'media');
    const started = Date.now();
    const result = await adapter.snapshot(ctx, {
      ...sink,
      objectSet: () => ({ ...sink.objectSet(), io: gated }),
    });
    const ms = Date.now() - started;
    streamed = { artifact: result.artifact, place };

    assert.deepEqual(result.marker, {
      objects: KEYS.length,
      bytes: result.artifact.objects!.bytes,
      versioned: true,
    });
    assert.deepEqual(ctx.heartbeats.at(-1)?.methods, {
      'server-side': 0,
      streamed: KEYS.length,
      'already-present': 0,
    });
    const listing = await testSource(io, place, result.artifact).listing();
    assert.deepEqual(
      listing.map((e) => e.key),
      KEYS,
      'sorted by key; late.txt is not in the cut',
    );
    assert.deepEqual(Object.fromEntries(listing.map((e) => [e.key, e.sha256])), originals);
    assert.ok(
      listing.every((e) => e.sourceVersionId),
      'each entry names the version copied',
    );
    assert.equal(listing.find((e) => e.key === 'nested/b/c.json')?.contentType, 'application/json');
    assert.deepEqual(
      await state(place.bucket, place.folder + result.artifact.objects!.prefix),
      originals,
      'the copies hold the bytes of the cut',
    );
    t.diagnostic(`${KEYS.length} objects (${(BIG / 2 ** 20).toFixed(1)} MiB) east → west streamed: ${ms} ms`);
  });

  it('snapshots into a second bucket of the same server by server-side copies', async (t) => {
    const place = { bucket: second, folder: `${root}backup/` };
    const ctx = serviceContext(serviceAt(source, prefix), 'east');
    const started = Date.now();
    const result = await adapter.snapshot(ctx, testSink(io, place, ctx.restorePointId, 'media'));
    const ms = Date.now() - started;
    serverSide = { artifact: result.artifact, place };
    const keys = [...KEYS, 'late.txt'].filter((k) => k !== 'nested/d.bin').sort();
    assert.deepEqual(ctx.heartbeats.at(-1)?.methods, {
      'server-side': keys.length,
      streamed: 0,
      'already-present': 0,
    });
    const listing = await testSource(io, place, result.artifact).listing();
    assert.deepEqual(
      listing.map((e) => e.key),
      keys,
    );
    assert.deepEqual(
      await state(place.bucket, place.folder + result.artifact.objects!.prefix),
      Object.fromEntries(listing.map((e) => [e.key, e.sha256])),
    );
    t.diagnostic(`${listing.length} objects within east (server-side): ${ms} ms`);
  });

  it('restores the cut over a changed prefix: same bytes, extras removed, neighbours untouched', async (t) => {
    await put(source, `${prefix}big.bin`, Readable.from([Buffer.from('truncated')]));
    await io.deleteObject(source, `${prefix}empty`);
    await put(source, `${prefix}nested/extra/deep.txt`, Readable.from([Buffer.from('extra')]));
    const ctx = serviceContext(serviceAt(source, prefix), 'east');
    const started = Date.now();
    const result = await adapter.restore(ctx, testSource(io, streamed.place, streamed.artifact));
    const ms = Date.now() - started;
    assert.equal(
      result.detail,
      `${KEYS.length} objects restored, 2 removed`,
      'late.txt and nested/extra/deep.txt',
    );

    assert.deepEqual(await state(source), await originalHashes());
    for (const k of KEYS) {
      const { body } = await io.open(source, prefix + k);
      await assertSameBytes(body, ORIGINALS[k]!.body());
    }
    const head = await io.buckets
      .client(source)
      .send(new HeadObjectCommand({ Bucket: source.name, Key: `${prefix}nested/b/c.json` }));
    assert.equal(head.ContentType, 'application/json');
    assert.deepEqual(await state(source, root), {
      ...Object.fromEntries(Object.entries(await state(source)).map(([k, v]) => [`data/${k}`, v])),
      'data-sibling.txt': sha256('sibling'),
      'other/x.txt': sha256('other'),
    });
    assert.deepEqual(await adapter.verify(ctx), {
      ok: true,
      detail: `s3://${source.name}/${prefix}: ${KEYS.length} objects`,
    });
    t.diagnostic(`restore of ${KEYS.length} objects west → east: ${ms} ms`);
  });

  it('restores the other copy as well; a second restore changes nothing it does not have to', async () => {
    const ctx = serviceContext(serviceAt(source, prefix), 'east');
    const first = await adapter.restore(ctx, testSource(io, serverSide.place, serverSide.artifact));
    const listing = await testSource(io, serverSide.place, serverSide.artifact).listing();
    assert.equal(
      first.detail,
      `${listing.length} objects restored, 1 removed`,
      'nested/d.bin is not in that cut',
    );
    assert.deepEqual(await state(source), Object.fromEntries(listing.map((e) => [e.key, e.sha256])));
    const again = await adapter.restore(ctx, testSource(io, serverSide.place, serverSide.artifact));
    assert.equal(again.detail, `${listing.length} objects restored, 0 removed`);
  });

  it('refuses an object whose copy no longer matches the listing, and keeps the target object', async () => {
    const objects = streamed.place.folder + streamed.artifact.objects!.prefix;
    await put(streamed.place.bucket, `${objects}a.txt`, Readable.from([Buffer.from('bit rot')]));
    const current = (await io.hash(source, `${prefix}a.txt`)).sha256;
    const ctx = serviceContext(serviceAt(source, prefix), 'east');
    await assert.rejects(
      adapter.restore(ctx, testSource(io, streamed.place, streamed.artifact)),
      ArtifactMismatchError,
    );
    assert.equal((await io.hash(source, `${prefix}a.txt`)).sha256, current);
  });

  it('snapshots an unversioned bucket by hashing exactly the bytes it stores', async () => {
    const plain = await createBucket(east!, uniqueName('sy-plain'), { versioned: false });
    try {
      for (const k of ['one.txt', 'two/three.txt'])
        await put(plain, `p/${k}`, Readable.from([Buffer.from(k)]));
      const place = { bucket: bucketConfig(west!), folder: `${root}plain-backup/` };
      const ctx = serviceContext(serviceAt(plain, 'p/'), 'east');
      const result = await adapter.snapshot(ctx, testSink(io, place, ctx.restorePointId, 'media'));
      const listing = await testSource(io, place, result.artifact).listing();
      assert.deepEqual(listing, [
        { key: 'one.txt', size: 7, sha256: sha256('one.txt'), contentType: 'application/octet-stream' },
        {
          key: 'two/three.txt',
          size: 13,
          sha256: sha256('two/three.txt'),
          contentType: 'application/octet-stream',
        },
      ]);
      assert.equal(result.marker?.versioned, false);

      await put(plain, 'p/one.txt', Readable.from([Buffer.from('overwritten')]));
      await put(plain, 'p/new.txt', Readable.from([Buffer.from('new')]));
      const restored = await adapter.restore(ctx, testSource(io, place, result.artifact));
      assert.equal(restored.detail, '2 objects restored, 1 removed');
      assert.deepEqual(await state(plain, 'p/'), {
        'one.txt': sha256('one.txt'),
        'two/three.txt': sha256('two/three.txt'),
      });
    } finally {
      await io.purgePrefix(plain, '');
    }
  });
});
