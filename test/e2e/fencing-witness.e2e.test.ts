import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { createControlActivities, type ControlActivities } from '../../infra/activities/control.activities';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import type { ControlChange } from '../../workflows/control';
import { appControllerWorkflowId, WRITE_LEASE_MS } from '../../workflows/definitions';
import { startAppFixture, startWorker, type AppFixture, type WorkerProcess } from '../support/app-fixture';
import { stack, waitFor } from '../support/stack';

/**
 * The fencing witness (docs/fencing.md#the-fencing-witness) with the real stack: two regions'
 * buckets and the harness's third, witness S3 server; the controller in a real worker, the
 * controller's activities in this process, and two demo instances (east, west) under the write
 * lease, reading all three buckets. With east's bucket stopped (its region burning), a fence of
 * east and a promote of west complete on west's bucket and the witness, west's instance gets the
 * write lease and east's refuses, and at no moment do both accept writes. (Without a witness the
 * same fence fails with an error saying to add one: test/e2e/app-controller.e2e.test.ts.)
 */
describe('fencing witness (two regions and a witness bucket)', () => {
  let fx: AppFixture;
  let worker: WorkerProcess;
  let client: Client;
  let control: ControlActivities;
  let store: ControlStateStore;
  let seq = 0;
  const OP = 'op-witness';

  const apply = (change: ControlChange) =>
    control.applyControlChange({ app: fx.app, requestId: `req-${++seq}`, change });
  const url = (region: string) => fx.regions.find((r) => r.name === region)!.url;
  const call = (region: string, method: string, path: string) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(`${url(region)}${path}`, { method, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(method === 'POST' ? '{"value":"x"}' : undefined);
    });
  const write = async (region: string) =>
    (await call(region, 'POST', '/writes')) as {
      status: number;
      body: { at?: string; error?: string; epoch?: number; message?: string };
    };
  const accepting = async (region: string) => (await write(region)).status === 201;

  before(async () => {
    // Its own S3 servers: the witness's and east's are stopped (SIGSTOP) while other test files run.
    fx = await startAppFixture({ fencing: { witness: true }, privateS3: true });
    worker = await startWorker(fx);
    client = await fx.temporal();
    store = new ControlStateStore(fx.config, { requestTimeoutMs: 2_000, maxAttempts: 1 });
    control = createControlActivities({ config: fx.config, controlState: store, temporal: fx.temporal });
  });

  after(async () => {
    await client?.workflow
      .getHandle(appControllerWorkflowId(fx.app))
      .terminate('test over')
      .catch(() => undefined);
    await worker?.kill('SIGKILL');
    store?.close();
    await fx?.stop();
  });

  it('mirrors every change to both regions and the witness', async () => {
    const witness = fx.config.apps[fx.app]!.fencing.witness;
    assert.ok(witness, 'the fixture declares the witness');
    assert.notEqual(witness.bucket.endpoint, stack().witness?.endpoint, "the fixture's own witness server");
    const claim = await apply({ type: 'claim', operationId: OP });
    assert.deepEqual(
      claim.mirrored.map((m) => [m.region, m.ok]),
      [
        ['east', true],
        ['west', true],
        ['witness', true],
      ],
    );
    assert.deepEqual(await store.readRegion(fx.app, 'witness'), claim.state);
    await waitFor(() => accepting('east'), { what: 'east to accept writes' });
    const west = await write('west');
    assert.deepEqual([west.status, west.body.error], [409, 'fenced']);
  });

  it('the witness is no single point: with it stopped, the writer keeps its lease on two of three', async () => {
    const witness = fx.s3Pid('witness');
    process.kill(witness, 'SIGSTOP');
    try {
      // Longer than the lease: only refreshes of two of three buckets can have kept it.
      await sleep(WRITE_LEASE_MS + 500);
      const h = (await call('east', 'GET', '/healthz')).body as {
        lease: { accepting: boolean; leaseAgeMs: number };
      };
      assert.equal(h.lease.accepting, true, JSON.stringify(h.lease));
      assert.ok(h.lease.leaseAgeMs < WRITE_LEASE_MS);
      assert.equal(await accepting('east'), true);
    } finally {
      process.kill(witness, 'SIGCONT');
    }
  });

  it("east's bucket stopped: fence east + promote west complete; west gets the lease, east refuses, never both", async () => {
    const east = fx.s3Pid('east');
    const accepted: { region: string; at: number }[] = [];
    let running = true;
    const hammer = async (region: string) => {
      while (running) {
        const r = await write(region);
        if (r.status === 201) accepted.push({ region, at: Date.parse(r.body.at!) });
        else assert.equal(r.body.error, 'fenced');
      }
    };
    await waitFor(() => accepting('east'), { what: 'east to accept writes' });
    const writers = [hammer('east'), hammer('west')];
    process.kill(east, 'SIGSTOP');
    try {
      const fenceStarted = Date.now();
      const fence = await apply({ type: 'fence', region: 'east', operationId: OP });
      const fenced = Date.now();
      assert.deepEqual(
        fence.mirrored.map((m) => [m.region, m.ok]),
        [
          ['east', false],
          ['west', true],
          ['witness', true],
        ],
      );
      assert.ok(fence.mirrored[0]!.error, "east's failure says why");
      assert.deepEqual([fence.state.writer, fence.state.halted], [null, ['east']]);
      // What a failover does next: wait the lease, then name the new writer.
      await sleep(WRITE_LEASE_MS);
      const promoteStarted = Date.now();
      const promote = await apply({ type: 'promote', region: 'west', operationId: OP });
      const promoted = Date.now();
      assert.deepEqual(
        [promote.state.writer, promote.mirrored[2]],
        ['west', { region: 'witness', ok: true }],
      );
      await waitFor(() => accepted.some((a) => a.region === 'west'), {
        what: 'west writes to land',
        timeoutMs: 10_000,
      });
      running = false;
      await Promise.all(writers);

      const eastAt = accepted.filter((a) => a.region === 'east').map((a) => a.at);
      const westAt = accepted.filter((a) => a.region === 'west').map((a) => a.at);
      const lastEast = Math.max(...eastAt);
      const firstWest = Math.min(...westAt);
      assert.ok(eastAt.length > 0, 'east accepted writes before the fence');
      assert.ok(lastEast < firstWest, `east accepted until ${lastEast}, west from ${firstWest}`);
      assert.ok(lastEast <= fenced + WRITE_LEASE_MS, 'east stopped within the lease after the fence');
      assert.ok(firstWest >= promoteStarted - 5, 'west started only after the promote');
      // East refuses from now on; why depends on its last read: "lease ran out" while a refresh
      // is late (a loaded machine), then, once it has read the halt from west and the witness,
      // that it is halted.
      const answers: [number, string | undefined][] = [];
      const refused = await waitFor(
        async () => {
          const r = await write('east');
          answers.push([r.status, r.body.error]);
          return /halted|not the writer/.test(r.body.message ?? '') ? r : false;
        },
        { what: "east's refusal to name the halt", timeoutMs: 10_000 },
      );
      assert.ok(
        answers.every(([status, error]) => status === 409 && error === 'fenced'),
        JSON.stringify(answers),
      );
      assert.match(refused.body.message ?? '', /halted|not the writer/);
      assert.equal(await accepting('west'), true);
      console.log(
        `witness: with east's bucket stopped the fence took ${fenced - fenceStarted} ms and the promote ` +
          `${promoted - promoteStarted} ms (east's mirror times out; west's and the witness's answer at once); ` +
          `east's last write ${lastEast - fenceStarted} ms after the fence started, west's first ` +
          `${firstWest - promoteStarted} ms after the promote started, gap ${firstWest - lastEast} ms ` +
          `(${eastAt.length} east, ${westAt.length} west writes)`,
      );
    } finally {
      running = false;
      await Promise.allSettled(writers);
      process.kill(east, 'SIGCONT');
    }
    // East's bucket answers again: the next change reaches all three buckets; east stays fenced.
    await waitFor(() => store.readRegion(fx.app, 'east').then(() => true), { what: 'east to answer again' });
    const release = await apply({ type: 'release', operationId: OP });
    assert.ok(
      release.mirrored.every((m) => m.ok),
      JSON.stringify(release.mirrored),
    );
    assert.equal((await store.readRegion(fx.app, 'east'))?.writer, 'west');
    const again = await write('east');
    assert.equal(again.status, 409);
  });
});
