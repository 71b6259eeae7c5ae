import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ArtifactStore } from '../../infra/backup/artifact.store';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Retention end to end: a restore point past the policy is handed to a soft delete by the restore
 * point that pushed it out: hidden at once, purged from every region when its undo window ends.
 * The newest is never expired.
 */
describe('retention hands expired restore points to soft deletes', () => {
  let h: ApiHarness;
  let store: ArtifactStore;
  const WINDOW_SECONDS = 6;

  before(async () => {
    h = new ApiHarness(
      await startAppFixture({
        services: true,
        rpoSeconds: 1,
        restorePoints: { retention: { keepLast: 1, keepDaily: 0, keepWeekly: 0 } },
        softDelete: { windowSeconds: WINDOW_SECONDS },
      }),
    );
    await h.start();
    store = new ArtifactStore(h.fx.config);
  });

  after(async () => {
    store?.close();
    await h?.stop();
  });

  async function take(reason: string): Promise<{ id: string; op: OperationStatus }> {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId, restorePointId } = res.body as { operationId: string; restorePointId: string };
    const op = await h.phase(operationId, (p) => p !== 'Running', 'to end', 90_000);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    return { id: restorePointId, op };
  }

  const listed = async (query = '') =>
    (
      (
        await h
          .http()
          .get(`/v1/apps/${h.fx.app}/restore-points${query}`)
          .set(h.as(h.fx.tokens.viewer))
          .expect(200)
      ).body as { items: { id: string }[] }
    ).items.map((i) => i.id);

  test('the older restore point is tombstoned by the newer one, then purged in every region', async () => {
    const first = await take('retention: first');
    assert.deepEqual(first.op.facts.retention, { keep: 1, expired: [] });
    // The RPO guard refuses deleting restore points younger than the RPO (1 s here): let it pass.
    await waitFor(async () => Date.now() - Date.parse(first.op.endedAt!) > 1500, {
      what: 'the first restore point to leave the RPO window',
      timeoutMs: 5_000,
      intervalMs: 100,
    });
    const second = await take('retention: second');
    const expired = (
      second.op.facts.retention as { expired: { restorePointId: string; operationId?: string }[] }
    ).expired;
    assert.equal(expired.length, 1);
    assert.equal(expired[0]!.restorePointId, first.id);
    const deleteId = expired[0]!.operationId!;
    assert.ok(deleteId, JSON.stringify(expired));

    const undoable = await h.phase(deleteId, (p) => p === 'Undoable', 'to be undoable');
    assert.equal(undoable.kind, 'restore-point-delete');
    assert.equal(undoable.requestedBy, 'retention');
    assert.deepEqual(await listed(), [second.id], 'the expired one is hidden at once, the newest kept');
    assert.ok((await listed('?include=deleted')).includes(first.id));

    const purged = await h.phase(deleteId, (p) => p !== 'Undoable' && p !== 'Running', 'to purge', 60_000);
    assert.equal(purged.phase, 'Completed', JSON.stringify(purged.error));
    assert.ok(Date.parse(purged.endedAt!) >= Date.parse(undoable.startedAt) + WINDOW_SECONDS * 1000);
    for (const region of ['east', 'west']) {
      assert.equal(await store.readManifest(h.fx.app, region, first.id), null, `no manifest in ${region}`);
      const p = store.place(h.fx.app, region);
      let left = 0;
      for await (const _ of store.io.list(p.bucket, `${p.folder}restore-points/${first.id}/`)) left++;
      assert.equal(left, 0, `no artifact left in ${region}`);
    }
    assert.deepEqual(await listed('?include=deleted'), [second.id]);
    // The newest restore point was never touched.
    assert.ok(await store.readManifest(h.fx.app, 'west', second.id));
  });
});
