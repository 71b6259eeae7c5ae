import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListHostedZonesByNameCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { parse, stringify } from 'yaml';
import { fencingFromConfig } from '../../apps/demo/control-reader';
import { createDemoApp, type DemoAppOptions } from '../../apps/demo/demo-app';
import { sha256Hex } from '../../apps/api/common/auth.guard';
import { parseConfig } from '../../infra/config/config.loader';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { resolveA } from '../../infra/health/endpoint-verifier';
import {
  demoAppServices,
  localAppConfig,
  toYaml,
  type LocalAppSpec,
  type LocalServiceSpec,
} from '../../infra/stack/app-config';
import { freePort } from '../../infra/stack/free-port';
import type { StackInfo } from '../../infra/stack/stack-info';
import { Supervisor } from '../../infra/stack/supervisor';
import { startS3Servers } from '../../infra/stack/test-servers';
import { createMotoZoneWithA, motoRoute53Client } from '../../infra/stack/moto.component';
import { createPowerDnsZoneWithA } from '../../infra/stack/powerdns.component';
import { taskQueueHasPollers } from '../../infra/stack/temporal.component';
import { connectClient } from '../../infra/temporal/connection';
import { coordinatorTaskQueue, regionTaskQueue } from '../../workflows/definitions';
import { stack, uniqueName, waitFor } from './stack';

/**
 * One protected app on the shared test servers, isolated from every other test: its own DNS zone,
 * its own task queue prefix (so no other test's worker takes its tasks), its own bucket prefix,
 * and its own demo app instances on 127.0.1.1 and 127.0.1.2. With `services: true` the demo apps
 * run both their services (orders in a fresh PostgreSQL database per region, ledger behind the
 * backup hooks) and the configuration declares them (docs/demo-app.md).
 */
export interface AppFixture {
  app: string;
  zone: string;
  record: string;
  /** `url` is the instance's base URL, e.g. http://127.0.1.1:41234. */
  regions: { name: string; ip: string; port: number; url: string; server: Server }[];
  /** With `services: true`: each region's orders database URL, by region name. */
  ordersDatabases?: Record<string, string>;
  /** With `services: true`: the bearer token the ledger hooks require (also in the configuration). */
  hookToken?: string;
  /** Each region's `hookSecret`, by region name: the worker signs its fence and unfence calls with it. */
  hookSecrets: Record<string, string>;
  /**
   * With `scratch: true`: the demo's scratch instance in the standby region (docs/drills.md), and
   * the URL of the orders service's scratch database there (created and dropped by drills).
   */
  scratch?: { region: string; url: string; server: Server; ordersDatabase: string };
  config: SwitchyardConfig;
  configFile: string;
  dir: string;
  tokens: { operator: string; viewer: string; admin: string; approver: string };
  /**
   * The monitor token of a vantage point (one of MONITOR_VANTAGES): principal `monitor-<vantage>`,
   * bound to that vantage point, so it may report for it only (docs/security.md).
   */
  monitorToken(vantage: string): string;
  temporal(): Promise<Client>;
  route53A(): Promise<string[]>;
  powerDnsA(): Promise<string[]>;
  /**
   * The pid of the fixture's own S3 server of a region (`east`, `west`, `witness`), to stop it with
   * SIGSTOP; only with `privateS3` (stopping a shared server would disturb other test files).
   */
  s3Pid(region: string): number;
  /** Stops a region's demo instance and starts a new one on the same address and state (a restart). */
  restartDemo(region: string): Promise<void>;
  stop(): Promise<void>;
}

export const REGION_IPS = ['127.0.1.1', '127.0.1.2'] as const;
/** The vantage points the fixture has monitor tokens for: one per region and a third site. */
export const MONITOR_VANTAGES = ['east', 'west', 'third'] as const;

export type AppFixtureOptions = Partial<
  Pick<
    LocalAppSpec,
    | 'ttl'
    | 'verifyPath'
    | 'verifyTimeoutSeconds'
    | 'failoverApproval'
    | 'notifications'
    | 'restorePoints'
    | 'softDelete'
    | 'rpoSeconds'
    | 'payloadCodec'
    | 'updateTimeoutSeconds'
  >
