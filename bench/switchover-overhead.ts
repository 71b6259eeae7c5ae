import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { asyncLocalStorage, Context, type Info } from '@temporalio/activity';
import { defaultPayloadConverter, noopMetricMeter } from '@temporalio/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createApi } from '../apps/api/bootstrap';
import type { Client } from '@temporalio/client';
import { openPersistence, type Persistence } from '../infra/database/persistence';
import { createLogger } from '../infra/logging/logger';
import { createWorkerActivities } from '../infra/temporal/worker-activities';
import { Supervisor } from '../infra/stack/supervisor';
import { startTestServers, writeStackInfo } from '../infra/stack/test-servers';
import { parseOperationId } from '../workflows/definitions';
import type { OperationStatus } from '../workflows/operation';
import {
  type AppFixture,
  startAppFixture,
  startWorker,
  type WorkerProcess,
} from '../test/support/app-fixture';
import { formatTable, machineFacts, parseArgs, positiveInt, printFacts } from './support';

/**
 * Orchestration overhead of a planned switchover: the durable failover (API → Temporal → worker
 * process, every step, audit event and status publication recorded in history) against a plain
 * script that makes the same activity calls in sequence, in one process, with no durability.
 *
 * Each durable run's calls are read back from its workflow history (activity type and input, in
 * the order they were scheduled); the plain run replays exactly those calls on the activity
 * implementations the worker uses, with a fresh operation id in every argument (so audit
 * idempotency keys and the like are new). Moves alternate east → west → east (a failback when
 * the target is halted: the saga plan halts the region a switchover leaves); the plain runs
 * replay each pair in the same order, with fencing epochs raised by what the durable pair added,
 * so every call finds the state it found the first time.
 *
 * Figures: durable = wall time from the POST to the closed workflow, minus the timers that fired
 * (the configured waits: the DNS TTL, and any other wait of the plan); plain = the sequence's wall
 * time (it never waits). Loopback only: the stack of the tests, started in a temporary directory.
 *
 *   bash bench/switchover-overhead.sh [--runs 20] [--ttl 1] [--keep]
 */

const OPTIONS = { runs: 'value', ttl: 'value', keep: 'flag', help: 'flag' } as const;
const USAGE = `usage: bash bench/switchover-overhead.sh [options]   (or node dist/bench/switchover-overhead.js)
  --runs N   pairs measured (default 20; env BENCH_RUNS): a switchover east → west and the way back
             (a failback when the plan halts the region it leaves), each durable and replayed plain
  --ttl S    the DNS record's TTL in seconds, waited out by the durable run (default 1)
  --keep     keep the run directory (servers' data and logs)
`;

interface RecordedCall {
  activityType: string;
  args: unknown[];
}

interface DurableRun {
  operationId: string;
  kind: 'switchover' | 'failback';
  to: string;
  wallMs: number;
  /** From the POST to the workflow's first event, and from its last event to the client knowing. */
  startMs: number;
  closeMs: number;
  timersMs: number;
  calls: RecordedCall[];
  /** The run ids of the workflow and its children, replaced by fresh ones in the plain replay. */
  runIds: string[];
}

