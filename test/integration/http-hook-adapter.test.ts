import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { Client } from 'pg';
import { createDemoApp } from '../../apps/demo/demo-app';
import { ArtifactMismatchError, ObjectIo } from '../../infra/backup/artifact.store';
import { HttpHookAdapter, HttpHookError } from '../../infra/backup/http-hook.adapter';
import type { ArtifactRef } from '../../infra/backup/manifest';
import type {
  ArtifactSink,
  ArtifactSource,
  ServiceContext,
  ServiceOf,
} from '../../infra/backup/service-adapter.port';
import type { BucketConfig } from '../../infra/config/config.schema';
import { startAppFixture } from '../support/app-fixture';
import { checkConsistency, readOrders, startLoad } from '../support/demo-load';
import { freshPostgres, type FreshDatabase } from '../support/sql-fixtures';
import { localBucketConfig } from '../../infra/stack/app-config';
import { stack, uniqueName, waitFor } from '../support/stack';

/**
 * The HTTP hook adapter against real demo app instances (orders on the harness's PostgreSQL, the
 * ledger behind its hooks) and a real versitygw bucket: the cut is consistent under write load,
 * the artifact streams into the bucket and back into another instance byte for byte, and errors
 * say which hook failed and how, never with the token.
 */

const TOKEN = 'integration-hook-token-0123456789';
type HttpService = ServiceOf<'http'>;

interface Instance {
  region: string;
  url: string;
  hooks: string;
  server: Server;
  db: FreshDatabase;
}

function bucketOf(prefix: string): BucketConfig {
  return localBucketConfig(stack().s3[0]!, undefined, prefix);
}

/** A sink that writes the one artifact to `key` in the bucket (what the restore point workflow's sink does). */
function bucketSink(io: ObjectIo, bucket: BucketConfig, key: string): ArtifactSink {
  return {
    async put(body, opts) {
      const stored = await io.upload(bucket, key, body, {
        contentType: opts.contentType,
        onProgress: opts.onProgress,
      });
      return { key, size: stored.size, sha256: stored.sha256, contentType: opts.contentType };
    },
    objectSet: () => {
      throw new Error('not an object-set service');
    },
    putListing: () => Promise.reject(new Error('not an object-set service')),
  };
}

function bucketSource(io: ObjectIo, bucket: BucketConfig, artifact: ArtifactRef): ArtifactSource {
  return {
    artifact,
    open: async () => (await io.open(bucket, artifact.key)).body,
    listing: () => Promise.reject(new Error('not an object-set service')),
    openObject: () => Promise.reject(new Error('not an object-set service')),
  };
}

