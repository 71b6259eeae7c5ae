import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createDemoApp } from '../../apps/demo/demo-app';
import { type LeaseRead, WriteLease } from '../../apps/demo/write-lease';
import type { ControlState } from '../../infra/storage/control-state.store';
import { waitFor } from '../support/stack';

const LEASE = 2_000;

function state(over: Partial<ControlState> = {}): ControlState {
  return {
    app: 'shop',
    activeRegion: 'east',
    epoch: 0,
    writer: 'east',
    halted: [],
    updatedAt: '2026-11-22T09:00:00.000Z',
    revision: 0,
    ...over,
  };
}

const both = (s: ControlState): LeaseRead => ({
  state: s,
  regions: [
    { region: 'east', ok: true },
    { region: 'west', ok: true },
  ],
});
const onlyEast = (s: ControlState): LeaseRead => ({
  state: s,
  regions: [
    { region: 'east', ok: true },
    { region: 'west', ok: false, error: 'TimeoutError' },
  ],
});

describe('write lease', () => {
  let clock = 0;
  const now = () => clock;

  it('refuses before the first read of the control state', () => {
    const lease = new WriteLease('east', LEASE, now);
    const d = lease.check();
    assert.equal(d.ok, false);
    assert.match(!d.ok ? d.reason : '', /has not read the control state yet/);
  });

  it('accepts while the last majority read is younger than the lease and names the region writer', () => {
    clock = 1_000;
    const lease = new WriteLease('east', LEASE, now);
    lease.record(1_000, both(state()));
    clock = 2_999;
    assert.deepEqual(lease.check(), { ok: true });
    clock = 3_000;
    const d = lease.check();
    assert.equal(d.ok, false, 'the lease runs out writeLeaseMs after the read STARTED');
    assert.match(!d.ok ? d.reason : '', /write lease ran out/);
  });

  it('dates the lease from the start of the read, not its end', () => {
    clock = 0;
    const lease = new WriteLease('east', LEASE, now);
    clock = 1_500; // the read took 1.5 s
    lease.record(0, both(state()));
    clock = 2_000;
    assert.equal(lease.check().ok, false);
  });

  it('a read of a minority of buckets does not extend the lease', () => {
    clock = 0;
    const lease = new WriteLease('east', LEASE, now);
    lease.record(0, both(state()));
    clock = 1_000;
    lease.record(1_000, onlyEast(state()));
    clock = 2_500;
    assert.equal(lease.check().ok, false);
    assert.match(
      lease.status().lastError ?? '',
      /read 1 of 2 buckets, a majority \(2\) is needed \(west: TimeoutError\)/,
    );
  });

  it('a newer state that takes writes away counts even from a minority read', () => {
    clock = 0;
    const lease = new WriteLease('east', LEASE, now);
    lease.record(0, both(state()));
    lease.record(100, onlyEast(state({ epoch: 1, writer: null, halted: ['east'] })));
    const d = lease.check();
    assert.deepEqual(d, { ok: false, epoch: 1, reason: 'region east is halted (epoch 1)' });
  });

  it('a minority read cannot grant: a newer state naming the region writer is not taken', () => {
    clock = 0;
    const lease = new WriteLease('west', LEASE, now);
    lease.record(0, both(state()));
    lease.record(100, onlyEast(state({ epoch: 1, writer: 'west', halted: ['east'], activeRegion: 'west' })));
    assert.equal(lease.check().ok, false);
    assert.equal(lease.status().writer, 'east');
  });

  it('refuses a region that is not the writer, or halted, naming the epoch', () => {
    clock = 0;
    const west = new WriteLease('west', LEASE, now);
    west.record(0, both(state({ epoch: 3, writer: null })));
    assert.deepEqual(west.check(), {
      ok: false,
      epoch: 3,
      reason: 'region west is not the writer (writer: none, epoch 3)',
    });
    west.record(10, both(state({ epoch: 3, writer: 'west', halted: ['east'], revision: 1 })));
    assert.deepEqual(west.check(), { ok: true });
  });

  it('never goes back to an older state or an older read', () => {
    clock = 0;
    const lease = new WriteLease('east', LEASE, now);
    lease.record(500, both(state({ epoch: 2, writer: null, halted: ['east'] })));
    lease.record(100, both(state())); // a slow read that started earlier
    lease.record(600, both(state())); // a bucket that missed the fence
    assert.equal(lease.status().epoch, 2);
    assert.equal(lease.check().ok, false);
  });

  it('shows writer, halted, epoch and lease age', () => {
    clock = 10_000;
    const lease = new WriteLease('east', LEASE, now);
    lease.record(9_750, both(state({ epoch: 4, writer: 'east', halted: ['west'], revision: 9 })));
    assert.deepEqual(lease.status(), {
      accepting: true,
      writer: 'east',
      halted: ['west'],
      epoch: 4,
      leaseAgeMs: 250,
      writeLeaseMs: LEASE,
    });
  });
});

describe('demo app under the write lease', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-lease-'));
  let current = state();
  let reads = 0;
  const server = createDemoApp({
    region: 'east',
    stateDir: dir,
    log: () => undefined,
    fencing: {
      read: () => {
        reads++;
        return Promise.resolve(both(current));
      },
      writeLeaseMs: LEASE,
      leaseRefreshMs: 20,
    },
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts writes while it is the writer and answers 409 fenced with the epoch once it is not', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const write = () => fetch(`${base}/writes`, { method: 'POST', body: '{"value":1}' });
    await waitFor(async () => (await write()).status === 201, { what: 'east to accept writes' });
    current = state({ epoch: 1, writer: null, halted: ['east'] });
    const refused = await waitFor(
      async () => {
        const res = await write();
        return res.status === 409 ? ((await res.json()) as Record<string, unknown>) : false;
      },
      { what: 'east to refuse writes' },
    );
    assert.deepEqual(refused, { error: 'fenced', message: 'region east is halted (epoch 1)', epoch: 1 });
    const health = (await (await fetch(`${base}/healthz`)).json()) as { lease: Record<string, unknown> };
    assert.equal(health.lease.accepting, false);
    assert.deepEqual(health.lease.halted, ['east']);
    assert.equal(health.lease.epoch, 1);
    assert.equal(typeof health.lease.leaseAgeMs, 'number');
    assert.ok(reads >= 2);
  });
});