const say = (line: string) => process.stdout.write(`bench: ${line}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), OPTIONS);
  if (args.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const pairs = positiveInt('--runs', args.get('runs') ?? process.env.BENCH_RUNS, 20);
  if (pairs < 1) throw new Error(`--runs: expected at least 1, got ${pairs}`);
  const ttl = positiveInt('--ttl', args.get('ttl'), 1);
  const keep = args.has('keep') || process.env.BENCH_KEEP === '1';

  const runDir = process.env.BENCH_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'switchyard-bench-switchover-'));
  const supervisor = new Supervisor(runDir, { handleSignals: false });
  process.once('SIGINT', () => void supervisor.stopAll().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void supervisor.stopAll().finally(() => process.exit(143)));
  printFacts('machine', machineFacts({ 'run dir': runDir }));
  printFacts('settings', {
    runs: `${pairs} pairs east → west → east (after one warm-up pair), each durable and replayed plain; mode planned`,
    ttl: `${ttl} s (waited out by the DNS step; subtracted with every other timer)`,
    approval: 'none required (policy 0)',
    worker: 'one process serving the coordinator and both region queues',
  });

  let ok = false;
  let fx: AppFixture | undefined;
  let worker: WorkerProcess | undefined;
  let api: NestExpressApplication | undefined;
  let persistence: Persistence | undefined;
  try {
    const servers = await startTestServers(runDir, supervisor);
    process.env.SWITCHYARD_TEST_STACK = writeStackInfo(servers.info);
    fx = await startAppFixture({ ttl, verifyTimeoutSeconds: 30 });
    worker = await startWorker(fx);
    api = await createApi({ config: fx.config, temporalClient: fx.temporal, logger: false });
    await api.listen(0, '127.0.0.1');
    const address = api.getHttpServer().address() as { port: number };
    const apiUrl = `http://127.0.0.1:${address.port}`;

    persistence = await openPersistence(fx.config);
    const plain = plainActivities(fx, persistence, fx.temporal);

    const measured: { durable: DurableRun; plainMs: number }[] = [];
    // One warm-up pair, not counted; then pairs: durable A (to west), durable B (back to east:
    // a failback when the switchover halted east), plain A, plain B.
    for (let pair = 0; pair <= pairs; pair++) {
      const epochBefore = await epochOf(fx, apiUrl);
      const a = await durableSwitchover(fx, apiUrl, 'west');
      const b = await durableSwitchover(fx, apiUrl, 'east');
      if (pair === 0) {
        // The first switchover halts east, so the way back is a failback, and so is every move
        // after it: the warm-up is not replayed (its switchover could not be, west is halted now).
        say(`warm-up (not counted): ${a.kind} ${ms(a.wallMs)} ms, ${b.kind} ${ms(b.wallMs)} ms`);
        continue;
      }
      const shift = (await epochOf(fx, apiUrl)) - epochBefore;
      const pa = await replay(plain, a, shift);
      const pb = await replay(plain, b, shift);
      const line = (d: DurableRun, p: number) =>
        `${d.kind} durable ${ms(d.wallMs - d.timersMs)} + ${ms(d.timersMs)} waits, plain ${ms(p)} (${d.calls.length} calls)`;
      say(`pair ${pair}/${pairs}: ${line(a, pa)}; ${line(b, pb)}`);
      measured.push({ durable: a, plainMs: pa }, { durable: b, plainMs: pb });
    }

    for (const kind of ['switchover', 'failback'] as const) {
      const runsOf = measured.filter((m) => m.durable.kind === kind);
      if (runsOf.length > 0) summary(kind, runsOf);
    }
    ok = true;
  } finally {
    await worker?.kill('SIGKILL');
    await api?.close();
    await persistence?.close();
    await fx?.stop();
    await supervisor.stopAll();
    if (ok && !keep && !process.env.BENCH_RUN_DIR) rmSync(runDir, { recursive: true, force: true });
    else say(`run dir kept: ${runDir} (logs in ${join(runDir, 'logs')})`);
  }
  return 0;
}

async function epochOf(fx: AppFixture, apiUrl: string): Promise<number> {
  const res = await fetch(`${apiUrl}/v1/apps/${fx.app}`, {
    headers: { Authorization: `Bearer ${fx.tokens.operator}` },
  });
  return ((await res.json()) as { epoch: number }).epoch;
}

