import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import { isTerminal } from '../../workflows/operation';
import type { ApiHarness } from '../support/api-harness';
import { startWorker, type WorkerProcess } from '../support/app-fixture';
import { readOrders } from '../support/demo-load';
import { startDataFailoverStack } from '../support/failover-fixture';
import { waitFor } from '../support/stack';

/**
 * An unplanned failover with the primary killed (docs/failover.md), on the demo app with both
 * services and the write lease, one worker per region: east's app and worker die, the failover to
 * west completes from the newest restore point, records its data loss window and writes the new
 * epoch to west's bucket; east, restarted, stays halted and refuses writes; a failback brings the
 * app home once east's worker is back.
 */
describe('unplanned failover with the primary killed, then failback', () => {
  let h: ApiHarness;
  let eastWorker: WorkerProcess;

  before(async () => {
    ({ h, eastWorker } = await startDataFailoverStack());
  });
  after(async () => {
    await eastWorker?.kill('SIGKILL');
    await h?.stop();
  });

  const region = (name: string) => h.fx.regions.find((r) => r.name === name)!;
  const finished = (id: string) => h.phase(id, isTerminal, 'to finish', 180_000);
  const write = async (name: string) =>
    (await fetch(`${region(name).url}/numbers`, { method: 'POST' })).status;

  const writeN = async (name: string): Promise<number> => {
    const res = await fetch(`${region(name).url}/numbers`, { method: 'POST' });
    assert.equal(res.status, 201);
    return ((await res.json()) as { n: number }).n;
  };

  it('completes from the newest restore point; the old primary, restarted, stays halted', async () => {
    const fx = h.fx;
    const before: number[] = [];
    for (let i = 0; i < 5; i++) before.push(await writeN('east'));
    const taken = await h
      .http()
      .post(`/v1/apps/${fx.app}/restore-points`)
      .set(h.as(fx.tokens.operator))
      .send({ reason: 'before the outage' })
      .expect(202);
    const rpOp = await finished((taken.body as { operationId: string }).operationId);
    assert.equal(rpOp.phase, 'Completed', JSON.stringify(rpOp.error));
    const restorePointId = rpOp.facts.restorePointId as string;
    // Written after the restore point: the data loss of an unplanned failover.
    const lost: number[] = [];
    for (let i = 0; i < 5; i++) lost.push(await writeN('east'));

    // East dies: its demo instance and its worker.
    await eastWorker.kill('SIGKILL');
    await new Promise((resolve) => region('east').server.close(resolve));

    const res = await h
      .http()
      .post(`/v1/apps/${fx.app}/failovers`)
      .set(h.as(fx.tokens.operator))
      .send({ to: 'west', mode: 'unplanned', reason: 'east is gone' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const started = Date.now();
    const op = await finished((res.body as { operationId: string }).operationId);
    assert.equal(op.phase, 'Completed', JSON.stringify({ error: op.error, steps: op.steps }));
    assert.ok(Date.now() - started < 120_000, 'the dead region did not hold the failover');
    const chosen = op.facts.restorePoint as {
      id: string;
      verified: boolean;
      note?: string;
      withinRpo: boolean;
    };
    assert.equal(chosen.id, restorePointId);
    assert.equal(chosen.verified, false);
    assert.match(chosen.note!, /no verified restore point/);
    assert.equal(chosen.withinRpo, true);
    assert.equal(typeof op.facts.dataLossWindowSeconds, 'number');
    assert.ok((op.facts.dataLossWindowSeconds as number) >= 0);
    assert.ok(op.facts.fenceHookError, 'the dead region’s fence hook failed and was recorded');
    assert.match(op.steps.find((s) => s.name === 'fence')!.detail!, /best effort/);
    // West holds what east acknowledged before the restore point, not what came after.
    const inWest = new Set(await readOrders(fx.ordersDatabases!.west!));
    assert.deepEqual(
      before.filter((n) => !inWest.has(n)),
      [],
    );
    assert.deepEqual(
      lost.filter((n) => inWest.has(n)),
      [],
    );

    // The fencing epoch is in the target's bucket, east halted.
    const store = new ControlStateStore(fx.config);
    const west = await store.readRegion(fx.app, 'west');
    store.close();
    assert.equal(west?.epoch, op.facts.epoch);
    assert.deepEqual([west?.activeRegion, west?.writer, west?.halted], ['west', 'west', ['east']]);

    // The old primary comes back: halted, it refuses writes; west takes them.
    await fx.restartDemo('east');
    await waitFor(async () => (await fetch(`${region('east').url}/healthz`)).status === 200, {
      what: 'east to be back',
      timeoutMs: 10_000,
    });
    await waitFor(async () => (await write('east')) === 409, {
      what: 'the restarted east to refuse writes',
      timeoutMs: 10_000,
    });
    for (let i = 0; i < 5; i++) assert.equal(await write('east'), 409);
    assert.equal(await write('west'), 201);
    assert.deepEqual(await fx.route53A(), ['127.0.1.2']);
  });

  it('fails back home once east is repaired: east serves and takes writes again', async () => {
    eastWorker = await startWorker(h.fx, 'worker-east-restarted', { queues: ['east'] });
    const id = await h.requestFailback('east repaired');
    const op = await finished(id);
    assert.equal(op.phase, 'Completed', JSON.stringify({ error: op.error, steps: op.steps }));
    assert.equal(op.facts.dataLossWindowSeconds, 0);
    assert.deepEqual(await h.fx.route53A(), ['127.0.1.1']);
    await waitFor(async () => (await write('east')) === 201, {
      what: 'east to take writes',
      timeoutMs: 10_000,
    });
    assert.equal(await write('west'), 409);
  });
});
