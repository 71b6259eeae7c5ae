import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import type { RestorePointView } from '../../infra/backup/catalog';
import { layout } from '../../infra/backup/manifest';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture, startWorker } from '../support/app-fixture';

/**
 * Soft deletes of restore points end to end (docs/soft-deletes.md): tombstones in both regions'
 * buckets, hidden and never restored from, undo (by the CLI) that brings back the same bytes, the
 * purge by the workflow's durable timer (across a kill -9 of the worker), and the guard rails.
 */
const WINDOW_SECONDS = 20;
const RPO_SECONDS = 12;
const REGIONS = ['east', 'west'];

describe('soft deletes of restore points', () => {
  let h: ApiHarness;
  let store: ArtifactStore;
  const points: { id: string; cutAt: string }[] = [];

  before(async () => {
    h = new ApiHarness(
      await startAppFixture({
        services: true,
        softDelete: { windowSeconds: WINDOW_SECONDS },
        rpoSeconds: RPO_SECONDS,
      }),
    );
    await h.start({ listen: true });
    store = new ArtifactStore(h.fx.config);
  });

  after(async () => {
    store?.close();
    await h?.stop();
  });

  const app = () => h.fx.app;
  const op = () => h.as(h.fx.tokens.operator);

  const del = (id: string, reason = 'soft delete test') =>
    h
      .http()
      .delete(`/v1/restore-points/${id}?reason=${encodeURIComponent(reason)}`)
      .set(op());

  const undo = (id: string) =>
    h.http().post(`/v1/operations/${id}/undo`).set(op()).send({ reason: 'undo in test' });

  async function list(include = false): Promise<RestorePointView[]> {
    const res = await h
      .http()
      .get(`/v1/apps/${app()}/restore-points${include ? '?include=deleted' : ''}`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    return (res.body as { items: RestorePointView[] }).items;
  }

  /** Manifest and every artifact (and object) of a restore point in every region, hashed. */
  async function fingerprint(id: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const region of REGIONS) {
      const manifest = await store.readManifest(app(), region, id);
      out[`${region}:manifest`] = manifest;
      const place = store.place(app(), region);
      for await (const o of store.io.list(place.bucket, place.folder + layout.attemptFolder(id))) {
        const key = o.key.slice(place.folder.length);
        out[`${region}:${key}`] = await store.hash(app(), region, key);
      }
    }
    return out;
  }

  async function objectsLeft(id: string): Promise<string[]> {
    const left: string[] = [];
    for (const region of REGIONS) {
      const place = store.place(app(), region);
      for (const prefix of [layout.attemptFolder(id), layout.manifest(id), layout.tombstone(id)]) {
        for await (const o of store.io.list(place.bucket, place.folder + prefix))
          left.push(`${region}:${o.key}`);
      }
    }
    return left;
  }

  const tombstones = (id: string) => Promise.all(REGIONS.map((r) => store.readTombstone(app(), r, id)));

  test('three restore points; the guard rails refuse the newest and those inside the RPO window', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await h
        .http()
        .post(`/v1/apps/${app()}/restore-points`)
        .set(op())
        .send({ reason: `soft delete test ${i}` });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const { operationId, restorePointId } = res.body as { operationId: string; restorePointId: string };
      const done = await h.phase(operationId, (p) => p !== 'Running', 'to end', 90_000);
      assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
      points.push({ id: restorePointId, cutAt: (done.facts.manifest as { cutAt: string }).cutAt });
    }
    const [, b, c] = points;

    // B was cut seconds ago: inside the 12 s RPO window.
    assert.ok(
      Date.now() - Date.parse(b!.cutAt) < RPO_SECONDS * 1000,
      'the test took too long to be meaningful',
    );
    const inRpo = await del(b!.id);
    assert.equal(inRpo.status, 409, JSON.stringify(inRpo.body));
    assert.equal(inRpo.body.error, 'restore-point-in-rpo-window');

    // C is the newest (none is verified): the app's last way back.
    const newest = await del(c!.id);
    assert.equal(newest.status, 409, JSON.stringify(newest.body));
    assert.equal(newest.body.error, 'restore-point-protected');
    assert.match(newest.body.message as string, /without a way back/);

    const missing = await del(`${app()}-20200101T000000Z-00000000`);
    assert.equal(missing.status, 404);
    assert.equal((await tombstones(b!.id)).filter(Boolean).length, 0, 'a refusal changes nothing');
    assert.equal((await tombstones(c!.id)).filter(Boolean).length, 0, 'a refusal changes nothing');
  });

  test('delete hides it everywhere, restore refuses it, undo (CLI) brings back the same bytes', async () => {
    const [a, , c] = points;
    // Wait until A and B are outside the RPO window.
    const wait = Date.parse(points[1]!.cutAt) + RPO_SECONDS * 1000 + 500 - Date.now();
    if (wait > 0) await sleep(wait);

    const before = await fingerprint(a!.id);
    assert.ok(Object.keys(before).length >= 4, JSON.stringify(Object.keys(before)));

    const res = await del(a!.id, 'no longer needed');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId, undoableUntil } = res.body as { operationId: string; undoableUntil: string };
    assert.match(operationId, new RegExp(`^${app()}-[0-9a-f-]{36}$`));
    const untilMs = Date.parse(undoableUntil);
    assert.ok(Math.abs(untilMs - (Date.now() + WINDOW_SECONDS * 1000)) < 5000, undoableUntil);

    const undoable: OperationStatus = await h.phase(operationId, (p) => p !== 'Running', 'to be undoable');
    assert.equal(undoable.phase, 'Undoable', JSON.stringify(undoable.error));
    assert.equal(undoable.kind, 'restore-point-delete');
    assert.equal(undoable.facts.undoableUntil, undoableUntil);

    // A tombstone in both regions; hidden by default, marked with include=deleted.
    const t = await tombstones(a!.id);
    assert.ok(
      t.every((x) => x?.operationId === operationId && x.undoableUntil === undoableUntil && x.by === 'alice'),
      JSON.stringify(t),
    );
    assert.ok(!(await list()).some((i) => i.id === a!.id), 'hidden by default');
    const marked = (await list(true)).find((i) => i.id === a!.id);
    assert.equal(marked?.deleted?.operationId, operationId);
    assert.equal(marked?.deleted?.reason, 'no longer needed');
    const one = await h.http().get(`/v1/restore-points/${a!.id}`).set(h.as(h.fx.tokens.viewer)).expect(200);
    assert.equal((one.body as RestorePointView).deleted?.undoableUntil, undoableUntil);

    // Never restored from.
    const restore = await h
      .http()
      .post(`/v1/apps/${app()}/restores`)
      .set(op())
      .send({ restorePointId: a!.id, region: 'west', reason: 'restore a deleted one' });
    assert.equal(restore.status, 409, JSON.stringify(restore.body));
    assert.equal(restore.body.error, 'restore-point-deleted');

    // A second delete is refused.
    const twice = await del(a!.id);
    assert.equal(twice.status, 409, JSON.stringify(twice.body));
    assert.equal(twice.body.error, 'restore-point-already-deleted');
    assert.equal(twice.body.details.operationId, operationId);

    // Listed as pending, with its window.
    const pending = await h
      .http()
      .get(`/v1/operations?app=${app()}&kind=restore-point-delete&phase=Undoable`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    const items = (pending.body as { items: { operationId: string; undoableUntil?: string }[] }).items;
    assert.deepEqual(
      items.map((i) => [i.operationId, i.undoableUntil]),
      [[operationId, undoableUntil]],
    );
    const cliPending = await h.cli(h.fx.tokens.viewer, 'pending-deletes', app());
    assert.equal(cliPending.code, 0, cliPending.stderr);
    assert.match(cliPending.stdout, new RegExp(operationId));
    assert.match(cliPending.stdout, new RegExp(a!.id));

    // Undo through the CLI.
    const cli = await h.cli(h.fx.tokens.operator, 'undo', operationId, '--reason', 'deleted the wrong one');
    assert.equal(cli.code, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /is back/);
    const done = await h.operation(operationId);
    assert.equal(done.phase, 'Undone');
    assert.equal(done.steps.find((s) => s.name === 'purge')?.status, 'Skipped');
    assert.deepEqual((await tombstones(a!.id)).filter(Boolean), []);
    assert.ok(
      (await list()).some((i) => i.id === a!.id),
      'listed again',
    );
    assert.deepEqual(await fingerprint(a!.id), before, 'byte for byte');

    // Undone already: refused.
    const again = await undo(operationId);
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body.error, 'already-undone');
    assert.ok(c);
  });

  test('the window passes across a kill -9 of the worker: purged once, on time; an undo right after the restart wins', async () => {
    const [a, b] = points;
    const first = await del(a!.id, 'purge it');
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const purgeOp = first.body as { operationId: string; undoableUntil: string };
    const second = await del(b!.id, 'undo it after a crash');
    assert.equal(second.status, 202, JSON.stringify(second.body));
    const undoOp = second.body as { operationId: string; undoableUntil: string };
    for (const id of [purgeOp.operationId, undoOp.operationId]) {
      assert.equal((await h.phase(id, (p) => p !== 'Running', 'to be undoable')).phase, 'Undoable');
    }

    await h.worker.kill('SIGKILL');
    h.worker = await startWorker(h.fx, 'worker-after-crash');
    const undone = await undo(undoOp.operationId);
    assert.equal(undone.status, 200, JSON.stringify(undone.body));
    assert.equal(undone.body.restorePointId, b!.id);
    assert.equal((await h.operation(undoOp.operationId)).phase, 'Undone');
    assert.deepEqual((await tombstones(b!.id)).filter(Boolean), []);

    const purged = await h.phase(
      purgeOp.operationId,
      (p) => p !== 'Undoable' && p !== 'Running',
      'to purge',
      WINDOW_SECONDS * 1000 + 60_000,
    );
    assert.equal(purged.phase, 'Completed', JSON.stringify(purged.error));
    const purgeStep = purged.steps.find((s) => s.name === 'purge')!;
    assert.ok(
      Date.parse(purgeStep.startedAt!) >= Date.parse(purgeOp.undoableUntil),
      'not before the window ended',
    );
    assert.deepEqual(await objectsLeft(a!.id), [], 'nothing left in any region');
    assert.ok(!(await list(true)).some((i) => i.id === a!.id));

    const late = await undo(purgeOp.operationId);
    assert.equal(late.status, 409, JSON.stringify(late.body));
    assert.equal(late.body.error, 'undo-window-closed');
    assert.ok((late.body.message as string).includes(purgeOp.undoableUntil), late.body.message);

    // Every tombstone, undo and purge is in the audit log; the purge happened once.
    const purges = (await h.audit('action=restore-point.purged')).filter(
      (e) => e.target === `operation:${purgeOp.operationId}`,
    );
    assert.equal(purges.length, 1);
    assert.equal((await h.audit('action=restore-point.tombstoned')).length, 3);
    const undeleted = await h.audit('action=restore-point.undeleted');
    assert.deepEqual(undeleted.map((e) => e.actor).sort(), ['alice', 'alice']);
    assert.ok((await h.audit('action=restore-point.delete')).length >= 3);
    assert.ok((await h.audit('action=operation.undo')).length >= 2);
  });
});
