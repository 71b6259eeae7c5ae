import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import { isTerminal } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture, startWorker } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * An unplanned failover of two regions and a fencing witness (docs/fencing.md#the-fencing-witness)
 * with east burning: its demo instance gone, no worker on its queue and its bucket's S3 server
 * stopped (SIGSTOP). The fence of east and the promote of west reach west's bucket and the
 * witness (two of three), so the failover completes and west's instance gets the write lease;
 * east's instance, back with its bucket, stays halted and refuses writes.
 */
describe('unplanned failover with east and its bucket gone, two regions and a witness', () => {
  let h: ApiHarness;
  let eastStopped: number | undefined;

  const region = (name: string) => h.fx.regions.find((r) => r.name === name)!;
  const write = async (name: string) =>
    (await fetch(`${region(name).url}/writes`, { method: 'POST' })).status;

  before(async () => {
    // Its own S3 servers: east's is stopped (SIGSTOP) while other test files run.
    const fx = await startAppFixture({
      ttl: 1,
      verifyTimeoutSeconds: 20,
      fencing: { witness: true },
      privateS3: true,
    });
    h = new ApiHarness(fx);
    // East's region is the one that burns: no worker ever serves its queue.
    h.worker = await startWorker(fx, 'worker-coordinator-west', { queues: ['coordinator', 'west'] });
    await h.startApi();
  });
  after(async () => {
    if (eastStopped !== undefined) process.kill(eastStopped, 'SIGCONT');
    await h?.stop();
  });

  it('completes; west takes writes, east (back with its bucket) stays halted and refuses', async () => {
    const fx = h.fx;
    await waitFor(async () => (await write('east')) === 201, { what: 'east to take writes' });
    assert.equal(await write('west'), 409);

    // East burns: its instance and its bucket.
    await new Promise((resolve) => region('east').server.close(resolve));
    eastStopped = fx.s3Pid('east');
    process.kill(eastStopped, 'SIGSTOP');

    const started = Date.now();
    const res = await h
      .http()
      .post(`/v1/apps/${fx.app}/failovers`)
      .set(h.as(fx.tokens.operator))
      .send({ to: 'west', mode: 'unplanned', reason: 'east is burning' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;
    const op = await h.phase(id, isTerminal, 'to finish', 120_000);
    const took = Date.now() - started;
    assert.equal(op.phase, 'Completed', JSON.stringify({ error: op.error, steps: op.steps }));
    assert.equal((op.spec as { mode?: string }).mode, 'unplanned');
    const fence = op.steps.find((s) => s.name === 'fence')!;
    assert.match(fence.detail!, /east halted at epoch \d+ \(not recorded in east\)/);
    const mirrored = (op.facts.fence as { mirrored: { region: string; ok: boolean }[] }).mirrored;
    assert.deepEqual(
      mirrored.map((m) => [m.region, m.ok]),
      [
        ['east', false],
        ['west', true],
        ['witness', true],
      ],
    );
    // West's instance reads two of three buckets: it holds the lease and takes writes.
    await waitFor(async () => (await write('west')) === 201, {
      what: 'west to take writes',
      timeoutMs: 10_000,
    });
    assert.deepEqual(await fx.route53A(), ['127.0.1.2']);
    const store = new ControlStateStore(fx.config, { requestTimeoutMs: 2_000, maxAttempts: 1 });
    try {
      for (const place of ['west', 'witness']) {
        const s = await store.readRegion(fx.app, place);
        assert.deepEqual(
          [s?.epoch, s?.activeRegion, s?.writer, s?.halted],
          [op.facts.epoch, 'west', 'west', ['east']],
          place,
        );
      }
    } finally {
      store.close();
    }
    const steps = op.steps
      .filter((x) => x.startedAt && x.endedAt)
      .map((x) => `${x.name} ${Date.parse(x.endedAt!) - Date.parse(x.startedAt!)} ms`);
    console.log(
      `witness failover: unplanned, east's bucket stopped, completed in ${took} ms (${steps.join(', ')})`,
    );

    // East comes back with its bucket (which still holds the old state): halted, it refuses.
    process.kill(eastStopped, 'SIGCONT');
    eastStopped = undefined;
    await fx.restartDemo('east');
    await waitFor(
      async () => {
        const health = (await (await fetch(`${region('east').url}/healthz`)).json()) as {
          lease?: { leaseAgeMs: number | null; halted: string[] };
        };
        return health.lease?.leaseAgeMs !== null && health.lease?.halted.includes('east');
      },
      { what: 'the restarted east to read the fence', timeoutMs: 10_000 },
    );
    for (let i = 0; i < 3; i++) assert.equal(await write('east'), 409);
    assert.equal(await write('west'), 201);
  });
});

/**
 * The same outage without a witness: with two regions a write lease reads both buckets, so the
 * fence cannot leave the app with a writer. It fails with `fence-quorum-unreachable` after its
 * bounded attempts, naming east's bucket and saying to add `fencing.witness`, and the failover
 * compensates instead of hanging.
 */
describe('unplanned failover with east and its bucket gone, two regions and no witness', () => {
  let h: ApiHarness;
  let eastStopped: number | undefined;

  before(async () => {
    const fx = await startAppFixture({ ttl: 1, verifyTimeoutSeconds: 20, fencing: true, privateS3: true });
    h = new ApiHarness(fx);
    h.worker = await startWorker(fx, 'worker-coordinator-west', { queues: ['coordinator', 'west'] });
    await h.startApi();
  });
  after(async () => {
    if (eastStopped !== undefined) process.kill(eastStopped, 'SIGCONT');
    await h?.stop();
  });

  it('fails at the fence with a clear error and compensates; DNS stays on east', async () => {
    const fx = h.fx;
    const east = fx.regions.find((r) => r.name === 'east')!;
    await new Promise((resolve) => east.server.close(resolve));
    eastStopped = fx.s3Pid('east');
    process.kill(eastStopped, 'SIGSTOP');

    const started = Date.now();
    const res = await h
      .http()
      .post(`/v1/apps/${fx.app}/failovers`)
      .set(h.as(fx.tokens.operator))
      .send({ to: 'west', mode: 'unplanned', reason: 'east is burning' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const op = await h.phase(
      (res.body as { operationId: string }).operationId,
      isTerminal,
      'to finish',
      120_000,
    );
    const took = Date.now() - started;
    assert.equal(op.phase, 'Failed', JSON.stringify({ error: op.error, steps: op.steps }));
    assert.equal(op.error?.step, 'fence');
    assert.equal(op.error?.code, 'fence-quorum-unreachable');
    assert.match(op.error!.message, /fence of east \(epoch \d+\) is recorded in 1 of 2 buckets/);
    assert.match(op.error!.message, /unreachable: east's bucket \(/);
    assert.match(op.error!.message, new RegExp(`add apps\\.${fx.app}\\.fencing\\.witness`));
    assert.match(op.error!.message, /gave up after 3 attempts/);
    assert.equal(op.steps.find((s) => s.name === 'promote')!.status, 'Skipped');
    assert.deepEqual(await fx.route53A(), ['127.0.1.1']);
    // The compensation put east back as writer, at a new epoch, in the bucket that answers.
    const store = new ControlStateStore(fx.config, { requestTimeoutMs: 2_000, maxAttempts: 1 });
    try {
      const west = await store.readRegion(fx.app, 'west');
      assert.deepEqual([west?.activeRegion, west?.writer, west?.halted], ['east', 'east', []]);
    } finally {
      store.close();
    }
    console.log(`no witness: the failover failed at the fence and compensated in ${took} ms`);
  });
});