describe('HttpHookAdapter against the demo app', () => {
  const adapter = new HttpHookAdapter({ heartbeatMs: 50 });
  const io = new ObjectIo();
  const prefix = `${uniqueName('hooks')}/`;
  const bucket = bucketOf(prefix);
  const stateRoot = mkdtempSync(join(tmpdir(), 'switchyard-hooks-'));
  const instances: Instance[] = [];
  let east: Instance;
  let west: Instance;
  let service: HttpService;
  const beats: Record<string, unknown>[] = [];

  async function startInstance(region: string): Promise<Instance> {
    const db = await freshPostgres();
    const server = createDemoApp({
      region,
      stateDir: join(stateRoot, region),
      log: () => undefined,
      ordersDatabaseUrl: db.url,
      hookToken: TOKEN,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const instance = { region, url, hooks: `${url}/hooks/ledger`, server, db };
    instances.push(instance);
    return instance;
  }

  const ctx = (
    target: Instance,
    restorePointId: string,
    overrides: Partial<HttpService['regions'][string]> = {},
  ): ServiceContext<HttpService> => ({
    app: 'hooks',
    region: target.region,
    service,
    target: { url: target.hooks, token: TOKEN, ...overrides },
    restorePointId,
    heartbeat: (details) => beats.push(details ?? {}),
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
  });

  const ledgerOf = async (target: Instance) =>
    ((await (await fetch(`${target.url}/numbers`)).json()) as { ledger: number[] }).ledger;

  before(async () => {
    east = await startInstance('east');
    west = await startInstance('west');
    service = {
      name: 'ledger',
      type: 'http',
      dependsOn: ['orders'],
      regions: { east: { url: east.hooks, token: TOKEN }, west: { url: west.hooks, token: TOKEN } },
    };
  });

  after(async () => {
    await Promise.all(instances.map((i) => new Promise((resolve) => i.server.close(resolve))));
    for (const i of instances) await i.db.dispose();
    await io.purgePrefix(bucket, prefix).catch(() => undefined);
    io.buckets.close();
    rmSync(stateRoot, { recursive: true, force: true });
  });

  it('takes a consistent cut under load, streams it into the bucket and restores it elsewhere byte for byte', async () => {
    const load = startLoad(east.url, { concurrency: 6 });
    let artifact: ArtifactRef;
    let cut: number[];
    try {
      await load.reached(60);
      const id = 'hooks-rp-1';
      await adapter.quiesce(ctx(east, id), 30);
      const atCut = load.stats();

      const consistency = await checkConsistency(east.url, { ordersDatabaseUrl: east.db.url });
      assert.deepEqual(consistency.onlyInLedger, []);
      assert.deepEqual(consistency.onlyInOrders, [], 'at the cut the ledger holds every number orders holds');
      cut = consistency.orders;
      assert.ok(cut.length >= 60);
      for (const n of atCut.acknowledged) assert.ok(cut.includes(n), `acknowledged ${n} is in the cut`);

      assert.deepEqual(await adapter.marker(ctx(east, id)), {
        lastNumber: Math.max(...cut),
        count: cut.length,
      });
      beats.length = 0;
      const snap = await adapter.snapshot(ctx(east, id), bucketSink(io, bucket, `${prefix}east/ledger.bin`));
      artifact = snap.artifact;
      assert.ok(
        beats.some((b) => b.hook === 'snapshot'),
        'the snapshot heartbeats',
      );

      // Writes were held, not refused: none answered during the cut, none failed.
      const during = load.stats();
      assert.equal(during.succeeded, atCut.succeeded);
      assert.equal(during.failed, 0);
      assert.deepEqual(await readOrders(east.db.url), cut, 'orders did not move while quiesced');

      await adapter.release(ctx(east, id));
      await adapter.release(ctx(east, id)); // idempotent
      await load.reached(atCut.succeeded + 30);
    } finally {
      const final = await load.stop();
      assert.equal(final.failed, 0, JSON.stringify(final.failures));
    }

    const stored = await io.hash(bucket, artifact.key);
    assert.deepEqual(
      { size: stored.size, sha256: stored.sha256 },
      { size: artifact.size, sha256: artifact.sha256 },
    );
    const { body } = await io.open(bucket, artifact.key);
    const text = Buffer.concat(await body.toArray()).toString('utf8');
    const inArtifact = text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { n: number }).n)
      .sort((a, b) => a - b);
    assert.deepEqual(inArtifact, cut, 'the artifact holds exactly the cut');

    beats.length = 0;
    const restored = await adapter.restore(ctx(west, 'hooks-rp-1'), bucketSource(io, bucket, artifact));
    assert.match(restored.detail, new RegExp(`hooks-rp-1: ${cut.length} numbers, last ${Math.max(...cut)}`));
    assert.ok(
      beats.some((b) => b.hook === 'restore'),
      'the restore heartbeats',
    );
    assert.deepEqual(await ledgerOf(west), cut);

    // Byte-identical: a snapshot of the restored ledger hashes like the artifact.
    await adapter.quiesce(ctx(west, 'hooks-rp-west'), 30);
    const again = await adapter.snapshot(
      ctx(west, 'hooks-rp-west'),
      bucketSink(io, bucket, `${prefix}west/ledger.bin`),
    );
    await adapter.release(ctx(west, 'hooks-rp-west'));
    assert.deepEqual([again.artifact.size, again.artifact.sha256], [artifact.size, artifact.sha256]);

    // West's orders are still empty, so verify sees a ledger ahead of orders; once orders holds the
    // same cut (what the postgres service's restore brings), the two agree.
    const before = await adapter.verify(ctx(west, 'hooks-rp-1'));
    assert.equal(before.ok, false);
    assert.match(before.detail, new RegExp(`0 only in orders .*, ${cut.length} only in the ledger`));
    const pg = new Client({ connectionString: west.db.url });
    await pg.connect();
    try {
      await pg.query('insert into numbers (n, created_at) select unnest($1::bigint[]), now()', [cut]);
    } finally {
      await pg.end();
    }
    assert.deepEqual(await adapter.verify(ctx(west, 'hooks-rp-1')), {
      ok: true,
      detail: `ledger and orders agree: ${cut.length} numbers, last ${Math.max(...cut)}`,
    });
    const after = await checkConsistency(west.url, { ordersDatabaseUrl: west.db.url });
    assert.deepEqual([after.onlyInOrders, after.onlyInLedger], [[], []]);
  });

  it('every cut taken under concurrent load has the ledger equal to orders', async () => {
    const load = startLoad(east.url, { concurrency: 8 });
    try {
      // The gap a cut must close: under load, orders holds numbers the ledger has not received yet.
      const gap = await waitFor(
        async () => {
          const c = await checkConsistency(east.url);
          return c.onlyInOrders.length > 0 ? c : null;
        },
        { what: 'orders to be ahead of the ledger under load' },
      );
      assert.deepEqual(gap.onlyInLedger, []);
      let target = 40;
      for (let i = 0; i < 5; i++) {
        await load.reached(target);
        // Live: the ledger never holds a number orders lacks (it may lag behind).
        assert.deepEqual((await checkConsistency(east.url)).onlyInLedger, []);
        const id = `hooks-load-${i}`;
        await adapter.quiesce(ctx(east, id), 30);
        const c = await checkConsistency(east.url, { ordersDatabaseUrl: east.db.url });
        assert.deepEqual([c.onlyInOrders, c.onlyInLedger], [[], []], `cut ${i}`);
        const marker = await adapter.marker(ctx(east, id));
        assert.deepEqual(marker, { lastNumber: Math.max(...c.orders), count: c.orders.length });
        await adapter.release(ctx(east, id));
        target = load.stats().succeeded + 40;
      }
    } finally {
      const final = await load.stop();
      assert.equal(final.failed, 0, JSON.stringify(final.failures));
      assert.ok(final.succeeded >= 200);
    }
    const settled = await waitFor(
      async () => {
        const c = await checkConsistency(east.url, { ordersDatabaseUrl: east.db.url });
        return c.onlyInOrders.length === 0 ? c : null;
      },
      { what: 'the handoff queue to drain after the load' },
    );
    assert.deepEqual(settled.onlyInLedger, []);
  });

  it('names the hook, the status and the message in errors, never the token', async () => {
    await adapter.quiesce(ctx(east, 'hooks-err-a'), 30);
    try {
      const other = await adapter.quiesce(ctx(east, 'hooks-err-b'), 30).then(
        () => assert.fail('a quiesce for another restore point must fail'),
        (err: unknown) => err,
      );
      assert.ok(other instanceof HttpHookError, 'another cut holding the app may end: retryable');
      assert.equal(other.status, 409);
      assert.match(
        other.message,
        /^POST \/hooks\/ledger\/quiesce: HTTP 409: quiesced: already quiesced for restore point hooks-err-a/,
      );

      const marker = await adapter.marker(ctx(east, 'hooks-err-b')).then(
        () => assert.fail('a marker without a quiesce must fail'),
        (err: unknown) => err,
      );
      assert.ok(
        marker instanceof ApplicationFailure && marker.nonRetryable,
        'the cut is gone: not retryable',
      );
      assert.match(marker.message, /^POST \/hooks\/ledger\/marker: HTTP 409: not_quiesced/);
    } finally {
      await adapter.release(ctx(east, 'hooks-err-a'));
    }

    const wrong = 'wrong-token-that-must-not-leak';
    const denied = await adapter.verify(ctx(east, 'hooks-err-c', { token: wrong })).then(
      () => assert.fail('a wrong token must be refused'),
      (err: unknown) => err as Error,
    );
    assert.ok(denied instanceof ApplicationFailure && denied.nonRetryable);
    assert.match(denied.message, /^GET \/hooks\/ledger\/verify: HTTP 401: unauthorized/);
    for (const secret of [wrong, TOKEN]) assert.ok(!denied.message.includes(secret));

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await adapter
      .release(ctx(east, 'hooks-err-d', { url: `http://user:${wrong}@127.0.0.1:${port}/hooks/ledger` }))
      .then(
        () => assert.fail('a closed port must fail'),
        (err: unknown) => err as HttpHookError,
      );
    assert.equal(unreachable.status, undefined);
    assert.match(unreachable.message, /^POST \/hooks\/ledger\/release: .*ECONNREFUSED/);
    for (const secret of [wrong, TOKEN]) assert.ok(!unreachable.message.includes(secret));
  });

  it('a quiesce answers within its lease even when the hook never does, and releases', async () => {
    const seen: string[] = [];
    const silent = createServer((req) => seen.push(`${req.method} ${req.url}`));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hooks/ledger`;
    const quick = new HttpHookAdapter({ callTimeoutMs: 300, heartbeatMs: 50 });
    try {
      const started = Date.now();
      const err = await quick.quiesce(ctx(east, 'hooks-silent', { url }), 1).then(
        () => assert.fail('a silent hook must time out'),
        (e: unknown) => e as Error,
      );
      const took = Date.now() - started;
      assert.match(err.message, /^POST \/hooks\/ledger\/quiesce: no answer within 1 s/);
      assert.ok(took < 1000 + 300 + 500, `answered in ${took} ms`);
      assert.deepEqual(seen, ['POST /hooks/ledger/quiesce', 'POST /hooks/ledger/release']);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a restore whose artifact fails mid-stream passes the error on and leaves the ledger as it was', async () => {
    const before = await ledgerOf(west);
    assert.ok(before.length > 0);
    const mismatch = new ArtifactMismatchError(
      's3://bucket/key',
      { size: 10, sha256: 'a'.repeat(64) },
      {
        size: 10,
        sha256: 'b'.repeat(64),
      },
    );
    const failing = new PassThrough();
    failing.write('{"n":1}\n{"n":2}\n');
    const source: ArtifactSource = {
      artifact: {
        key: 'k',
        size: 1_000_000,
        sha256: 'a'.repeat(64),
        contentType: 'application/octet-stream',
      },
      open: () => Promise.resolve(failing),
      listing: () => Promise.reject(new Error('unused')),
      openObject: () => Promise.resolve(Readable.from([])),
    };
    const restoreStatus = async () => {
      const res = await fetch(`${west.hooks}/status`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as { restoring: boolean }).restoring;
    };
    const restoring = adapter.restore(ctx(west, 'hooks-broken'), source);
    // The source fails (as a checksum mismatch would) once the hook is reading the body.
    await waitFor(restoreStatus, { what: 'the hook to start the restore' });
    failing.destroy(mismatch);
    await assert.rejects(restoring, (err: unknown) => err === mismatch);
    await waitFor(async () => !(await restoreStatus()), { what: 'the aborted restore to end' });
    assert.deepEqual(await ledgerOf(west), before);
  });
});

describe('startAppFixture({ services: true })', () => {
  it('runs both services on fresh databases, declares them so the adapter can use them, and drops the databases', async () => {
    const fx = await startAppFixture({ services: true });
    const databases = Object.values(fx.ordersDatabases ?? {});
    try {
      assert.deepEqual(Object.keys(fx.ordersDatabases ?? {}).sort(), ['east', 'west']);
      const [orders, ledger] = fx.config.apps[fx.app]!.services;
      assert.equal(orders?.type, 'postgres');
      assert.deepEqual([ledger?.name, ledger?.type, ledger?.dependsOn], ['ledger', 'http', ['orders']]);
      for (const r of fx.regions) {
        assert.equal((orders!.regions[r.name] as { url: string }).url, fx.ordersDatabases![r.name]);
      }

      const east = fx.regions[0]!;
      for (let i = 0; i < 2; i++) {
        assert.equal((await fetch(`${east.url}/numbers`, { method: 'POST' })).status, 201);
      }
      const adapter = new HttpHookAdapter();
      const service = ledger as HttpService;
      const ctx: ServiceContext<HttpService> = {
        app: fx.app,
        region: east.name,
        service,
        target: service.regions[east.name]!,
        restorePointId: `${fx.app}-fixture`,
        heartbeat: () => undefined,
        signal: new AbortController().signal,
        logger: pino({ level: 'silent' }),
      };
      assert.equal(ctx.target.token, fx.hookToken);
      await adapter.quiesce(ctx, 10);
      assert.deepEqual(await adapter.marker(ctx), { lastNumber: 2, count: 2 });
      await adapter.release(ctx);
      assert.deepEqual(await readOrders(fx.ordersDatabases!.east!), [1, 2]);
      assert.deepEqual(await adapter.verify(ctx), {
        ok: true,
        detail: 'ledger and orders agree: 2 numbers, last 2',
      });
    } finally {
      await fx.stop();
    }
    const admin = new Client({ connectionString: stack().postgres!.url });
    await admin.connect();
    try {
      const names = databases.map((u) => new URL(u).pathname.slice(1));
      const left = await admin.query('select datname from pg_database where datname = any($1)', [names]);
      assert.equal(left.rowCount, 0, 'stop() drops the databases');
    } finally {
      await admin.end();
    }
  });
});
