import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { ControlStateStore, type ControlState } from '../../infra/storage/control-state.store';
import { regionsConfig } from '../support/sql-fixtures';
import { stack, uniqueName } from '../support/stack';

/*
 * Mirroring the control state with a quorum (infra/storage/control-state.store.ts): against the
 * harness's two versitygw regions and a "witness" that accepts connections and never answers (what
 * a stopped S3 server looks like to a client), a mirror answers once a read quorum holds the state,
 * instead of waiting for the silent bucket's timeouts.
 */

const TIMEOUT_MS = 2_000;

describe('control state mirror with a quorum', () => {
  const sockets = new Set<Socket>();
  let blackHole: Server;
  let endpoint: string;

  before(async () => {
    blackHole = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(blackHole.address() as { port: number }).port}`;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => blackHole.close(() => r()));
  });

  /** east and west on the harness's servers; `silent` regions (and the witness) on the black hole. */
  function storeWith(silent: string[]): { store: ControlStateStore; state: ControlState } {
    const prefix = `${uniqueName('mirror')}/`;
    const cfg = regionsConfig(
      prefix,
      Object.fromEntries(silent.map((r) => [r, endpoint])),
    ) as SwitchyardConfig;
    const app = cfg.apps.audited!;
    const east = stack().s3[0]!;
    app.fencing = {
      ...app.fencing,
      witness: { bucket: { ...app.regions[0]!.bucket, endpoint, name: east.bucket } },
    };
    const store = new ControlStateStore(cfg, { requestTimeoutMs: TIMEOUT_MS, maxAttempts: 1 });
    const state: ControlState = {
      app: 'audited',
      activeRegion: 'east',
      epoch: 7,
      writer: 'east',
      halted: [],
      updatedAt: new Date().toISOString(),
      revision: 3,
      currentOperation: null,
      tombstones: [],
    };
    return { store, state };
  }

  it('answers once two of three buckets hold the state; the silent one is reported, not waited for', async () => {
    const { store, state } = storeWith([]);
    try {
      assert.deepEqual(
        store.places('audited').map((p) => p.region),
        ['east', 'west', 'witness'],
      );
      const started = Date.now();
      const results = await store.write('audited', state, { quorum: 2, graceMs: 200 });
      const ms = Date.now() - started;
      assert.ok(ms < TIMEOUT_MS, `answered in ${ms} ms, before the silent bucket's ${TIMEOUT_MS} ms timeout`);
      assert.deepEqual(
        results.map((r) => [r.region, r.ok]),
        [
          ['east', true],
          ['west', true],
          ['witness', false],
        ],
      );
      assert.match(results[2]!.error!, /no answer yet after \d+ ms \(the state is held by a quorum of 2/);
      for (const region of ['east', 'west']) {
        assert.deepEqual(
          await store.readRegion('audited', region),
          state,
          `${region}'s bucket holds the state`,
        );
      }
    } finally {
      store.close();
    }
  });

  it('without a quorum option, or without a quorum reached, it waits for every bucket', async () => {
    const { store, state } = storeWith([]);
    try {
      const started = Date.now();
      const results = await store.write('audited', state);
      assert.ok(Date.now() - started >= TIMEOUT_MS - 100, 'waited for the silent bucket');
      assert.equal(results[2]!.ok, false);
      assert.doesNotMatch(results[2]!.error!, /no answer yet/);
    } finally {
      store.close();
    }
    const two = storeWith(['west']);
    try {
      const started = Date.now();
      const results = await two.store.write('audited', two.state, { quorum: 2, graceMs: 200 });
      assert.ok(Date.now() - started >= TIMEOUT_MS - 100, 'one of three is no quorum: every answer awaited');
      assert.deepEqual(
        results.map((r) => r.ok),
        [true, false, false],
      );
      assert.ok(
        results.slice(1).every((r) => !/no answer yet/.test(r.error!)),
        'each failure is its own',
      );
    } finally {
      two.store.close();
    }
  });
});