> & {
  /** Another Temporal server than the harness's shared one (a test that restarts its own). */
  temporal?: { address: string; namespace: string };
  /**
   * Run the demo app's two services: a fresh orders database per region on the harness's
   * PostgreSQL (`<app>_<region>`, dropped by stop()), the ledger hooks behind a bearer token,
   * and both services in the configuration.
   */
  services?: boolean;
  /** The demo apps' handoff delay between orders and ledger (default: the app's). */
  handoffDelayMs?: number;
  /**
   * The demo instances accept writes only under the write lease, reading the app's control
   * state from both regions' buckets (docs/fencing.md). Off by default: without it only the
   * `/fence` hook fences an instance, so tests that stop a bucket do not fence the app.
   * `{ witness: true }`: also declare the harness's witness S3 server as `fencing.witness`, so
   * the controller mirrors to and the instances read three buckets (two of three suffice).
   */
  fencing?: boolean | { witness?: boolean };
  /**
   * With `services`: a scratch demo instance in the standby region (its orders database is the
   * derived scratch database, its health path /numbers), declared as `regions[1].scratch`.
   */
  scratch?: boolean;
  /** The app's `checks`. */
  checks?: Record<string, unknown>[];
  /** More services after the demo's two (e.g. an s3 prefix). */
  extraServices?: LocalServiceSpec[];
  /**
   * The API's rate limits (`api.rateLimits`); default: far above what any test sends, so only a
   * test about rate limits meets them (docs/security.md#rate-limits).
   */
  rateLimits?: Record<string, { limit: number; windowSeconds: number }>;
  /** Approval policies by kind, over the fixture's (none for DNS changes, as for failovers). */
  approvals?: Record<string, { required?: number; roles?: string[]; excludeRequester?: boolean }>;
  /** `api.metricsAccess` (default public). */
  metricsAccess?: 'public' | 'authenticated';
  /** Fields merged into the app's `dns` section (strategy, records...), given its zone and record name. */
  dns?: (zone: string, record: string) => Record<string, unknown>;
  /**
   * The app's buckets on its own versitygw servers (east, west, and the witness with
   * `fencing: { witness: true }`), started for it and stopped by stop(), instead of the harness's
   * shared ones. For a test that stops an S3 server (SIGSTOP, through `s3Pid`): test files run
   * concurrently, and stopping a shared server would stall every other file's buckets.
   */
  privateS3?: boolean;
};

/**
 * Sets the app's custom failover steps (`apps.<app>.failover.steps`) in the fixture's configuration
 * file, which the worker reads, and in `fx.config`, which the API uses; secrets as `${ENV}`
 * resolve from process.env. Call before the worker starts.
 */
export function setFailoverSteps(fx: AppFixture, steps: Record<string, unknown>[]): void {
  const doc = parse(readFileSync(fx.configFile, 'utf8')) as { apps: Record<string, Record<string, unknown>> };
  doc.apps[fx.app]!.failover = { steps };
  const text = stringify(doc);
  writeFileSync(fx.configFile, text);
  fx.config = parseConfig(text, fx.configFile, process.env);
}

