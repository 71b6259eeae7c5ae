import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createObjectLockActivities } from '../../infra/activities/object-lock.activities';
import type { ControlStateRead } from '../../infra/storage/control-state.store';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import { RestorePointCatalog } from '../../infra/backup/catalog';
import { layout, MANIFEST_SCHEMA, restorePointIdOf } from '../../infra/backup/manifest';
import { lockUntil } from '../../workflows/object-lock';
import { TOMBSTONE_SCHEMA } from '../../workflows/soft-delete';
import { createBucket } from '../support/artifact-fixtures';
import { regionsConfig } from '../support/sql-fixtures';
import { stack, uniqueName } from '../support/stack';

/*
 * The lock activities against the harness's versitygw servers, with east's bucket lock-enabled (as
 * the harness creates it) and west on a versioned bucket without Object Lock: east locks the newest
 * N (skipping a soft-deleted one), west is `unsupported` and says so in its records and the
 * catalog; a later call with an earlier date keeps the later one (never shortened).
 */

const APP = 'audited';

describe('object lock activities on versitygw', () => {
  const prefix = `${uniqueName('lock')}/`;
  const config = regionsConfig(prefix);
  let store: ArtifactStore;
  let catalog: RestorePointCatalog;
  let locks: ReturnType<typeof createObjectLockActivities>;
  const ids: string[] = [];

  before(async () => {
    const west = stack().s3[1]!;
    const plain = await createBucket(west, uniqueName('sy-nolock'));
    config.apps[APP]!.regions[1]!.bucket = { ...plain, prefix };
    store = new ArtifactStore(config);
    catalog = new RestorePointCatalog(store);
    locks = createObjectLockActivities({ artifacts: store, catalog, logger: pino({ level: 'silent' }) });
    for (let i = 0; i < 3; i++) {
      const cutAt = new Date(Date.UTC(2026, 0, 1, 0, i));
      const id = restorePointIdOf(APP, cutAt, `0000000${i}`);
      ids.push(id);
      for (const region of ['east', 'west']) {
        await store.upload(APP, region, layout.artifact(id, 'orders', 'bin'), Readable.from([`data ${i}`]));
        await store.writeManifest(APP, region, {
          schema: MANIFEST_SCHEMA,
          id,
          app: APP,
          operationId: 'op-take',
          requestedBy: 'alice',
          reason: 'test',
          sourceRegion: 'east',
          epoch: 1,
          cutAt: cutAt.toISOString(),
          quiesce: { startedAt: cutAt.toISOString(), releasedAt: cutAt.toISOString(), durationMs: 0 },
          committedAt: cutAt.toISOString(),
          services: [],
          regions: ['east', 'west'],
          totalBytes: 0,
        });
      }
    }
  });

  after(() => store?.close());

  it('locks the newest N where the bucket has Object Lock, and records unsupported elsewhere', async () => {
    const [a, b, c] = ids as [string, string, string];
    const until = lockUntil(Date.now(), 8);
    const r = await locks.lockNewestRestorePoints({ app: APP, operationId: 'op-1', keepNewest: 2, until });
    assert.deepEqual(r.restorePointIds, [c, b]);
    const east = r.regions.find((x) => x.region === 'east')!;
    assert.deepEqual(
      { objectLock: east.objectLock, ids: east.restorePointIds, extended: east.extended, kept: east.kept },
      // manifest and artifact of each
      { objectLock: 'locked', ids: [c, b], extended: 4, kept: 0 },
    );
    assert.deepEqual(
      r.regions.find((x) => x.region === 'west'),
      {
        region: 'west',
        objectLock: 'unsupported',
        restorePointIds: [],
      },
    );
    assert.equal(await store.lockedUntil(APP, 'east', b), until);
    assert.equal(await store.lockedUntil(APP, 'east', a), undefined, 'the third newest is not locked');

    const shown = await catalog.get(b);
    assert.deepEqual(
      shown!.view.copies.map((x) => [x.region, x.objectLock, x.lockedUntil]),
      [
        ['east', 'locked', until],
        ['west', 'unsupported', undefined],
      ],
    );
    const locked = await locks.restorePointsLockedUntil({ app: APP, restorePointIds: [a, b] });
    assert.deepEqual(locked, {
      lockedUntil: until,
      regions: [{ region: 'east', lockedUntil: until }, { region: 'west' }],
    });
  });

  it('never shortens a lock, and skips a soft-deleted restore point', async () => {
    const [a, b, c] = ids as [string, string, string];
    const before = (await store.readLock(APP, 'east', b))!.lockedUntil!;
    await store.writeTombstone(APP, 'east', {
      schema: TOMBSTONE_SCHEMA,
      restorePointId: c,
      operationId: 'op-delete',
      deletedAt: new Date().toISOString(),
      undoableUntil: new Date(Date.now() + 60_000).toISOString(),
      by: 'alice',
      reason: 'test',
    });
    // An earlier date than b's (retainSeconds lowered since): b keeps its date, a is locked to the new one.
    const earlier = new Date(Date.parse(before) - 1000).toISOString();
    const r = await locks.lockNewestRestorePoints({
      app: APP,
      operationId: 'op-2',
      keepNewest: 2,
      until: earlier,
    });
    assert.deepEqual(r.restorePointIds, [b, a]);
    const east = r.regions.find((x) => x.region === 'east')!;
    assert.deepEqual([east.extended, east.kept], [2, 2]);
    assert.equal(await store.lockedUntil(APP, 'east', b), before, 'never shortened');
    assert.equal((await store.readLock(APP, 'east', b))!.lockedUntil, before);
    assert.equal(await store.lockedUntil(APP, 'east', a), earlier);
  });

  it('never locks in a region removed from the app', async () => {
    const removedWest = {
      read: () =>
        Promise.resolve({
          state: {
            tombstones: [
              {
                target: 'region:west',
                kind: 'region-remove',
                operationId: 'op-remove',
                deletedAt: new Date().toISOString(),
                undoableUntil: new Date(Date.now() + 60_000).toISOString(),
                by: 'alice',
                reason: 'test',
              },
            ],
          },
        } as unknown as ControlStateRead),
    };
    const withRemoval = createObjectLockActivities({
      artifacts: store,
      catalog,
      logger: pino({ level: 'silent' }),
      controlState: removedWest,
    });
    const until = lockUntil(Date.now(), 8);
    const r = await withRemoval.lockNewestRestorePoints({
      app: APP,
      operationId: 'op-3',
      keepNewest: 1,
      until,
    });
    assert.deepEqual(
      r.regions.find((x) => x.region === 'west'),
      {
        region: 'west',
        objectLock: 'removed',
        restorePointIds: [],
      },
    );
    assert.equal((await store.readLock(APP, 'west', ids[1]!))!.operationId, 'op-2', 'west untouched');
    assert.equal(r.regions.find((x) => x.region === 'east')!.objectLock, 'locked');
  });
});
