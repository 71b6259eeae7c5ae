import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { DeleteObjectCommand, GetObjectRetentionCommand } from '@aws-sdk/client-s3';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import type { RestorePointView } from '../../infra/backup/catalog';
import { layout } from '../../infra/backup/manifest';
import { localBucketConfig } from '../../infra/stack/app-config';
import type { RegionLockResult } from '../../workflows/object-lock';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { stack, waitFor } from '../support/stack';

/**
 * S3 Object Lock of the newest restore points end to end (docs/soft-deletes.md#object-lock), on
 * the shared versitygw servers (buckets created with Object Lock): after each commit the newest
 * two restore points carry a COMPLIANCE retention on every version in both regions, an older one
 * keeps the date it had; the bucket's own admin credentials cannot delete a locked version; a soft
 * delete of a locked restore point is accepted, and its purge waits for the lock's date (shown on
 * the step) before removing every version in every region.
 */
const KEEP_NEWEST = 2;
const RETAIN_SECONDS = 25;
const WINDOW_SECONDS = 2;
const RPO_SECONDS = 2;
const REGIONS = ['east', 'west'];

interface Taken {
  id: string;
  lockedUntil: string;
  regions: RegionLockResult[];
}

describe('object lock of the newest restore points', () => {
  let h: ApiHarness;
  let store: ArtifactStore;
  const mediaPrefix = `media-${randomBytes(4).toString('hex')}/`;
  const taken: Taken[] = [];

  before(async () => {
    const s3 = stack().s3;
    h = new ApiHarness(
      await startAppFixture({
        services: true,
        extraServices: [
          {
            name: 'media',
            type: 's3',
            regions: Object.fromEntries(
              s3.map((r) => [
                r.region,
                {
                  bucket: {
                    name: r.bucket,
                    endpoint: r.endpoint,
                    accessKeyId: r.accessKeyId,
                    secretAccessKey: r.secretAccessKey,
                  },
                  prefix: mediaPrefix,
                },
              ]),
            ),
          },
        ],
        restorePoints: { objectLock: { keepNewest: KEEP_NEWEST, retainSeconds: RETAIN_SECONDS } },
        softDelete: { windowSeconds: WINDOW_SECONDS },
        rpoSeconds: RPO_SECONDS,
      }),
    );
    await h.start({ listen: true });
    store = new ArtifactStore(h.fx.config);
    const io = store.io;
    for (const key of ['a.txt', 'dir/b.bin']) {
      await io.upload(localBucketConfig(s3[0]!), mediaPrefix + key, Readable.from([randomBytes(1024)]));
    }
  });

  after(async () => {
    for (const r of stack().s3) await store?.io.purgePrefix(localBucketConfig(r), mediaPrefix).catch(() => 0);
    store?.close();
    await h?.stop();
  });

  const app = () => h.fx.app;
  const op = () => h.as(h.fx.tokens.operator);

  async function takeRestorePoint(i: number): Promise<Taken> {
    const res = await h
      .http()
      .post(`/v1/apps/${app()}/restore-points`)
      .set(op())
      .send({ reason: `object lock test ${i}` });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId, restorePointId } = res.body as { operationId: string; restorePointId: string };
    const done = await h.phase(operationId, (p) => p !== 'Running', 'to end', 90_000);
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    const lock = done.steps.find((s) => s.name === 'lock')!;
    assert.equal(lock.status, 'Completed', JSON.stringify(lock));
    const facts = done.facts.objectLock as { lockedUntil: string; regions: RegionLockResult[] };
    return { id: restorePointId, ...facts };
  }

  /** Every version (no delete markers) of a restore point in one region, with its retention. */
  async function retentions(id: string, region: string) {
    const place = store.place(app(), region);
    const client = store.io.buckets.client(place.bucket);
    const out: { key: string; versionId?: string; mode?: string; until?: string }[] = [];
    for (const prefix of [layout.manifest(id), layout.attemptFolder(id)]) {
      for await (const v of store.io.versions(place.bucket, place.folder + prefix)) {
        if (v.deleteMarker) continue;
        const r = await client
          .send(
            new GetObjectRetentionCommand({ Bucket: place.bucket.name, Key: v.key, VersionId: v.versionId }),
          )
          .catch(() => null);
        out.push({
          key: v.key.slice(place.folder.length),
          versionId: v.versionId,
          mode: r?.Retention?.Mode,
          until: r?.Retention?.RetainUntilDate?.toISOString(),
        });
      }
    }
    return out;
  }

  /** Asserts every version of the restore point in both regions is locked COMPLIANCE until `until`. */
  async function assertLocked(id: string, until: string): Promise<void> {
    for (const region of REGIONS) {
      const versions = await retentions(id, region);
      // manifest, the orders dump, the ledger artifact, the media listing and its two objects
      assert.ok(versions.length >= 6, `${region}: ${JSON.stringify(versions)}`);
      assert.ok(
        versions.some((v) => v.key === layout.manifest(id)),
        `${region}: the manifest`,
      );
      assert.ok(
        versions.some((v) => v.key.endsWith('/media/dir/b.bin')),
        `${region}: an object of the s3 service`,
      );
      for (const v of versions) {
        assert.deepEqual(
          { key: v.key, mode: v.mode, until: v.until },
          { key: v.key, mode: 'COMPLIANCE', until },
        );
      }
    }
  }

  test('after each commit the newest two are locked in both regions; an older one keeps its date', async () => {
    for (let i = 0; i < 3; i++) taken.push(await takeRestorePoint(i));
    const [a, b, c] = taken as [Taken, Taken, Taken];
    for (const t of taken) {
      for (const r of t.regions) assert.equal(r.objectLock, 'locked', JSON.stringify(t.regions));
    }
    assert.ok(Date.parse(b.lockedUntil) > Date.parse(a.lockedUntil), 'each commit moves the date on');
    assert.ok(Date.parse(c.lockedUntil) > Date.parse(b.lockedUntil), 'each commit moves the date on');
    assert.deepEqual(c.regions.find((r) => r.region === 'east')!.restorePointIds, [c.id, b.id]);

    await assertLocked(c.id, c.lockedUntil);
    await assertLocked(b.id, c.lockedUntil);
    // A fell out at C's commit: still locked, until the date B's commit gave it, not extended.
    await assertLocked(a.id, b.lockedUntil);

    const cli = await h.cli(h.fx.tokens.viewer, 'restore-points', 'show', b.id);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(
      cli.stdout,
      new RegExp(`copies east \\(locked until ${c.lockedUntil}\\), west \\(locked until ${c.lockedUntil}\\)`),
    );
    const audit = await h.audit(`action=restore-point.locked`);
    const ofC = audit.filter((e) => (e.details as { lockedUntil?: string }).lockedUntil === c.lockedUntil);
    assert.equal(ofC.length, 1, JSON.stringify(audit.map((e) => e.details)));
    assert.deepEqual((ofC[0]!.details as { restorePointIds: string[] }).restorePointIds, [c.id, b.id]);

    const shown = await h.http().get(`/v1/restore-points/${b.id}`).set(h.as(h.fx.tokens.viewer)).expect(200);
    const copies = (shown.body as RestorePointView).copies;
    assert.deepEqual(
      copies.map((x) => ({ region: x.region, objectLock: x.objectLock, lockedUntil: x.lockedUntil })),
      REGIONS.map((region) => ({ region, objectLock: 'locked', lockedUntil: c.lockedUntil })),
    );
  });

  test('the bucket admin credentials cannot delete a locked version before its date', async () => {
    const c = taken[2]!;
    assert.ok(Date.now() < Date.parse(c.lockedUntil) - 1000, 'the test reached this point too late');
    for (const region of REGIONS) {
      const place = store.place(app(), region);
      const manifest = (await retentions(c.id, region)).find((v) => v.key === layout.manifest(c.id))!;
      const refused = await store.io.buckets
        .client(place.bucket)
        .send(
          new DeleteObjectCommand({
            Bucket: place.bucket.name,
            Key: place.folder + manifest.key,
            VersionId: manifest.versionId,
          }),
        )
        .then(
          () => null,
          (err: { name?: string }) => err.name,
        );
      assert.equal(refused, 'AccessDenied', `${region}: the delete of a locked version`);
      assert.ok(await store.readManifest(app(), region, c.id), `${region}: the manifest is still there`);
    }
  });

  test('a soft delete of a locked restore point is accepted; the purge waits for the date, then removes it all', async () => {
    const b = taken[1]!;
    const c = taken[2]!;
    // B must be older than the RPO window to be deletable.
    const manifest = (await store.readManifest(app(), 'east', b.id))!;
    const wait = Date.parse(manifest.cutAt) + RPO_SECONDS * 1000 + 200 - Date.now();
    if (wait > 0) await sleep(wait);
    const res = await h.http().delete(`/v1/restore-points/${b.id}?reason=locked%20delete`).set(op());
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId } = res.body as { operationId: string };

    // The window (2 s) ends long before the lock (C's commit + 25 s): the purge step shows the wait.
    const waiting = await waitFor(
      async () => {
        const o = await h.operation(operationId);
        const purge = o.steps.find((s) => s.name === 'purge')!;
        return purge.status === 'Running' && /^locked until /.test(purge.detail ?? '') ? o : false;
      },
      { what: 'the purge to wait for the lock', timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.equal(waiting.phase, 'Running');
    assert.equal(waiting.facts.lockedUntil, c.lockedUntil);
    assert.match(
      waiting.steps.find((s) => s.name === 'purge')!.detail!,
      new RegExp(`^locked until ${c.lockedUntil} \\(east, west\\)`),
    );
    for (const region of REGIONS) {
      assert.ok((await retentions(b.id, region)).length >= 6, `${region}: nothing removed while locked`);
    }

    const done: OperationStatus = await h.phase(
      operationId,
      (p) => p !== 'Running',
      'to purge',
      RETAIN_SECONDS * 1000 + 30_000,
    );
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    const purge = done.steps.find((s) => s.name === 'purge')!;
    assert.ok(
      Date.parse(purge.endedAt!) >= Date.parse(c.lockedUntil),
      `${purge.endedAt} before ${c.lockedUntil}`,
    );
    assert.match(
      purge.detail!,
      /east: \d+ object version\(s\) removed; west: \d+ object version\(s\) removed/,
    );
    for (const region of REGIONS) {
      const place = store.place(app(), region);
      const left: string[] = [];
      for (const prefix of [
        layout.manifest(b.id),
        layout.attemptFolder(b.id),
        layout.lock(b.id),
        layout.tombstone(b.id),
      ]) {
        for await (const v of store.io.versions(place.bucket, place.folder + prefix)) left.push(v.key);
      }
      assert.deepEqual(left, [], `${region}: every version purged`);
    }
  });
});
