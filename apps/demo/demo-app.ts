import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Handoff, WriteGate } from './handoff';
import { verifySignature } from '../../infra/notify/webhook.notifier';
import { type Exchange, type Handler, HttpError, parseJsonObject, readJson, readRaw, sendJson } from './http';
import { Ledger } from './ledger';
import { LedgerHooks } from './ledger-hooks';
import { type OrdersRepository, PostgresOrders } from './orders.repository';
import { type LeaseRead, startLeaseRefresh, WriteLease } from './write-lease';

/**
 * The demo app: one instance per region. It can be fenced (a fenced instance refuses writes until
 * unfenced) and it runs two services whose data must stay consistent with each other:
 *
 * - service A, "orders": `POST /numbers` allocates the next number in PostgreSQL and stores it;
 * - service B, "ledger": stores every number A hands it, a little later (an in-process queue), in
 *   `stateDir/ledger.jsonl`; its HTTP backup hooks live under `/hooks/ledger` (ledger-hooks.ts).
 *
 * Fence state and the older `/writes` survive restarts in `stateDir/state.json`. With a
 * `hookSecret`, `/fence` and `/unfence` take only calls signed with it (401 otherwise).
 * docs/demo-app.md describes the routes and the hook contract.
 */
export interface DemoState {
  fenced: boolean;
  epoch: number;
  writes: { value: unknown; at: string }[];
}

export interface DemoAppOptions {
  region: string;
  stateDir: string;
  log?: (event: Record<string, unknown>) => void;
  /** Service A's database (postgres://...). Without it (and without `orders`) /numbers answers 503. */
  ordersDatabaseUrl?: string;
  /** Service A's repository itself, instead of `ordersDatabaseUrl` (tests pass a fake). */
  orders?: OrdersRepository;
  /** How long a number waits between A and B (default 25 ms). */
  handoffDelayMs?: number;
  /** When set, the backup hooks require `Authorization: Bearer <hookToken>`. */
  hookToken?: string;
  /**
   * The region's `hookSecret`: when set, `/fence` and `/unfence` accept only calls signed with it
   * (HMAC-SHA256 and a timestamp within HOOK_SIGNATURE_TOLERANCE_SECONDS); others get 401.
   */
  hookSecret?: string;
  /**
   * The write lease (docs/fencing.md): with it, the instance reads the control state from every
   * region's bucket every `leaseRefreshMs` and accepts writes only under the lease. Without it,
   * only the `/fence` hook fences the instance.
   */
  fencing?: {
    read: () => Promise<LeaseRead>;
    writeLeaseMs: number;
    leaseRefreshMs: number;
    /** Monotonic milliseconds (default performance.now). */
    now?: () => number;
    /** Called when the app stops (closes the bucket clients). */
    close?: () => void;
  };
}

export const DEFAULT_HANDOFF_DELAY_MS = 25;

/** How far a signed hook call's timestamp may be from this instance's clock: bounds a replay. */
export const HOOK_SIGNATURE_TOLERANCE_SECONDS = 300;

export const jsonLog = (event: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);