export async function startAppFixture(options: AppFixtureOptions = {}): Promise<AppFixture> {
  const shared = stack();
  const s = options.temporal ? { ...shared, temporal: { ...shared.temporal, ...options.temporal } } : shared;
  if (!options.privateS3) return startFixtureOn(s, options);

  const supervisor = new Supervisor(mkdtempSync(path.join(tmpdir(), 'switchyard-s3-')), {
    handleSignals: false,
  });
  try {
    const servers = await startS3Servers(supervisor, {
      witness: typeof options.fencing === 'object' && Boolean(options.fencing.witness),
    });
    const fx = await startFixtureOn({ ...s, s3: servers.s3, witness: servers.witness }, options);
    const own = [...servers.s3, ...(servers.witness ? [servers.witness] : [])];
    return {
      ...fx,
      s3Pid(region: string) {
        const server = own.find((x) => x.region === region);
        if (!server)
          throw new Error(
            `the fixture has no S3 server "${region}" (${own.map((x) => x.region).join(', ')})`,
          );
        return server.pid;
      },
      async stop() {
        await fx.stop();
        // A server a test left stopped would ignore SIGTERM until the grace period runs out.
        for (const server of own) {
          try {
            process.kill(server.pid, 'SIGCONT');
          } catch {
            // already gone
          }
        }
        await supervisor.stopAll();
        rmSync(supervisor.runDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await supervisor.stopAll();
    throw new Error(`${(err as Error).message} (private S3 logs in ${supervisor.logDir})`, { cause: err });
  }
}

async function startFixtureOn(
  s: Pick<StackInfo, 'temporal' | 's3' | 'witness' | 'moto' | 'powerdns'>,
  options: AppFixtureOptions,
): Promise<AppFixture> {
  const app = uniqueName('shop').slice(0, 40);
  const zone = `${app}.switchyard.test`;
  const record = `www.${zone}`;
  const ttl = options.ttl ?? 2;
  const dir = mkdtempSync(path.join(tmpdir(), `${app}-`));

  const port = await freePort(REGION_IPS[0]);
  const scratchPort = options.scratch ? await freePort(REGION_IPS[1]) : undefined;
  const scratchUrl = scratchPort ? `http://${REGION_IPS[1]}:${scratchPort}` : undefined;
  const names = s.s3.map((r) => r.region);
  // The configuration is built and validated before anything starts, so a bad one leaks nothing.
  const token = () => randomBytes(24).toString('base64url');
  const tokens = { operator: token(), viewer: token(), admin: token(), approver: token() };
  const monitorTokens = new Map<string, string>(MONITOR_VANTAGES.map((v) => [v, token()]));
  const monitorToken = (vantage: string): string => {
    const t = monitorTokens.get(vantage);
    if (!t) throw new Error(`the fixture has no monitor token for vantage point "${vantage}"`);
    return t;
  };
  const hookToken = options.services ? token() : undefined;
  const hookSecrets = Object.fromEntries(names.map((n) => [n, token()]));
  const ordersDatabases = options.services ? ordersDatabasesFor(app, names) : undefined;
  const doc = localAppConfig(s, {
    app,
    zone,
    record,
    ttl,
    regions: REGION_IPS.map((ip, i) => ({
      name: s.s3[i]!.region,
      ip,
      port,
      hookSecret: hookSecrets[s.s3[i]!.region],
      ...(i === 1 && scratchUrl ? { scratch: { url: scratchUrl, healthPath: '/numbers' } } : {}),
    })),
    api: {
      host: '127.0.0.1',
      port: 0,
      rateLimits: options.rateLimits ?? {
        principal: { limit: 1_000_000, windowSeconds: 60 },
        anonymous: { limit: 1_000_000, windowSeconds: 60 },
      },
      ...(options.metricsAccess ? { metricsAccess: options.metricsAccess } : {}),
    },
    tokens: [
      { principal: 'alice', roles: ['operator'], sha256: sha256Hex(tokens.operator) },
      { principal: 'victor', roles: ['viewer'], sha256: sha256Hex(tokens.viewer) },
      { principal: 'carol', roles: ['admin'], sha256: sha256Hex(tokens.admin) },
      { principal: 'bob', roles: ['approver'], sha256: sha256Hex(tokens.approver) },
      ...MONITOR_VANTAGES.map((v) => ({
        principal: `monitor-${v}`,
        roles: ['monitor'],
        sha256: sha256Hex(monitorToken(v)),
        vantage: v,
      })),
    ],
    taskQueuePrefix: `t-${app}`,
    bucketPrefix: `${app}/`,
    verifyPath: options.verifyPath,
    verifyTimeoutSeconds: options.verifyTimeoutSeconds,
    // Tests that are not about approvals run without them; the approval tests set a policy.
    failoverApproval: options.failoverApproval ?? { required: 0 },
    // DNS changes need one approval by default (docs/soft-deletes.md); a test that is about that
    // approval sets the policy on its API's configuration.
    approvals: {
      'dns-record-delete': { required: 0 },
      'dns-override': { required: 0 },
      ...options.approvals,
    },
    databaseUrl: `sqlite:${path.join(dir, 'switchyard.db')}`,
    notifications: options.notifications,
    restorePoints: options.restorePoints,
    softDelete: options.softDelete,
    rpoSeconds: options.rpoSeconds,
    payloadCodec: options.payloadCodec,
    updateTimeoutSeconds: options.updateTimeoutSeconds,
    services: ordersDatabases
      ? [
          ...demoAppServices(
            REGION_IPS.map((ip, i) => ({
              name: names[i]!,
              ip,
              port,
              ordersDatabaseUrl: ordersDatabases[names[i]!]!,
              ...(i === 1 && scratchPort ? { scratch: { ip, port: scratchPort } } : {}),
            })),
            hookToken,
          ),
          ...(options.extraServices ?? []),
        ]
      : undefined,
    checks: options.checks,
    witness: typeof options.fencing === 'object' && Boolean(options.fencing.witness),
  });
  if (options.dns) {
    const appDoc = (doc.apps as Record<string, { dns: Record<string, unknown> }>)[app]!;
    Object.assign(appDoc.dns, options.dns(zone, record));
  }
  const configFile = path.join(dir, 'switchyard.yaml');
  const yaml = toYaml(doc);
  writeFileSync(configFile, yaml);
  const config = parseConfig(yaml, configFile, {});

  if (ordersDatabases) await createDatabases(Object.values(ordersDatabases));
  const demoOptions = (name: string): DemoAppOptions => ({
    region: name,
    stateDir: path.join(dir, `demo-${name}`),
    log: () => undefined,
    ordersDatabaseUrl: ordersDatabases?.[name],
    handoffDelayMs: options.handoffDelayMs,
    hookToken,
    hookSecret: hookSecrets[name],
    fencing: options.fencing ? fencingFromConfig(config, app) : undefined,
  });
  const startDemo = async (name: string, ip: string): Promise<Server> => {
    const server = createDemoApp(demoOptions(name));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, ip, () => resolve());
    }).catch((err: unknown) => {
      server.close();
      throw err;
    });
    return server;
  };
  const servers: Server[] = [];
  let regions: AppFixture['regions'];
  let scratch: AppFixture['scratch'];
  try {
    regions = await Promise.all(
      REGION_IPS.map(async (ip, i) => {
        const name = names[i]!;
        const server = await startDemo(name, ip);
        servers.push(server);
        return { name, ip, port, url: `http://${ip}:${port}`, server };
      }),
    );
    if (scratchPort && ordersDatabases) {
      const region = names[1]!;
      const ordersDatabase = scratchDatabaseUrl(ordersDatabases[region]!);
      const server = createDemoApp({
        region: `${region}-scratch`,
        stateDir: path.join(dir, `demo-${region}-scratch`),
        log: () => undefined,
        ordersDatabaseUrl: ordersDatabase,
        handoffDelayMs: options.handoffDelayMs,
        hookToken,
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(scratchPort, REGION_IPS[1], () => resolve());
      });
      scratch = { region, url: scratchUrl!, server, ordersDatabase };
    }
    await createMotoZoneWithA(s.moto, zone, { name: record, ip: REGION_IPS[0], ttl });
    await createPowerDnsZoneWithA(s.powerdns, zone, { name: record, ip: REGION_IPS[0], ttl });
  } catch (err) {
    await Promise.all(servers.map((server) => new Promise((res) => server.close(res))));
    if (ordersDatabases) await dropDatabases(Object.values(ordersDatabases)).catch(() => undefined);
    throw err;
  }

  let client: Promise<Client> | undefined;
  const r53 = motoRoute53Client(s.moto);
  return {
    app,
    zone,
    record,
    regions,
    config,
    configFile,
    dir,
    tokens,
    monitorToken,
    ordersDatabases,
    hookToken,
    hookSecrets,
    scratch,
    temporal: () => (client ??= connectClient(config.temporal)),
    async route53A() {
      const { HostedZones } = await r53.send(new ListHostedZonesByNameCommand({ DNSName: `${zone}.` }));
      const id = HostedZones?.find((z) => z.Name === `${zone}.`)?.Id;
      if (!id) throw new Error(`moto has no hosted zone ${zone}`);
      const out = await r53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: id,
          StartRecordName: `${record}.`,
          StartRecordType: 'A',
          MaxItems: 10,
        }),
      );
      const sets = (out.ResourceRecordSets ?? []).filter((r) => r.Name === `${record}.` && r.Type === 'A');
      if (sets.length !== 1)
        throw new Error(`expected one A record set for ${record}, moto holds ${sets.length}`);
      return (sets[0]!.ResourceRecords ?? []).map((r) => r.Value!).sort();
    },
    s3Pid() {
      throw new Error('the fixture uses the shared S3 servers: start it with privateS3 to stop one');
    },
    powerDnsA: () => resolveA(record, [`${s.powerdns.dnsHost}:${s.powerdns.dnsPort}`]),
    async restartDemo(region: string) {
      const r = regions.find((x) => x.name === region);
      if (!r) throw new Error(`the fixture has no region "${region}"`);
      await new Promise((res) => r.server.close(res));
      r.server = await startDemo(r.name, r.ip);
    },
    async stop() {
      await Promise.all(regions.map((r) => new Promise((res) => r.server.close(res))));
      if (scratch) await new Promise((res) => scratch!.server.close(res));
      if (client) await (await client).connection.close();
      r53.destroy();
      if (ordersDatabases) {
        await dropDatabases([
          ...Object.values(ordersDatabases),
          ...(scratch ? [scratch.ordersDatabase] : []),
        ]);
      }
    },
  };
}

