import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { coordinatorTaskQueue, regionTaskQueue } from '../../workflows/definitions';
import {
  createDemoDatabases,
  DEMO,
  demoConfigYaml,
  demoHookSecrets,
  demoScratchDatabaseUrl,
  type DemoServicesInfo,
  demoTokens,
} from './demo-config';
import { assertBindable, freePort } from './free-port';
import { createMotoZoneWithA } from './moto.component';
import { createPowerDnsZoneWithA } from './powerdns.component';
import { type StackInfo } from './stack-info';
import { describeRestartEvent, type RestartPolicy, type StartSpec, Supervisor, tailFile } from './supervisor';
import { taskQueueHasPollers } from './temporal.component';
import { PAYLOAD_KEY_ENV } from '../temporal/payload-codec';
import { startTestServers, writeStackInfo } from './test-servers';

/**
 * The local demo stack: `node dist/infra/stack/main.js up` (what `npm run stack` runs).
 * Starts every server, the demo app in both regions, the worker and the API, prints how to
 * use them, and stays in the foreground until Ctrl-C, then stops everything it started.
 */

const REPO_ROOT = resolve(__dirname, '../../..');
const DIST = resolve(__dirname, '../..');
const RUN_MARKER = '.switchyard-run';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Empties the run dir of a previous stack; refuses while that stack runs or for a foreign dir. */
function prepareRunDir(runDir: string): void {
  if (existsSync(runDir) && readdirSync(runDir).length > 0) {
    if (!existsSync(join(runDir, RUN_MARKER))) {
      throw new Error(
        `${runDir} is not empty and was not made by the stack; choose another SWITCHYARD_RUN_DIR`,
      );
    }
    const stackFile = join(runDir, 'stack.json');
    if (existsSync(stackFile)) {
      const previous = JSON.parse(readFileSync(stackFile, 'utf8')) as StackInfo;
      if (previous.ownerPid && previous.ownerPid !== process.pid && isAlive(previous.ownerPid)) {
        throw new Error(
          `a stack is already running from ${runDir} (pid ${previous.ownerPid}); stop it first`,
        );
      }
    }
    rmSync(runDir, { recursive: true, force: true });
  }
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, RUN_MARKER), '');
}

async function up(): Promise<void> {
  const started = Date.now();
  const runDir = resolve(process.env.SWITCHYARD_RUN_DIR ?? join(REPO_ROOT, '.switchyard', 'run'));
  prepareRunDir(runDir);

  // The demo instances need their own loopback addresses; say so before starting anything.
  for (const r of DEMO.regions) {
    await assertBindable(r.ip, DEMO.port).catch((err: Error) => {
      const hint = err.message.includes('EADDRINUSE')
        ? `something already listens there (another stack? \`ss -ltnp | grep ${DEMO.port}\`)`
        : `the demo serves each region from its own loopback address (${DEMO.regions.map((x) => x.ip).join(', ')}); ` +
          `Linux routes all of 127.0.0.0/8 to lo, elsewhere add an alias (macOS: sudo ifconfig lo0 alias ${r.ip})`;
      throw new Error(`demo app ${r.name}: ${err.message}: ${hint}`, { cause: err });
    });
  }

  let info: StackInfo | undefined;
  const supervisor = new Supervisor(runDir, {
    onUnexpectedExit: (name, logFile, code, signal) =>
      process.stderr.write(
        `\n!! ${name} exited unexpectedly (code ${code}, signal ${signal}); log: ${logFile}\n` +
          `${tailFile(logFile, 15)}\n`,
      ),
    onRestartEvent: (event) => {
      process.stderr.write(`\n${describeRestartEvent(event)}\n`);
      // stack.json names the processes running now.
      if (info && event.kind !== 'exited') writeStackInfo({ ...info, processes: processList(supervisor) });
    },
  });
  try {
    info = await startAll(supervisor, runDir, started);
  } catch (err) {
    await supervisor.stopAll();
    throw err;
  }
  // Stay in the foreground; the supervisor stops everything on Ctrl-C / SIGTERM and exits.
  setInterval(() => undefined, 1 << 30);
}

/** Our own processes (demo apps, worker, API, monitors) are restarted when they exit on their own. */
const RESTART: RestartPolicy = {};

