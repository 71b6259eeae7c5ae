import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlStateStore, type ControlState } from '../../infra/storage/control-state.store';
import { WRITE_LEASE_MS } from '../../workflows/definitions';
import { startAppFixture, type AppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * The demo app's write lease with two real instances (east, west) reading the two real S3
 * regions' buckets: fences written to the buckets stop the old writer within the lease, a
 * restarted old primary stays fenced, and a fence + promote that waits the lease between them
 * never has both instances accepting writes.
 */
/** How late this test's polling may notice a refusal on a loaded 2-core machine. */
const POLL_SLACK_MS = 300;

describe('write lease (two demo instances, two buckets)', () => {
  let fx: AppFixture;
  let store: ControlStateStore;
  let revision = 0;
  let epoch = 0;

  const url = (region: string) => fx.regions.find((r) => r.name === region)!.url;
  /** One request on its own connection (a restarted instance must not see a pooled, closed one). */
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
  const write = async (region: string) => {
    const r = await call(region, 'POST', '/writes');
    return r as { status: number; body: { at?: string; error?: string; epoch?: number } };
  };
  const healthz = async (region: string) => (await call(region, 'GET', '/healthz')).body;
  const accepting = async (region: string) => (await write(region)).status === 201;
  /** Writes the next control state to both buckets, as the controller's mirror does. */
  async function publish(change: Partial<ControlState>): Promise<void> {
    revision++;
    const s: ControlState = {
      app: fx.app,
      activeRegion: 'east',
      epoch,
      writer: 'east',
      halted: [],
      updatedAt: new Date().toISOString(),
      revision,
      ...change,
    };
    epoch = s.epoch;
    const results = await store.write(fx.app, s);
    assert.ok(
      results.every((r) => r.ok),
      JSON.stringify(results),
    );
  }

  before(async () => {
    // Its own S3 servers: west's is stopped (SIGSTOP) while other test files run.
    fx = await startAppFixture({ fencing: true, privateS3: true });
    store = new ControlStateStore(fx.config);
  });
  after(async () => {
    store?.close();
    await fx?.stop();
  });

  it('starts with the configured active region as the only writer', async () => {
    await waitFor(() => accepting('east'), { what: 'east to accept writes' });
    const west = await write('west');
    assert.equal(west.status, 409);
    assert.equal(west.body.error, 'fenced');
    assert.equal(west.body.epoch, 0);
  });

  it('a writer that cannot read a majority of the buckets stops within the lease', async () => {
    const west = fx.s3Pid('west');
    await waitFor(() => accepting('east'), { what: 'east to accept writes' });
    process.kill(west, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await waitFor(async () => !(await accepting('east')), {
        what: 'east to refuse writes without a majority',
        timeoutMs: WRITE_LEASE_MS + 1_000,
        intervalMs: 20,
      });
      const after = Date.now() - stoppedAt;
      // The lease ran out at most WRITE_LEASE_MS after the last good read began (before the stop);
      // the slack is this test's polling on a loaded machine, not part of the rule.
      assert.ok(after <= WRITE_LEASE_MS + POLL_SLACK_MS, `refused ${after} ms after west's bucket stopped`);
      const health = (await healthz('east')) as {
        lease: { accepting: boolean; leaseAgeMs: number; lastError?: string };
      };
      assert.equal(health.lease.accepting, false);
      assert.ok(health.lease.leaseAgeMs >= WRITE_LEASE_MS);
    } finally {
      process.kill(west, 'SIGCONT');
    }
    await waitFor(() => accepting('east'), { what: 'east to accept writes again', timeoutMs: 10_000 });
  });

  it('after a fence written to the buckets, the old writer refuses within the lease', async () => {
    await waitFor(() => accepting('east'), { what: 'east to accept writes' });
    await publish({ epoch: epoch + 1, writer: null, halted: ['east'] });
    const fencedAt = Date.now();
    const refused = await waitFor(
      async () => {
        const r = await write('east');
        return r.status === 409 ? r.body : false;
      },
      { what: 'east to refuse writes', timeoutMs: WRITE_LEASE_MS + 1_000, intervalMs: 20 },
    );
    const took = Date.now() - fencedAt;
    assert.ok(took < WRITE_LEASE_MS, `refused ${took} ms after the fence`);
    assert.equal(refused.error, 'fenced');
    assert.equal(refused.epoch, epoch);
    // Unfence for the next test (as a failback would).
    await publish({ epoch: epoch + 1, writer: 'east', halted: [] });
    await waitFor(() => accepting('east'), { what: 'east to accept writes again' });
  });

  it('never has both instances accepting writes across a fence + promote that waits the lease', async () => {
    const accepted: { region: string; at: number }[] = [];
    let running = true;
    const hammer = async (region: string) => {
      while (running) {
        const r = await write(region);
        if (r.status === 201) accepted.push({ region, at: Date.parse(r.body.at!) });
        else assert.equal(r.body.error, 'fenced');
      }
    };
    const writers = [hammer('east'), hammer('west')];
    try {
      await waitFor(() => accepted.some((a) => a.region === 'east'), { what: 'east writes to land' });
      await publish({ epoch: epoch + 1, writer: null, halted: ['east'] });
      // The fence is complete once both buckets hold it; what a failover does next: wait the lease.
      const fence = Date.now();
      await sleep(WRITE_LEASE_MS);
      const promote = Date.now();
      await publish({ activeRegion: 'west', writer: 'west', halted: ['east'] });
      await waitFor(() => accepted.some((a) => a.region === 'west'), { what: 'west writes to land' });
      running = false;
      await Promise.all(writers);
      const east = accepted.filter((a) => a.region === 'east').map((a) => a.at);
      const west = accepted.filter((a) => a.region === 'west').map((a) => a.at);
      const lastEast = Math.max(...east);
      const firstWest = Math.min(...west);
      assert.ok(
        lastEast < firstWest,
        `east accepted until ${new Date(lastEast).toISOString()}, west from ${new Date(firstWest).toISOString()}`,
      );
      assert.ok(lastEast <= fence + WRITE_LEASE_MS, 'east stopped within the lease');
      assert.ok(firstWest >= promote - 5, 'west started only after the promote');
      console.log(
        `write lease: ${east.length} east and ${west.length} west writes; east's last ${lastEast - fence} ms ` +
          `after the fence, west's first ${firstWest - promote} ms after the promote, gap ${firstWest - lastEast} ms`,
      );
    } finally {
      running = false;
      await Promise.allSettled(writers);
    }
  });

  it('an old primary restarted after a fence refuses writes, before and after its first read', async () => {
    await fx.restartDemo('east');
    const first = await write('east');
    assert.equal(first.status, 409, 'no lease before the first read');
    const health = await waitFor(
      async () => {
        const h = (await healthz('east')) as {
          lease: { writer: string | null; halted: string[]; epoch: number; leaseAgeMs: number | null };
        };
        return h.lease.leaseAgeMs !== null ? h.lease : false;
      },
      { what: 'east to read the control state' },
    );
    assert.deepEqual(health.halted, ['east']);
    assert.equal(health.writer, 'west');
    assert.equal(health.epoch, epoch);
    const again = await write('east');
    assert.equal(again.status, 409);
    assert.equal(again.body.epoch, epoch);
    assert.equal(await accepting('west'), true);
  });
});