/** `<app>_<region>` on the harness's PostgreSQL, for each region: name → URL. */
function ordersDatabasesFor(app: string, regions: string[]): Record<string, string> {
  const base = stack().postgres?.url;
  if (!base) throw new Error('the test servers have no PostgreSQL (StackInfo.postgres)');
  return Object.fromEntries(
    regions.map((region) => {
      const url = new URL(base);
      url.pathname = `/${`${app}_${region}`.replace(/-/g, '_')}`;
      return [region, url.toString()];
    }),
  );
}

async function onServer(anyUrl: string, run: (admin: PgClient) => Promise<void>): Promise<void> {
  const admin = new URL(anyUrl);
  admin.pathname = '/postgres';
  const client = new PgClient({ connectionString: admin.toString() });
  await client.connect();
  try {
    await run(client);
  } finally {
    await client.end();
  }
}

/** The orders service's derived scratch database (infra/config/scratch.ts): `<database>_scratch`. */
export function scratchDatabaseUrl(url: string): string {
  const u = new URL(url);
  u.pathname = `${u.pathname}_scratch`;
  return u.toString();
}

/** Whether a database exists on the harness's PostgreSQL (drills create and drop scratch ones). */
export async function databaseExists(url: string): Promise<boolean> {
  let found = false;
  await onServer(url, async (admin) => {
    const r = await admin.query('select 1 from pg_database where datname = $1', [
      new URL(url).pathname.slice(1),
    ]);
    found = (r.rowCount ?? 0) > 0;
  });
  return found;
}

