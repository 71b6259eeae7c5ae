import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { ArtifactMismatchError, ArtifactStore, HashingCounter } from '../../infra/backup/artifact.store';
import { MANIFEST_SCHEMA, type RestorePointManifest } from '../../infra/backup/manifest';
import type { BucketConfig } from '../../infra/config/config.schema';
import {
  assertSameBytes,
  createBucket,
  generatedStream,
  listVersions,
  readAll,
  sha256,
} from '../support/artifact-fixtures';
import { regionsConfig } from '../support/sql-fixtures';
import { stack, uniqueName } from '../support/stack';

/*
 * The artifact store against the harness's two versitygw servers (east, west; versioned buckets):
 * streaming uploads and reads, copies between regions (streamed) and between two buckets of one
 * server (server-side), checksum enforcement, cleanup of every version, manifest listing.
 */

const APP = 'audited';
const BIG = 50 * 1024 * 1024;
const SEED = 0x5eed;

async function sha256Of(stream: Readable): Promise<{ size: number; sha256: string }> {
  const counter = new HashingCounter();
  for await (const _ of stream.pipe(counter));
  return { size: counter.bytes, sha256: counter.digest() };
}

describe('artifact store on versitygw', () => {
  const prefix = `${uniqueName('store')}/`;
  const store = new ArtifactStore(regionsConfig(prefix));
  const [east, west] = stack().s3;
  let second: BucketConfig;
  let big: { size: number; sha256: string };

  before(async () => {
    assert.ok(east && west, 'the harness has two S3 regions');
    second = { ...(await createBucket(east, uniqueName('sy-second'))), prefix };
    big = await sha256Of(generatedStream(BIG, SEED));
  });

  after(() => store.close());

  it('streams a 50 MiB upload and reads it back byte for byte', async (t) => {
    const started = Date.now();
    let progress = 0;
    const stored = await store.upload(APP, 'east', 'big.bin', generatedStream(BIG, SEED), {
      onProgress: (n) => (progress = n),
    });
    const uploadMs = Date.now() - started;
    assert.equal(stored.size, BIG);
    assert.equal(stored.sha256, big.sha256);
    assert.equal(progress, BIG, 'progress reports every byte');
    assert.ok(stored.versionId, 'the versioned bucket names the version');

    assert.deepEqual(await store.head(APP, 'east', 'big.bin'), { size: BIG, sha256: undefined });
    const hashed = await store.hash(APP, 'east', 'big.bin');
    assert.deepEqual(hashed, { size: BIG, sha256: big.sha256, versionId: stored.versionId });

    const opened = await store.open(APP, 'east', 'big.bin', stored.versionId);
    assert.equal(opened.size, BIG);
    assert.equal(await assertSameBytes(opened.body, generatedStream(BIG, SEED)), BIG);
    t.diagnostic(`50 MiB upload ${uploadMs} ms, total ${Date.now() - started} ms`);
  });

  it('copies between regions streamed, and a retried copy finds it already present', async (t) => {
    await store.upload(APP, 'east', 'copied.bin', generatedStream(BIG, SEED));
    const started = Date.now();
    const first = await store.copy(APP, 'east', 'west', 'copied.bin', big);
    const copyMs = Date.now() - started;
    assert.deepEqual(first, { method: 'streamed', bytes: BIG });
    assert.deepEqual(await store.head(APP, 'west', 'copied.bin'), big, 'the copy records its SHA-256');
    const { body } = await store.open(APP, 'west', 'copied.bin');
    await assertSameBytes(body, generatedStream(BIG, SEED));

    assert.deepEqual(await store.copy(APP, 'east', 'west', 'copied.bin', big), {
      method: 'already-present',
      bytes: 0,
    });
    t.diagnostic(`50 MiB copy east → west (streamed) ${copyMs} ms`);
  });

  it('copies between two buckets of one server without the bytes leaving it', async (t) => {
    const from = store.place(APP, 'east');
    const data = Buffer.from('server-side copy '.repeat(1000));
    const expect = { size: data.length, sha256: sha256(data), contentType: 'text/plain' };
    await store.io.upload(from.bucket, `${from.folder}small.txt`, Readable.from([data]));
    let progress = 0;
    const copied = await store.io.copy(
      from.bucket,
      `${from.folder}small.txt`,
      second,
      `${prefix}small.txt`,
      expect,
      { onProgress: (n) => (progress = n) },
    );
    assert.deepEqual(copied, { method: 'server-side', bytes: data.length });
    assert.equal(progress, data.length);
    assert.deepEqual(await store.io.head(second, `${prefix}small.txt`), {
      size: data.length,
      sha256: expect.sha256,
    });
    const { body } = await store.io.open(second, `${prefix}small.txt`);
    assert.deepEqual(await readAll(body), data);
    assert.equal(
      (await store.io.copy(from.bucket, `${from.folder}small.txt`, second, `${prefix}small.txt`, expect))
        .method,
      'already-present',
    );

    const bigStarted = Date.now();
    const bigCopy = await store.io.copy(
      from.bucket,
      `${from.folder}big.bin`,
      second,
      `${prefix}big.bin`,
      big,
    );
    assert.equal(bigCopy.method, 'server-side');
    t.diagnostic(`50 MiB copy within east (server-side) ${Date.now() - bigStarted} ms`);
    assert.equal((await store.io.hash(second, `${prefix}big.bin`)).sha256, big.sha256);
  });

  it('refuses a copy whose bytes do not hash as expected, and leaves nothing behind', async () => {
    const from = store.place(APP, 'east');
    const data = Buffer.from('the real bytes');
    await store.upload(APP, 'east', 'liar.txt', Readable.from([data]));
    const wrong = { size: data.length, sha256: sha256('other bytes') };

    // Streamed (east → west): the upload is hashed on the way and its version removed.
    await assert.rejects(store.copy(APP, 'east', 'west', 'liar.txt', wrong), ArtifactMismatchError);
    const to = store.place(APP, 'west');
    assert.equal(await store.head(APP, 'west', 'liar.txt'), null);
    assert.deepEqual(await listVersions(store.io, to.bucket, `${to.folder}liar.txt`), []);

    // Server-side (east → second east bucket): the copy is checked too.
    await assert.rejects(
      store.io.copy(from.bucket, `${from.folder}liar.txt`, second, `${prefix}liar.txt`, wrong),
      ArtifactMismatchError,
    );
    assert.equal(await store.io.head(second, `${prefix}liar.txt`), null);
    assert.deepEqual(await listVersions(store.io, second, `${prefix}liar.txt`), []);

    // A wrong size is refused as well, whichever path.
    const short = { size: data.length - 1, sha256: sha256(data) };
    await assert.rejects(store.copy(APP, 'east', 'west', 'liar.txt', short), ArtifactMismatchError);
    await assert.rejects(
      store.io.copy(from.bucket, `${from.folder}liar.txt`, second, `${prefix}liar.txt`, short),
      ArtifactMismatchError,
    );
    assert.deepEqual(await listVersions(store.io, to.bucket, `${to.folder}liar.txt`), []);
    assert.deepEqual(await listVersions(store.io, second, `${prefix}liar.txt`), []);
  });

  it('purgePrefix removes every version and delete marker under the prefix, and nothing else', async () => {
    const place = store.place(APP, 'west');
    const folder = `${place.folder}purge/`;
    for (const body of ['v1', 'v2', 'v3']) {
      await store.io.upload(place.bucket, `${folder}a.txt`, Readable.from([Buffer.from(body)]));
    }
    await store.io.upload(place.bucket, `${folder}deep/b.txt`, Readable.from([Buffer.from('b')]));
    await store.io.upload(place.bucket, `${folder}gone.txt`, Readable.from([Buffer.from('g')]));
    await store.io.deleteObject(place.bucket, `${folder}gone.txt`);
    await store.io.upload(
      place.bucket,
      `${place.folder}purge-sibling.txt`,
      Readable.from([Buffer.from('s')]),
    );

    const before = await listVersions(store.io, place.bucket, folder);
    assert.equal(before.length, 6, 'three versions of a, one of b, gone and its delete marker');
    assert.equal(await store.io.purgePrefix(place.bucket, folder), 6);
    assert.deepEqual(await listVersions(store.io, place.bucket, folder), []);
    assert.ok(await store.io.head(place.bucket, `${place.folder}purge-sibling.txt`), 'a sibling key stays');
  });

  it('lists the ids of the manifests in a region, and nothing else in that folder', async () => {
    const ids = [
      'audited-20260102T000000Z-0000000b',
      'audited-20260101T000000Z-0000000a',
      'audited-20260103T000000Z-0000000c',
    ];
    for (const id of ids) await store.writeManifest(APP, 'east', manifest(id));
    const place = store.place(APP, 'east');
    const noise = ['manifests/notes.txt', 'manifests/nested/x.json', 'restore-points/y.json'];
    for (const k of noise)
      await store.io.upload(place.bucket, place.folder + k, Readable.from([Buffer.from('{}')]));

    assert.deepEqual(await store.listManifestIds(APP, 'east'), [...ids].sort());
    assert.deepEqual(await store.listManifestIds(APP, 'west'), []);
    assert.deepEqual(await store.readManifest(APP, 'east', ids[0]!), manifest(ids[0]!));
    assert.equal(await store.readManifest(APP, 'east', 'audited-20260104T000000Z-0000000d'), null);

    assert.equal(await store.purge(APP, 'east', ids[1]!), 1);
    assert.deepEqual(await store.listManifestIds(APP, 'east'), [ids[0]!, ids[2]!]);
  });
});

function manifest(id: string): RestorePointManifest {
  return {
    schema: MANIFEST_SCHEMA,
    id,
    app: APP,
    operationId: 'op-1',
    requestedBy: 'alice',
    reason: 'test',
    sourceRegion: 'east',
    epoch: 1,
    cutAt: '2026-01-01T00:00:00.000Z',
    quiesce: {
      startedAt: '2026-01-01T00:00:00.000Z',
      releasedAt: '2026-01-01T00:00:01.000Z',
      durationMs: 1000,
    },
    committedAt: '2026-01-01T00:00:02.000Z',
    services: [],
    regions: ['east', 'west'],
    totalBytes: 0,
  };
}