export function createDemoApp(options: DemoAppOptions): Server {
  const { region, stateDir, log = jsonLog } = options;
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, 'state.json');
  let state: DemoState = { fenced: false, epoch: 0, writes: [] };
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as DemoState;
  } catch {
    // first start
  }
  let unhealthy = false;
  let stopping = false;
  const persist = () => {
    writeFileSync(`${file}.tmp`, JSON.stringify(state));
    renameSync(`${file}.tmp`, file);
  };

  const orders =
    options.orders ??
    (options.ordersDatabaseUrl
      ? new PostgresOrders(options.ordersDatabaseUrl, (err) =>
          log({ region, level: 'warn', msg: `orders database connection lost: ${err.message}` }),
        )
      : undefined);
  const ledger = new Ledger(join(stateDir, 'ledger.jsonl'));
  const gate = new WriteGate();
  const handoff = new Handoff(
    options.handoffDelayMs ?? DEFAULT_HANDOFF_DELAY_MS,
    (ns) => ledger.append(ns),
    (err) => log({ region, level: 'error', msg: `ledger append failed, will retry: ${err.message}` }),
  );
  const hooks = new LedgerHooks({ region, ledger, gate, handoff, orders, token: options.hookToken, log });

  const requireOrders = (): OrdersRepository => {
    if (!orders) {
      throw new HttpError(
        503,
        'orders_unavailable',
        'the orders service has no database: start the demo app with --orders-database-url ' +
          '(or DEMO_ORDERS_DATABASE_URL)',
      );
    }
    return orders;
  };
  const now = options.fencing?.now ?? (() => performance.now());
  const lease = options.fencing ? new WriteLease(region, options.fencing.writeLeaseMs, now) : undefined;
  const refresher = options.fencing
    ? startLeaseRefresh(lease!, options.fencing.read, options.fencing.leaseRefreshMs, now)
    : undefined;
  const refuseIfFenced = () => {
    if (state.fenced) {
      throw new HttpError(409, 'fenced', `region ${region} is fenced (epoch ${state.epoch})`, {
        epoch: state.epoch,
      });
    }
    const decision = lease?.check();
    if (decision && !decision.ok) {
      throw new HttpError(409, 'fenced', decision.reason, { epoch: decision.epoch });
    }
  };

  // The fence hooks decide who may write: with a hookSecret only the worker's signed calls count.
  const hookBody = async (x: Exchange): Promise<Record<string, unknown>> => {
    if (!options.hookSecret) return x.json();
    const raw = await readRaw(x.req);
    if (!verifySignature(options.hookSecret, x.req.headers, raw, HOOK_SIGNATURE_TOLERANCE_SECONDS)) {
      throw new HttpError(
        401,
        'unsigned',
        `a fence hook call must be signed with the region's hookSecret and dated within ${HOOK_SIGNATURE_TOLERANCE_SECONDS} s`,
      );
    }
    return parseJsonObject(raw);
  };

  const routes: Record<string, Handler> = {
    'GET /healthz': () => [
      unhealthy ? 503 : 200,
      {
        status: unhealthy ? 'unhealthy' : 'ok',
        region,
        fenced: state.fenced,
        epoch: state.epoch,
        ...(lease ? { lease: lease.status() } : {}),
      },
    ],
    'POST /fence': async (x) => {
      const b = await hookBody(x);
      const epoch = Number(b.epoch ?? state.epoch);
      if (!Number.isInteger(epoch) || epoch < state.epoch) {
        return [409, { error: 'stale_epoch', message: `epoch ${String(b.epoch)} is below ${state.epoch}` }];
      }
      state = { ...state, fenced: true, epoch };
      persist();
      return [200, { region, fenced: true, epoch }];
    },
    'POST /unfence': async (x) => {
      const b = await hookBody(x);
      const epoch = Number(b.epoch ?? state.epoch);
      if (!Number.isInteger(epoch) || epoch < state.epoch) {
        return [409, { error: 'stale_epoch', message: `epoch ${String(b.epoch)} is below ${state.epoch}` }];
      }
      state = { ...state, fenced: false, epoch };
      persist();
      return [200, { region, fenced: false, epoch }];
    },
    'POST /admin/unhealthy': () => ((unhealthy = true), [200, { region, healthy: false }]),
    'POST /admin/healthy': () => ((unhealthy = false), [200, { region, healthy: true }]),
    'POST /writes': async (x) => {
      const b = await x.json();
      refuseIfFenced();
      const write = { value: b.value ?? null, at: new Date().toISOString() };
      state.writes.push(write);
      persist();
      return [201, write];
    },
    'GET /writes': () => [200, { region, writes: state.writes }],

    // Service A stores the number, then hands it to service B. While the ledger is quiesced the
    // request waits at the gate; the number is queued for B before the write leaves the gate, so a
    // quiesce that waited for the gate and the queue sees B equal to A.
    'POST /numbers': async () => {
      const repo = requireOrders();
      refuseIfFenced();
      await gate.enter();
      try {
        if (stopping) throw new HttpError(503, 'stopping', `region ${region} is stopping`);
        refuseIfFenced();
        const n = await repo.create();
        handoff.push(n);
        return [201, { n }];
      } finally {
        gate.leave();
      }
    },
    // The ledger is read before the orders table: B only ever receives numbers A committed
    // earlier, so the answer never shows a number in the ledger that orders lacks.
    'GET /numbers': async () => {
      const repo = requireOrders();
      const inLedger = ledger.list();
      return [200, { region, orders: await repo.list(), ledger: inLedger }];
    },
    ...hooks.routes(),
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const key = `${req.method} ${url.pathname}`;
    const x: Exchange = { req, res, query: url.searchParams, json: () => readJson(req) };
    const route = routes[key];
    const send = (status: number, body: unknown) => {
      // A stopping app lets no connection linger for keep-alive: the close waits for all of them.
      if (stopping && !res.headersSent) res.setHeader('Connection', 'close');
      sendJson(res, status, body);
    };
    void (async () => {
      try {
        if (!route) throw new HttpError(404, 'not_found', `no route ${key}`);
        const reply = await route(x);
        if (reply) send(reply[0], reply[1]);
      } catch (err) {
        const e = err instanceof HttpError ? err : new HttpError(500, 'internal', (err as Error).message);
        send(e.status, { error: e.code, message: e.message, ...e.details });
        if (e.status === 500) log({ region, level: 'error', request: key, msg: e.message });
      }
      if (key !== 'GET /healthz' || res.statusCode !== 200)
        log({ region, request: key, status: res.statusCode });
    })();
  });
  // Closing the server stops the app: a quiesce ends, writes waiting at the gate answer 503 instead
  // of holding the close up until a lease runs out, and idle keep-alive connections go.
  const closeServer = server.close.bind(server);
  server.close = (callback?: (err?: Error) => void) => {
    stopping = true;
    refresher?.stop();
    hooks.close();
    closeServer(callback);
    server.closeIdleConnections();
    return server;
  };
  server.on('close', () => {
    options.fencing?.close?.();
    handoff.close();
    if (!options.orders) void orders?.close().catch(() => undefined);
  });
  return server;
}