const databaseName = (url: string) => `"${new URL(url).pathname.slice(1).replace(/"/g, '""')}"`;

async function createDatabases(urls: string[]): Promise<void> {
  await onServer(urls[0]!, async (admin) => {
    for (const url of urls) await admin.query(`create database ${databaseName(url)}`);
  });
}

async function dropDatabases(urls: string[]): Promise<void> {
  await onServer(urls[0]!, async (admin) => {
    for (const url of urls) await admin.query(`drop database if exists ${databaseName(url)} with (force)`);
  });
}

/** A worker as its own OS process, so a test can kill -9 it like a crash would. */
export interface WorkerProcess {
  child: ChildProcess;
  logFile: string;
  /** The worker's Prometheus endpoint. */
  metricsUrl: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const WORKER_MAIN = path.resolve(__dirname, '../../apps/worker/main.js');

/**
 * `options.queues` runs the worker on some queues only (SWITCHYARD_WORKER_QUEUES, e.g.
 * `['coordinator', 'west']`), as one worker per region would; by default it serves all of them.
 */
export async function startWorker(
  fx: AppFixture,
  name = 'worker',
  options: { env?: Record<string, string>; readyTimeoutMs?: number; queues?: string[] } = {},
): Promise<WorkerProcess> {
  const logFile = path.join(fx.dir, `${name}-${Date.now()}.log`);
  const out = openSync(logFile, 'a');
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const child = spawn(process.execPath, [WORKER_MAIN], {
    env: {
      ...process.env,
      SWITCHYARD_CONFIG: fx.configFile,
      SWITCHYARD_WORKER_METRICS_ADDRESS: metricsAddress,
      ...(options.queues ? { SWITCHYARD_WORKER_QUEUES: options.queues.join(',') } : {}),
      ...options.env,
    },
    stdio: ['ignore', out, out],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const prefix = fx.config.temporal.taskQueuePrefix;
  const polled = (options.queues ?? ['coordinator', ...fx.regions.map((r) => r.name)]).map((q) =>
    q === 'coordinator' ? coordinatorTaskQueue(prefix) : regionTaskQueue(prefix, q),
  );
  let early = false;
  void exited.then(() => (early = true));
  // Ready when the worker says so (pollers of a killed worker linger in Temporal for a while,
  // so the task queue alone cannot tell a fresh worker from a dead one).
  const ready = waitFor(
    async () => {
      if (early) throw new Error(`worker exited; see ${logFile}`);
      if (!readFileSync(logFile, 'utf8').includes('"worker started"')) return false;
      return taskQueueHasPollers(fx.config.temporal.address, fx.config.temporal.namespace, polled);
    },
    {
      what: `worker polling ${polled.join(', ')} (log: ${logFile})`,
      // A worker starts in ~2 s on an idle machine; with two test files (and their servers and
      // processes) sharing two cores it has taken up to 28 s, so the bound is generous.
      timeoutMs: options.readyTimeoutMs ?? 60_000,
      intervalMs: 100,
    },
  );
  // A worker that is not ready in time is stopped, not left polling after the test.
  await ready.catch(async (err: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw err;
  });
  return {
    child,
    logFile,
    metricsUrl: `http://${metricsAddress}/metrics`,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