function processList(supervisor: Supervisor): StackInfo['processes'] {
  return supervisor.running().map(({ name, pid }) => ({
    name,
    pid,
    logFile: join(supervisor.logDir, `${name}.log`),
  }));
}

async function startAll(supervisor: Supervisor, runDir: string, started: number): Promise<StackInfo> {
  const servers = await startTestServers(runDir, supervisor);
  const info: StackInfo = servers.info;

  const demoRecord = { name: DEMO.record, ip: DEMO.regions[0].ip, ttl: DEMO.ttl };
  await Promise.all([
    createMotoZoneWithA(info.moto, DEMO.zone, demoRecord),
    createPowerDnsZoneWithA(info.powerdns, DEMO.zone, demoRecord),
  ]);

  // The demo's two services: orders in one PostgreSQL database per region, ledger behind the demo
  // app's backup hooks (docs/demo-app.md). The hook token reaches the instances by environment only.
  if (!info.postgres) throw new Error('the stack has no PostgreSQL for the demo app');
  const services: DemoServicesInfo = {
    ordersDatabaseUrls: await createDemoDatabases(info.postgres.url),
    hookToken: randomBytes(24).toString('base64url'),
  };

  const tokens = demoTokens();
  const hookSecrets = demoHookSecrets();
  const api = { host: '127.0.0.1', port: await freePort() };
  const configFile = join(runDir, 'switchyard.yaml');
  writeFileSync(configFile, demoConfigYaml(info, tokens, api, services, hookSecrets), { mode: 0o600 });

  // The instances fence themselves under the write lease (docs/fencing.md), reading the app's
  // control state from the buckets the configuration names.
  const demoRegions = await Promise.all(
    DEMO.regions.map(async (r) => {
      const url = `http://${r.ip}:${DEMO.port}`;
      const proc = await supervisor.start({
        name: `demo-${r.name}`,
        command: process.execPath,
        args: [
          join(DIST, 'apps/demo/main.js'),
          '--region',
          r.name,
          '--host',
          r.ip,
          '--port',
          String(DEMO.port),
        ],
        env: {
          ...process.env,
          DEMO_STATE_DIR: join(runDir, `demo-${r.name}`),
          DEMO_ORDERS_DATABASE_URL: services.ordersDatabaseUrls[r.name],
          DEMO_HOOK_TOKEN: services.hookToken,
          DEMO_HOOK_SECRET: hookSecrets[r.name],
          DEMO_FENCING_CONFIG: configFile,
          DEMO_FENCING_APP: DEMO.app,
        },
        readiness: { kind: 'http', url: `${url}/healthz` },
        timeoutMs: 15_000,
        restart: RESTART,
      });
      return { name: r.name, ip: r.ip, url, pid: proc.pid };
    }),
  );

  // The scratch instance drills restore into (docs/drills.md). Not fenced: it never serves the app.
  const scratchUrl = `http://${DEMO.scratch.ip}:${DEMO.scratch.port}`;
  await supervisor.start({
    name: `demo-${DEMO.scratch.region}-scratch`,
    command: process.execPath,
    args: [
      join(DIST, 'apps/demo/main.js'),
      '--region',
      `${DEMO.scratch.region}-scratch`,
      '--host',
      DEMO.scratch.ip,
      '--port',
      String(DEMO.scratch.port),
    ],
    env: {
      ...process.env,
      DEMO_STATE_DIR: join(runDir, `demo-${DEMO.scratch.region}-scratch`),
      DEMO_ORDERS_DATABASE_URL: demoScratchDatabaseUrl(services.ordersDatabaseUrls[DEMO.scratch.region]!),
      DEMO_HOOK_TOKEN: services.hookToken,
    },
    readiness: { kind: 'http', url: `${scratchUrl}/healthz` },
    timeoutMs: 15_000,
    restart: RESTART,
  });

  info.demo = {
    regions: demoRegions,
    app: DEMO.app,
    configFile,
    dns: { zone: DEMO.zone, record: DEMO.record, ttl: DEMO.ttl },
    tokens,
  };

  const warnings: string[] = [];
  const startIfBuilt = (
    file: string,
    spec: Omit<StartSpec, 'command' | 'args' | 'env'> & { env?: NodeJS.ProcessEnv },
  ) => {
    if (existsSync(file)) {
      return supervisor.start({
        env: appEnv,
        restart: RESTART,
        ...spec,
        command: process.execPath,
        args: [file],
      });
    }
    warnings.push(`${file} does not exist (not written or not built yet): the ${spec.name} was NOT started`);
    return undefined;
  };
  // A fresh payload key per stack: the run directory (and Temporal's history in it) is new too.
  const appEnv = {
    ...process.env,
    SWITCHYARD_CONFIG: configFile,
    [PAYLOAD_KEY_ENV]: randomBytes(32).toString('base64'),
  };
  const queues = [
    coordinatorTaskQueue('switchyard'),
    ...DEMO.regions.map((r) => regionTaskQueue('switchyard', r.name)),
  ];
  const [worker, apiProc] = await Promise.all([
    startIfBuilt(join(DIST, 'apps/worker/main.js'), {
      name: 'worker',
      readiness: {
        kind: 'fn',
        what: `a poller on task queue ${queues.join(' or ')}`,
        check: () => taskQueueHasPollers(info.temporal.address, info.temporal.namespace, queues),
      },
      timeoutMs: 60_000,
    }),
    startIfBuilt(join(DIST, 'apps/api/main.js'), {
      name: 'api',
      readiness: { kind: 'http', url: `http://${api.host}:${api.port}/healthz` },
      timeoutMs: 60_000,
    }),
  ]);
  if (worker) info.worker = { pid: worker.pid };
  if (apiProc) info.api = { url: `http://${api.host}:${api.port}`, pid: apiProc.pid };

  // One monitor per region (the default quorum: vantage points named after the regions), reading
  // apps.<app>.monitoring and the regions' health URLs from the same switchyard.yaml as the API
  // and reporting with its own monitor token, bound to its vantage point (docs/security.md).
  const monitorToken = (vantage: string) => {
    const t = tokens.find((x) => x.role === 'monitor' && x.vantage === vantage);
    if (!t) throw new Error(`no demo monitor token for vantage point ${vantage}`);
    return t.token;
  };
  if (apiProc) {
    await Promise.all(
      DEMO.regions.map(async (r) => {
        const metricsPort = await freePort();
        return startIfBuilt(join(DIST, 'apps/monitor/main.js'), {
          name: `monitor-${r.name}`,
          env: {
            ...appEnv,
            SWITCHYARD_MONITOR_VANTAGE: r.name,
            SWITCHYARD_MONITOR_SITE: r.name,
            SWITCHYARD_MONITOR_APP: DEMO.app,
            SWITCHYARD_MONITOR_TOKEN: monitorToken(r.name),
            SWITCHYARD_MONITOR_REPORT_URL: `http://${api.host}:${api.port}/v1/monitor/reports`,
            SWITCHYARD_MONITOR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
          },
          readiness: { kind: 'http', url: `http://127.0.0.1:${metricsPort}/metrics` },
          timeoutMs: 30_000,
        });
      }),
    );
  }
  info.processes = processList(supervisor);
  const stackFile = writeStackInfo(info);

  printSummary(info, `http://${api.host}:${api.port}`, stackFile, warnings, Date.now() - started);
  return info;
}