function summary(kind: string, runs: { durable: DurableRun; plainMs: number }[]): void {
  const durable = runs.map((r) => r.durable);
  const durableMs = durable.map((d) => d.wallMs - d.timersMs);
  const plainMs = runs.map((r) => r.plainMs);
  const calls = [...new Set(durable.map((d) => d.calls.map((c) => c.activityType).join(',')))];
  const row = (name: string, xs: number[]) => [
    name,
    xs.length,
    ms(pct(xs, 50)),
    ms(pct(xs, 99)),
    ms(mean(xs)),
  ];
  const overhead = (p: number) => pct(durableMs, p) - pct(plainMs, p);
  const p50 = (f: (d: DurableRun) => number) => ms(pct(durable.map(f), 50));
  const inWorkflow = (d: DurableRun) => d.wallMs - d.timersMs - d.startMs - d.closeMs;
  process.stdout.write(
    `\n${kind} time without configured waits (ms)\n${formatTable(
      ['run', 'runs', 'p50', 'p99', 'mean'],
      [row('durable (Temporal)', durableMs), row('plain script', plainMs)],
    )}\n` +
      `orchestration overhead: p50 ${ms(overhead(50))} ms, p99 ${ms(overhead(99))} ms; ` +
      `ratio durable/plain: p50 ${(pct(durableMs, 50) / pct(plainMs, 50)).toFixed(1)}×, ` +
      `p99 ${(pct(durableMs, 99) / pct(plainMs, 99)).toFixed(1)}×\n` +
      `configured waits subtracted (timers fired per run): p50 ${p50((d) => d.timersMs)} ms\n` +
      `durable time, p50 of each part: POST to the workflow's first event ${p50((d) => d.startMs)} ms; ` +
      `in the workflow without waits ${p50(inWorkflow)} ms ` +
      `(${p50((d) => inWorkflow(d) / Math.max(1, d.calls.length))} ms per activity call); ` +
      `its last event to the client ${p50((d) => d.closeMs)} ms\n` +
      `plan measured (activity calls per ${kind}, in order): ${calls.join(' | ')}\n`,
  );
}

/** A planned switchover (or the failback to a halted region) through the API, timed from the POST to the workflow's close. */
async function durableSwitchover(fx: AppFixture, apiUrl: string, to: string): Promise<DurableRun> {
  const headers = { Authorization: `Bearer ${fx.tokens.operator}`, 'Content-Type': 'application/json' };
  // A switchover halts the region it leaves: the way back to it is a failback (measured apart).
  const app = (await (await fetch(`${apiUrl}/v1/apps/${fx.app}`, { headers })).json()) as {
    control?: { state?: { halted?: string[] } };
  };
  const kind = app.control?.state?.halted?.includes(to) ? 'failback' : 'switchover';
  const reason = 'benchmark: switchover overhead';
  const started = performance.now();
  const startedAt = Date.now();
  const res = await fetch(`${apiUrl}/v1/apps/${fx.app}/${kind === 'failback' ? 'failbacks' : 'failovers'}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(kind === 'failback' ? { to, reason } : { to, mode: 'planned', reason }),
  });
  const body = (await res.json()) as { operationId?: string };
  if (res.status !== 202 || !body.operationId) {
    throw new Error(`POST failover to ${to}: HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  const id = parseOperationId(body.operationId)!;
  const handle = (await fx.temporal()).workflow.getHandle(id.workflowIds[0]!, id.runId);
  const status = (await handle.result()) as OperationStatus;
  const wallMs = performance.now() - started;
  const endedAt = Date.now();
  if (status.phase !== 'Completed') throw new Error(`${kind} ${body.operationId} ended ${status.phase}`);

  const client = await fx.temporal();
  const recorded = await recordCalls(client, id.workflowIds[0]!, id.runId);
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (i: number) => protoMillis(events[i]?.eventTime);
  const startMs = at(0) - startedAt;
  const closeMs = endedAt - at(events.length - 1);
  return { operationId: body.operationId, kind, to, wallMs, startMs, closeMs, ...recorded };
}

/** Children that record what an operation did and run on after it (abandoned): not part of its time. */
const RECORDING_CHILDREN = new Set(['deliverNotificationWorkflow', 'sealAuditWorkflow']);

/**
 * The activity calls of a workflow run in the order they were scheduled, with those of the child
 * workflows it started (a final restore point) in their place, the fired timers' total and every
 * run id involved.
 */
async function recordCalls(
  client: Client,
  workflowId: string,
  runId: string,
): Promise<{ calls: RecordedCall[]; timersMs: number; runIds: string[] }> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const out = { calls: [] as RecordedCall[], timersMs: 0, runIds: [runId] };
  const timers = new Map<string, number>();
  for (const e of history.events ?? []) {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) {
      out.calls.push({
        activityType: a.activityType?.name ?? '',
        args: (a.input?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p)),
      });
    }
    const t = e.timerStartedEventAttributes;
    if (t) timers.set(t.timerId ?? '', protoMillis(t.startToFireTimeout));
    const fired = e.timerFiredEventAttributes;
    if (fired) out.timersMs += timers.get(fired.timerId ?? '') ?? 0;
    const child = e.childWorkflowExecutionStartedEventAttributes;
    const exec = child?.workflowExecution;
    if (child && exec?.workflowId && exec.runId && !RECORDING_CHILDREN.has(child.workflowType?.name ?? '')) {
      const inner = await recordCalls(client, exec.workflowId, exec.runId);
      out.calls.push(...inner.calls);
      out.timersMs += inner.timersMs;
      out.runIds.push(...inner.runIds);
    }
  }
  return out;
}

