import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { checkConsistency, startLoad } from '../support/demo-load';

/**
 * The proof of consistency: the demo app's service A (orders, PostgreSQL) hands every number to
 * service B (ledger, HTTP hooks) a little later. Under continuous writes, restore points are taken
 * and each is restored into the other region: there, B never holds a number A does not have, and
 * A never holds one B lost.
 */
describe('restore points are consistent across services under write load', () => {
  let h: ApiHarness;

  before(async () => {
    h = new ApiHarness(await startAppFixture({ services: true }));
    await h.start();
  });

  after(async () => {
    await h?.stop();
  });

  test('every restore point taken under load restores to a consistent state', async () => {
    const east = h.fx.regions.find((r) => r.name === 'east')!;
    const west = h.fx.regions.find((r) => r.name === 'west')!;
    const load = startLoad(east.url, { concurrency: 4 });
    const restoredCounts: number[] = [];
    try {
      for (let round = 1; round <= 3; round++) {
        // Some writes between restore points, so each cut lands in the middle of the traffic.
        await load.reached(round * 40, 60_000);
        const taken = await h
          .http()
          .post(`/v1/apps/${h.fx.app}/restore-points`)
          .set(h.as(h.fx.tokens.operator))
          .send({ reason: `consistency round ${round}` });
        assert.equal(taken.status, 202, JSON.stringify(taken.body));
        const { operationId, restorePointId } = taken.body as { operationId: string; restorePointId: string };
        const op = await h.phase(operationId, (p) => p !== 'Running', 'to end', 90_000);
        assert.equal(op.phase, 'Completed', JSON.stringify(op.error));

        const restore = await h
          .http()
          .post(`/v1/apps/${h.fx.app}/restores`)
          .set(h.as(h.fx.tokens.operator))
          .send({ restorePointId, region: 'west', reason: `consistency round ${round}` });
        assert.equal(restore.status, 202, JSON.stringify(restore.body));
        const r = await h.phase(
          (restore.body as { operationId: string }).operationId,
          (p) => p !== 'Running',
          'to end',
          90_000,
        );
        assert.equal(r.phase, 'Completed', JSON.stringify(r.error));

        const c = await checkConsistency(west.url, { ordersDatabaseUrl: h.fx.ordersDatabases!.west });
        assert.deepEqual(c.onlyInLedger, [], `round ${round}: B holds numbers A does not have`);
        assert.deepEqual(c.onlyInOrders, [], `round ${round}: A holds numbers B lost`);
        assert.ok(c.orders.length > 0, `round ${round}: the restore brought data`);
        restoredCounts.push(c.orders.length);
      }
    } finally {
      const stats = await load.stop();
      assert.ok(stats.succeeded >= 120, `the load kept writing (${stats.succeeded} writes)`);
    }
    // Each restore point was taken later than the one before, under the same load.
    assert.ok(
      restoredCounts.every((n, i) => i === 0 || n > restoredCounts[i - 1]!),
      `restore points grow: ${restoredCounts.join(' < ')}`,
    );
    // The writes never stopped being accepted by the live region: quiesce held them, briefly.
    const live = await checkConsistency(east.url, { ordersDatabaseUrl: h.fx.ordersDatabases!.east });
    assert.deepEqual(live.onlyInLedger, []);
  });
});
