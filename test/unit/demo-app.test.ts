import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  createDemoApp,
  type DemoAppOptions,
  HOOK_SIGNATURE_TOLERANCE_SECONDS,
} from '../../apps/demo/demo-app';
import { signPayload, WEBHOOK_HEADERS } from '../../infra/notify/webhook.notifier';
import type { OrdersRepository } from '../../apps/demo/orders.repository';
import { demoConfigYaml, demoTokens } from '../../infra/stack/demo-config';
import type { StackInfo } from '../../infra/stack/stack-info';
import { waitFor } from '../support/stack';

describe('demo app', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-demo-'));
  const server = createDemoApp({ region: 'east', stateDir, log: () => undefined });
  let base = '';

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(stateDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('reports healthy, unfenced, epoch 0 at first start', async () => {
    assert.deepEqual(await call('GET', '/healthz'), {
      status: 200,
      body: { status: 'ok', region: 'east', fenced: false, epoch: 0 },
    });
  });

  it('accepts writes until fenced, refuses them while fenced, accepts again after unfence', async () => {
    assert.equal((await call('POST', '/writes', { value: 'a' })).status, 201);

    assert.deepEqual((await call('POST', '/fence', { epoch: 2 })).body, {
      region: 'east',
      fenced: true,
      epoch: 2,
    });
    const refused = await call('POST', '/writes', { value: 'b' });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'fenced');
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200, 'healthz stays 200 while fenced');
    assert.deepEqual(health.body, { status: 'ok', region: 'east', fenced: true, epoch: 2 });

    assert.equal((await call('POST', '/unfence', { epoch: 1 })).status, 409, 'an older epoch cannot unfence');
    assert.equal((await call('POST', '/unfence', { epoch: 3 })).status, 200);
    assert.equal((await call('POST', '/writes', { value: 'c' })).status, 201);

    const writes = (await call('GET', '/writes')).body.writes as { value: unknown }[];
    assert.deepEqual(
      writes.map((w) => w.value),
      ['a', 'c'],
    );
  });

  it('keeps the fence across a restart', async () => {
    await call('POST', '/fence', { epoch: 4 });
    const again = createDemoApp({ region: 'east', stateDir, log: () => undefined });
    await new Promise<void>((resolve) => again.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(again.address() as AddressInfo).port}/writes`, {
        method: 'POST',
        body: JSON.stringify({ value: 'd' }),
      });
      assert.equal(res.status, 409);
    } finally {
      await new Promise((resolve) => again.close(resolve));
    }
  });

  it('answers 503 only when toggled unhealthy', async () => {
    await call('POST', '/admin/unhealthy');
    assert.equal((await call('GET', '/healthz')).status, 503);
    await call('POST', '/admin/healthy');
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  it('rejects malformed JSON and unknown routes', async () => {
    const bad = await fetch(`${base}/writes`, { method: 'POST', body: '{' });
    assert.equal(bad.status, 400);
    assert.equal((await call('GET', '/nope')).status, 404);
  });

  it('answers 503 on /numbers when it has no orders database, naming the option', async () => {
    const res = await call('POST', '/numbers');
    assert.equal(res.status, 503);
    assert.equal(res.body.error, 'orders_unavailable');
    assert.match(String(res.body.message), /--orders-database-url/);
    assert.equal((await call('GET', '/numbers')).status, 503);
  });
});

/** Service A in memory; `hold()` makes the next creates wait until the returned function is called. */
class FakeOrders implements OrdersRepository {
  numbers: number[] = [];
  creates = 0;
  private next = 1;
  private blocked: Promise<void> | undefined;

  hold(): () => void {
    let open!: () => void;
    this.blocked = new Promise((resolve) => (open = resolve));
    return () => {
      this.blocked = undefined;
      open();
    };
  }

  async create(): Promise<number> {
    this.creates++;
    await this.blocked;
    const n = this.next++;
    this.numbers.push(n);
    return n;
  }

  list(): Promise<number[]> {
    return Promise.resolve([...this.numbers].sort((a, b) => a - b));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Instance {
  base: string;
  orders: FakeOrders;
  server: Server;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('demo app: orders, ledger and the ledger backup hooks', () => {
  const dirs: string[] = [];
  const servers: Server[] = [];
  const TOKEN = 'hook-token-for-tests';
  const auth = { Authorization: `Bearer ${TOKEN}` };

  async function start(options: Partial<DemoAppOptions> = {}): Promise<Instance> {
    const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-demo-services-'));
    dirs.push(stateDir);
    const orders = new FakeOrders();
    const server = createDemoApp({
      region: 'east',
      stateDir,
      log: () => undefined,
      orders,
      handoffDelayMs: 30,
      hookToken: TOKEN,
      ...options,
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      base,
      orders,
      server,
      async call(method, path, body, headers = path.startsWith('/hooks/') ? auth : {}) {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { 'Content-Type': 'application/json', ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      },
    };
  }

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const status = async (app: Instance) => (await app.call('GET', '/hooks/ledger/status')).body;
  const numbers = async (app: Instance) =>
    (await app.call('GET', '/numbers')).body as { orders: number[]; ledger: number[] };
  const snapshotBytes = async (app: Instance, restorePointId: string) => {
    const res = await fetch(`${app.base}/hooks/ledger/snapshot`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ restorePointId }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    return Buffer.from(await res.arrayBuffer());
  };
  const restore = (app: Instance, restorePointId: string, body: Buffer | string) =>
    fetch(`${app.base}/hooks/ledger/restore?restorePointId=${restorePointId}`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/octet-stream' },
      body,
    });

  it('stores a number in orders at once and in the ledger after the handoff', async () => {
    const app = await start({ handoffDelayMs: 400 });
    const created = await app.call('POST', '/numbers');
    assert.deepEqual(created, { status: 201, body: { n: 1 } });
    // The realistic gap: A has it, B does not yet.
    assert.deepEqual(await numbers(app), { region: 'east', orders: [1], ledger: [] });
    assert.equal((await status(app)).pendingHandoffs, 1);
    await waitFor(async () => (await numbers(app)).ledger.length === 1, {
      what: 'the handoff to the ledger',
    });
    assert.deepEqual(await numbers(app), { region: 'east', orders: [1], ledger: [1] });
  });

  it('a quiesce holds new writes (they wait), waits for writes in flight and the handoff, then B equals A', async () => {
    const app = await start();
    assert.equal((await app.call('POST', '/numbers')).status, 201);

    const unblock = app.orders.hold();
    const inFlight = app.call('POST', '/numbers');
    await waitFor(() => app.orders.creates === 2, { what: 'the second write to reach orders' });

    let quiesced: Answer | undefined;
    const quiesce = app
      .call('POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-1', leaseSeconds: 30 })
      .then((a) => (quiesced = a));
    await waitFor(async () => (await status(app)).quiesced !== null, { what: 'the quiesce to start' });
    const held = app.call('POST', '/numbers');
    await waitFor(async () => (await status(app)).heldWrites === 1, { what: 'the third write to wait' });
    assert.equal(quiesced, undefined, 'the quiesce waits for the write in flight');
    assert.equal(app.orders.creates, 2, 'a held write does not reach orders');

    unblock();
    assert.deepEqual(await inFlight, { status: 201, body: { n: 2 } });
    const answer = await quiesce;
    assert.deepEqual([answer.status, answer.body.quiesced], [200, true]);
    // At the cut the ledger holds exactly what orders holds, including the write that was in flight.
    assert.deepEqual(await numbers(app), { region: 'east', orders: [1, 2], ledger: [1, 2] });
    assert.deepEqual((await app.call('POST', '/hooks/ledger/marker', { restorePointId: 'rp-1' })).body, {
      lastNumber: 2,
      count: 2,
    });
    assert.equal(app.orders.creates, 2);

    assert.deepEqual((await app.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-1' })).body, {
      released: true,
      restorePointId: 'rp-1',
    });
    assert.deepEqual(await held, { status: 201, body: { n: 3 } });
  });

  it('quiesce is idempotent for the same restore point and 409 for another; release is harmless', async () => {
    const app = await start();
    const q = { restorePointId: 'rp-a', leaseSeconds: 30 };
    const first = await app.call('POST', '/hooks/ledger/quiesce', q);
    const again = await app.call('POST', '/hooks/ledger/quiesce', { ...q, leaseSeconds: 60 });
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.equal(again.body.leaseExpiresAt, first.body.leaseExpiresAt, 'a repeated quiesce keeps its lease');

    const other = await app.call('POST', '/hooks/ledger/quiesce', {
      restorePointId: 'rp-b',
      leaseSeconds: 30,
    });
    assert.equal(other.status, 409);
    assert.equal(other.body.error, 'quiesced');
    assert.match(String(other.body.message), /rp-a/);
    const notMine = await app.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-b' });
    assert.deepEqual([notMine.status, notMine.body.released], [200, false]);
    assert.notEqual((await status(app)).quiesced, null, "another restore point's release leaves it quiesced");
    const marker = await app.call('POST', '/hooks/ledger/marker', { restorePointId: 'rp-b' });
    assert.deepEqual([marker.status, marker.body.error], [409, 'not_quiesced']);

    const released = await app.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-a' });
    assert.deepEqual([released.status, released.body.released], [200, true]);
    const twice = await app.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-a' });
    assert.deepEqual([twice.status, twice.body.released, twice.body.leaseExpired], [200, false, false]);
    assert.equal((await status(app)).quiesced, null);
    assert.equal(
      (await app.call('POST', '/hooks/ledger/quiesce', { ...q, restorePointId: 'rp-b' })).status,
      200,
    );

    for (const bad of [
      {},
      { restorePointId: 'x' },
      { restorePointId: 'x', leaseSeconds: 0 },
      { leaseSeconds: 5 },
    ]) {
      assert.equal((await app.call('POST', '/hooks/ledger/quiesce', bad)).status, 400, JSON.stringify(bad));
    }
  });

  it('the quiesce ends by itself when its lease runs out: held writes go through', async () => {
    const app = await start();
    const started = Date.now();
    assert.equal(
      (await app.call('POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-lease', leaseSeconds: 1 }))
        .status,
      200,
    );
    const held = app.call('POST', '/numbers');
    await waitFor(async () => (await status(app)).heldWrites === 1, { what: 'the write to wait' });
    assert.deepEqual(await held, { status: 201, body: { n: 1 } });
    assert.ok(Date.now() - started >= 900, 'the write waited for the lease');
    assert.equal((await status(app)).quiesced, null);
    const marker = await app.call('POST', '/hooks/ledger/marker', { restorePointId: 'rp-lease' });
    assert.equal(marker.status, 409);
    assert.equal(marker.body.error, 'not_quiesced');
    assert.match(String(marker.body.message), /lease of 1 s ran out/);
    const late = await app.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-lease' });
    assert.deepEqual([late.status, late.body.released, late.body.leaseExpired], [200, false, true]);
  });

  it('refuses /numbers while fenced, also a write that waited at the gate when the fence came', async () => {
    const app = await start();
    await app.call('POST', '/fence', { epoch: 1 });
    const refused = await app.call('POST', '/numbers');
    assert.deepEqual([refused.status, refused.body.error], [409, 'fenced']);
    await app.call('POST', '/unfence', { epoch: 1 });

    await app.call('POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-f', leaseSeconds: 30 });
    const held = app.call('POST', '/numbers');
    await waitFor(async () => (await status(app)).heldWrites === 1, { what: 'the write to wait' });
    await app.call('POST', '/fence', { epoch: 2 });
    await app.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-f' });
    const late = await held;
    assert.deepEqual([late.status, late.body.error], [409, 'fenced']);
    assert.deepEqual(app.orders.numbers, []);
  });

  it('snapshots the ledger as it stood at the cut; a restore elsewhere reproduces the same bytes', async () => {
    const east = await start();
    for (let i = 0; i < 5; i++) assert.equal((await east.call('POST', '/numbers')).status, 201);
    await east.call('POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-s', leaseSeconds: 30 });
    const bytes = await snapshotBytes(east, 'rp-s');
    await east.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-s' });
    assert.deepEqual(
      bytes
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { n: number }).n),
      [1, 2, 3, 4, 5],
    );
    assert.equal((await east.call('POST', '/numbers')).status, 201, 'writes go on after the release');

    const west = await start();
    const restored = await restore(west, 'rp-s', bytes);
    assert.equal(restored.status, 200);
    assert.match(((await restored.json()) as { detail: string }).detail, /rp-s: 5 numbers, last 5/);
    assert.deepEqual((await numbers(west)).ledger, [1, 2, 3, 4, 5]);
    await west.call('POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-w', leaseSeconds: 30 });
    const again = await snapshotBytes(west, 'rp-w');
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    assert.equal(sha(again), sha(bytes), 'the restored ledger is byte-identical');

    const whileQuiesced = await restore(west, 'rp-s', bytes);
    assert.equal(whileQuiesced.status, 409, 'no restore while quiesced');
    await west.call('POST', '/hooks/ledger/release', { restorePointId: 'rp-w' });
  });

  it('a bad artifact changes nothing', async () => {
    const app = await start();
    for (let i = 0; i < 2; i++) await app.call('POST', '/numbers');
    await waitFor(async () => (await numbers(app)).ledger.length === 2, { what: 'the handoff' });
    const cases = [
      ['{"n":7}\nnot json\n', /line 2: not JSON/],
      ['{"n":7}\n{"n":7}\n', /line 2: number 7 appears twice/],
      ['{"n":7}\n{"n":8}', /line 2: the last line is incomplete/],
      ['{"n":-1}\n', /line 1: expected/],
    ] as const;
    for (const [body, message] of cases) {
      const res = await restore(app, 'rp-bad', body);
      const answer = (await res.json()) as { error: string; message: string };
      assert.equal(res.status, 400, body);
      assert.equal(answer.error, 'bad_artifact');
      assert.match(answer.message, message);
    }
    assert.deepEqual((await numbers(app)).ledger, [1, 2]);
    assert.equal((await app.call('GET', '/hooks/ledger/verify')).body.ok, true);
    assert.equal((await restore(app, 'rp-empty', '')).status, 200, 'an empty ledger is a valid artifact');
    assert.deepEqual((await numbers(app)).ledger, []);
  });

  it('verify compares the ledger with orders', async () => {
    const app = await start();
    for (let i = 0; i < 3; i++) await app.call('POST', '/numbers');
    // Verify holds writes and drains the handoff before it compares: no false alarm on a live app.
    assert.deepEqual((await app.call('GET', '/hooks/ledger/verify')).body, {
      ok: true,
      detail: 'ledger and orders agree: 3 numbers, last 3',
    });
    app.orders.numbers.push(9); // a number A has and B lost
    const verdict = (await app.call('GET', '/hooks/ledger/verify')).body;
    assert.equal(verdict.ok, false);
    assert.match(String(verdict.detail), /1 only in orders \(9\), 0 only in the ledger/);
  });

  it('requires the bearer token on every hook when configured', async () => {
    const app = await start();
    const hooks: [string, string, unknown][] = [
      ['POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-t', leaseSeconds: 5 }],
      ['POST', '/hooks/ledger/marker', { restorePointId: 'rp-t' }],
      ['POST', '/hooks/ledger/snapshot', { restorePointId: 'rp-t' }],
      ['POST', '/hooks/ledger/release', { restorePointId: 'rp-t' }],
      ['POST', '/hooks/ledger/restore?restorePointId=rp-t', {}],
      ['GET', '/hooks/ledger/verify', undefined],
    ];
    for (const [method, path, body] of hooks) {
      const attempts: Record<string, string>[] = [
        {},
        { Authorization: 'Bearer wrong' },
        { Authorization: TOKEN },
      ];
      for (const headers of attempts) {
        const res = await app.call(method, path, body, headers);
        assert.deepEqual([res.status, res.body.error], [401, 'unauthorized'], `${method} ${path}`);
        assert.ok(!JSON.stringify(res.body).includes(TOKEN));
      }
    }
    assert.equal((await status(app)).quiesced, null);
    assert.equal((await app.call('POST', '/numbers', undefined, {})).status, 201, '/numbers needs no token');
  });

  it('closing the app ends a quiesce: a held write answers 503 instead of holding the close up', async () => {
    const app = await start();
    await app.call('POST', '/hooks/ledger/quiesce', { restorePointId: 'rp-c', leaseSeconds: 600 });
    const held = app.call('POST', '/numbers');
    await waitFor(async () => (await status(app)).heldWrites === 1, { what: 'the write to wait' });
    const closed = new Promise((resolve) => app.server.close(resolve));
    const answer = await held;
    assert.deepEqual([answer.status, answer.body.error], [503, 'stopping']);
    await closed;
    assert.deepEqual(app.orders.numbers, []);
  });
});

describe('demo stack configuration', () => {
  it('declares orders (postgres, per region) and ledger (http hooks, after orders) and validates', () => {
    const info: Pick<StackInfo, 'runDir' | 'temporal' | 's3' | 'witness' | 'moto' | 'powerdns'> = {
      runDir: '/tmp/run',
      witness: {
        region: 'witness',
        endpoint: 'http://127.0.0.1:9003',
        accessKeyId: 'key',
        secretAccessKey: 'secret',
        bucket: 'switchyard-witness',
        dataDir: '/tmp',
      },
      temporal: { address: '127.0.0.1:7233', namespace: 'default', uiUrl: 'http://127.0.0.1:8233' },
      s3: ['east', 'west'].map((region) => ({
        region,
        endpoint: `http://127.0.0.1:${region === 'east' ? 9001 : 9002}`,
        accessKeyId: 'key',
        secretAccessKey: 'secret',
        bucket: `switchyard-${region}`,
        dataDir: '/tmp',
      })),
      moto: {
        endpoint: 'http://127.0.0.1:5000',
        region: 'us-east-1',
        accessKeyId: 'a',
        secretAccessKey: 'b',
      },
      powerdns: {
        apiUrl: 'http://127.0.0.1:8081',
        apiKey: 'k',
        serverId: 'localhost',
        dnsHost: '127.0.0.1',
        dnsPort: 5353,
      },
    };
    const yaml = demoConfigYaml(
      info,
      demoTokens(),
      { host: '127.0.0.1', port: 8080 },
      {
        ordersDatabaseUrls: {
          east: 'postgres://postgres@127.0.0.1:5432/shop_east',
          west: 'postgres://postgres@127.0.0.1:5432/shop_west',
        },
        hookToken: 'demo-hook-token',
      },
    );
    const shop = (parse(yaml) as { apps: Record<string, { services: unknown; restorePoints: unknown }> }).apps
      .shop!;
    assert.deepEqual(shop.services, [
      {
        name: 'orders',
        type: 'postgres',
        regions: {
          east: { url: 'postgres://postgres@127.0.0.1:5432/shop_east' },
          west: { url: 'postgres://postgres@127.0.0.1:5432/shop_west' },
        },
      },
      {
        name: 'ledger',
        type: 'http',
        dependsOn: ['orders'],
        regions: {
          east: { url: 'http://127.0.1.1:18080/hooks/ledger', token: 'demo-hook-token' },
          west: {
            url: 'http://127.0.1.2:18080/hooks/ledger',
            token: 'demo-hook-token',
            scratch: { url: 'http://127.0.1.2:18081/hooks/ledger', token: 'demo-hook-token' },
          },
        },
      },
    ]);
    const app = parse(yaml) as {
      apps: Record<string, { regions: { name: string; scratch?: unknown }[]; checks: { name: string }[] }>;
    };
    assert.deepEqual(
      app.apps.shop!.regions.map((r) => [r.name, r.scratch ?? null]),
      [
        ['east', null],
        ['west', { url: 'http://127.0.1.2:18081', healthPath: '/numbers' }],
      ],
    );
    assert.deepEqual(
      app.apps.shop!.checks.map((c) => c.name),
      ['orders-restored', 'serves-numbers'],
    );
    const fencing = (parse(yaml) as { apps: Record<string, { fencing?: { witness?: { bucket: unknown } } }> })
      .apps.shop!.fencing;
    assert.deepEqual(
      fencing?.witness?.bucket,
      {
        name: 'switchyard-witness',
        endpoint: 'http://127.0.0.1:9003',
        accessKeyId: 'key',
        secretAccessKey: 'secret',
      },
      "the demo's instances and controller count the stack's witness",
    );
    assert.deepEqual(shop.restorePoints, {
      quiesceTimeoutSeconds: 10,
      snapshotTimeoutSeconds: 300,
      schedule: { enabled: true, everySeconds: 300, catchupWindowSeconds: 600 },
      retention: { keepLast: 24, keepDaily: 2, keepWeekly: 0 },
    });
  });
});