type ActivityFn = (...args: unknown[]) => Promise<unknown>;

/**
 * Every activity the worker registers (infra/temporal/worker-activities.ts: coordinator and region
 * queues), built the same way, in this process. A plan step that calls an activity missing here
 * makes the bench stop with its name.
 */
function plainActivities(fx: AppFixture, persistence: Persistence, client: () => Promise<Client>) {
  const built = createWorkerActivities({
    config: fx.config,
    persistence,
    logger: createLogger('bench', 'warn'),
    temporal: client,
  });
  return new Map(Object.entries({ ...built.coordinator, ...built.region }) as [string, ActivityFn][]);
}

/**
 * The durable run's activity calls, in order, made directly: no Temporal, no history. The run id
 * in every argument is replaced by a fresh one, so nothing is taken for a retry of the durable run.
 */
async function replay(
  activities: Map<string, ActivityFn>,
  run: DurableRun,
  epochShift: number,
): Promise<number> {
  const fresh = new Map(run.runIds.map((r) => [r, randomUUID()]));
  // Fencing epochs only go up (the controller raises them, the demo app refuses a lower one): the
  // replay's fence calls carry the epochs its own control changes reach, the recorded ones shifted.
  const reviver = (key: string, value: unknown) =>
    key === 'epoch' && typeof value === 'number' ? value + epochShift : value;
  const calls = run.calls.map((c) => {
    const fn = activities.get(c.activityType);
    if (!fn)
      throw new Error(`the plain script has no activity "${c.activityType}" (bench/switchover-overhead.ts)`);
    return {
      fn,
      type: c.activityType,
      args: JSON.parse(
        [...fresh].reduce((json, [old, renewed]) => json.replaceAll(old, renewed), JSON.stringify(c.args)),
        reviver,
      ) as unknown[],
    };
  });
  const started = performance.now();
  for (const c of calls) await inActivityContext(c.type, () => c.fn(...c.args));
  return performance.now() - started;
}

/** Runs `fn` with an activity Context (heartbeats go nowhere), as the activities expect. */
function inActivityContext<T>(activityType: string, fn: () => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const info = {
    activityId: randomUUID(),
    activityType,
    attempt: 1,
    isLocal: false,
    heartbeatDetails: undefined,
    taskQueue: 'plain',
    scheduledTimestampMs: Date.now(),
    startToCloseTimeoutMs: 60_000,
    heartbeatTimeoutMs: 60_000,
  } as unknown as Info;
  const logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  const ctx = new Context(
    info,
    new Promise<never>(() => undefined),
    abort.signal,
    () => undefined,
    undefined,
    logger,
    noopMetricMeter,
    {},
  );
  return asyncLocalStorage.run(ctx, fn);
}

/** A protobuf Duration or Timestamp in milliseconds. */
function protoMillis(
  d: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined,
): number {
  if (!d) return 0;
  const seconds = typeof d.seconds === 'number' ? d.seconds : (d.seconds?.toNumber() ?? 0);
  return seconds * 1000 + (d.nanos ?? 0) / 1e6;
}

function pct(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ms = (x: number) => x.toFixed(0);

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