function printSummary(
  info: StackInfo,
  apiUrl: string,
  stackFile: string,
  warnings: string[],
  tookMs: number,
): void {
  const pdnsDns = `${info.powerdns.dnsHost}:${info.powerdns.dnsPort}`;
  const operator = info.demo?.tokens?.find((t) => t.principal === 'alice')?.token ?? '';
  const approver = info.demo?.tokens?.find((t) => t.principal === 'bob')?.token ?? '';
  const lines = [
    '',
    `Switchyard local stack is up (${(tookMs / 1000).toFixed(1)}s). Run dir: ${info.runDir}`,
    '',
    info.api
      ? `  API             ${apiUrl}   (OpenAPI: ${apiUrl}/docs)`
      : `  API             NOT started (would be ${apiUrl})`,
    `  Temporal        ${info.temporal.address}   namespace ${info.temporal.namespace}   UI ${info.temporal.uiUrl}`,
    ...[...info.s3, ...(info.witness ? [info.witness] : [])].map(
      (r) => `  S3 ${r.region.padEnd(13)}${r.endpoint}   bucket ${r.bucket}   key ${r.accessKeyId}`,
    ),
    `  Route 53 (moto) ${info.moto.endpoint}`,
    `  PowerDNS        API ${info.powerdns.apiUrl}   DNS ${pdnsDns} (udp/tcp)`,
    ...(info.demo?.regions ?? []).map((r) => `  demo ${r.name.padEnd(11)}${r.url}`),
    `  config          ${info.demo?.configFile ?? ''}`,
    `  stack.json      ${stackFile}`,
    `  logs            ${join(info.runDir, 'logs')}`,
    '',
    'Demo tokens (only their SHA-256 is in the config):',
    ...(info.demo?.tokens ?? []).map((t) => `  ${t.principal.padEnd(7)} ${t.role.padEnd(9)} ${t.token}`),
    '',
    'What to do next (a failover needs one approver other than the requester):',
    `  dig @${info.powerdns.dnsHost} -p ${info.powerdns.dnsPort} ${DEMO.record} +short        # ${DEMO.regions[0].ip} (east)`,
    `  export SWITCHYARD_API_URL=${apiUrl} SWITCHYARD_TOKEN=${operator}   # alice, operator`,
    `  bin/switchyard apps show ${DEMO.app}`,
    `  bin/switchyard failover ${DEMO.app} --to west --reason "demo switchover"   # prints the operation id`,
    `  SWITCHYARD_TOKEN=${approver} bin/switchyard approvals ls                    # as bob, approver`,
    `  SWITCHYARD_TOKEN=${approver} bin/switchyard approve <operation-id> --comment "go"`,
    `  bin/switchyard ops show <operation-id> --watch`,
    `  dig @${info.powerdns.dnsHost} -p ${info.powerdns.dnsPort} ${DEMO.record} +short        # now ${DEMO.regions[1].ip} (west)`,
    `  bin/switchyard audit ls && bin/switchyard audit verify`,
    `  (the same with curl: POST ${apiUrl}/v1/apps/${DEMO.app}/failovers {"to":"west","mode":"planned","reason":"..."},`,
    `   then POST ${apiUrl}/v1/operations/<operation-id>/approvals {"decision":"approve"} with bob's token)`,
    '',
    "The demo app's two services (orders in PostgreSQL, ledger behind /hooks/ledger; docs/demo-app.md):",
    `  curl -X POST ${info.demo?.regions[0]?.url ?? ''}/numbers      # orders stores a number, hands it to the ledger`,
    `  curl ${info.demo?.regions[0]?.url ?? ''}/numbers              # {orders: [...], ledger: [...]}`,
    `  bin/switchyard restore-points take ${DEMO.app} --reason "demo" --watch`,
    `  bin/switchyard restore ${DEMO.app} --from <restore-point-id> --into west --reason "demo restore" --watch`,
    `  curl ${info.demo?.regions[1]?.url ?? ''}/numbers              # west: the same numbers in both services`,
    `  bin/switchyard schedules ls ${DEMO.app}     # the worker created the restore point schedule: every 5 minutes`,
    `  bin/switchyard verify ${DEMO.app} --now      # verify every copy (a drill needs a verified restore point)`,
    `  bin/switchyard drill ${DEMO.app} --reason "demo drill"   # restore into west's scratch instance (http://${DEMO.scratch.ip}:${DEMO.scratch.port}), check, measure RTO/RPO, clean up`,
    `  bin/switchyard restore-points ls ${DEMO.app}`,
    `  bin/switchyard restore-points delete <restore-point-id> --reason "demo"   # soft: hidden at once, purged when its window ends`,
    `  bin/switchyard pending-deletes ${DEMO.app}     # what can still be undone, and until when`,
    `  bin/switchyard undo <operation-id> --reason "demo undo"   # back exactly as it was`,
    `  bin/switchyard apps show ${DEMO.app}           # region states from the monitors' quorum, the control state`,
    ...Object.entries(DEMO.databases).map(
      ([region, db]) =>
        `  orders database ${region.padEnd(5)} ${info.postgres?.url.replace(/\/[^/]*$/, `/${db}`) ?? db}`,
    ),
    '',
    ...warnings.map((w) => `WARNING: ${w}`),
    ...(warnings.length ? [''] : []),
    'Press Ctrl-C to stop everything.',
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

const command = process.argv[2];
if (command !== 'up') {
  process.stderr.write('usage: node dist/infra/stack/main.js up\n');
  process.exit(2);
}
up().catch((err: unknown) => {
  process.stderr.write(`\nstack: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