describe('demo app: signed fence hooks', () => {
  const secret = 'region-hook-secret-0123456789';
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-demo-signed-'));
  const server = createDemoApp({ region: 'east', stateDir, log: () => undefined, hookSecret: secret });
  let base = '';

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(stateDir, { recursive: true, force: true });
  });

  const hook = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const signed = (body: string, at = Math.floor(Date.now() / 1000), key = secret) => ({
    [WEBHOOK_HEADERS.timestamp]: String(at),
    [WEBHOOK_HEADERS.signature]: `sha256=${signPayload(key, at, body)}`,
  });
  const fenced = async () => ((await (await fetch(`${base}/healthz`)).json()) as { fenced: boolean }).fenced;

  it('refuses unsigned, forged, tampered and stale calls with 401 and changes nothing', async () => {
    const body = JSON.stringify({ epoch: 1, operationId: 'op' });
    const refusals = [
      await hook('/fence', body),
      await hook('/fence', body, signed(body, undefined, 'another-secret-0123456789')),
      await hook('/fence', body.replace('1', '2'), signed(body)),
      await hook(
        '/fence',
        body,
        signed(body, Math.floor(Date.now() / 1000) - HOOK_SIGNATURE_TOLERANCE_SECONDS - 5),
      ),
    ];
    assert.deepEqual(
      refusals.map((r) => [r.status, r.body.error]),
      Array(4).fill([401, 'unsigned']),
    );
    assert.equal(await fenced(), false);
  });

  it('fences and unfences on signed calls', async () => {
    const fence = JSON.stringify({ epoch: 1, operationId: 'op' });
    assert.equal((await hook('/fence', fence, signed(fence))).status, 200);
    assert.equal(await fenced(), true);
    const unsigned = JSON.stringify({ epoch: 2 });
    assert.equal((await hook('/unfence', unsigned)).status, 401);
    assert.equal(await fenced(), true);
    assert.equal((await hook('/unfence', unsigned, signed(unsigned))).status, 200);
    assert.equal(await fenced(), false);
  });
});
