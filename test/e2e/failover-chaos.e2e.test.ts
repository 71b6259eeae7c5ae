import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import type { AuditEvent } from '../../infra/audit/audit.port';
import { parseOperationId } from '../../workflows/definitions';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { type AppFixture, startAppFixture, startWorker, type WorkerProcess } from '../support/app-fixture';
import { dnsWritesInHistory, powerDnsSerial } from '../support/failover-checks';

/**
 * Chaos: a worker process (every queue of the app: coordinator and both regions) is killed with
 * SIGKILL at 20 random moments spread over ten switchovers back and forth (two apps, five each,
 * side by side), and replaced each time. Every operation must end Completed, or Failed with every compensation done and the app as
 * it was; each DNS change must be applied once (activity completions in history, PowerDNS zone
 * serial, both providers' answers) and each audit event written once (idempotency keys 1..n, no
 * duplicate, no gap; the hash chain intact).
 *
 * The moments come from a seeded generator; the seed is printed. Rerun one run with
 * SWITCHYARD_CHAOS_SEED=<seed> (docs/runbooks/chaos-testing.md). The timing of the stack still
 * varies, so the same seed gives the same offsets, not necessarily the same interrupted activity.
 */
const KILLS = 20;
/** Apps switched over side by side, each with its own workers: a kill's recovery wait overlaps the others'. */
const LANES = 2;
const SWITCHOVERS_PER_LANE = 5;
const KILLS_PER_SWITCHOVER = KILLS / (LANES * SWITCHOVERS_PER_LANE);
const SEED = chaosSeed(process.env.SWITCHYARD_CHAOS_SEED);
const ADDRESS: Record<string, string> = { east: '127.0.1.1', west: '127.0.1.2' };

function chaosSeed(value: string | undefined): number {
  if (value === undefined || value === '') return randomInt(2 ** 31);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) {
    throw new Error(`SWITCHYARD_CHAOS_SEED: expected a whole number in [0, 2^32), got "${value}"`);
  }
  return n;
}

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Outcome {
  lane: number;
  /** Why a switchover that was compensated failed. */
  error?: string;
  operationId: string;
  to: string;
  phase: string;
  ms: number;
  kills: number;
  killedMidOperation: number;
  dnsWrites: number;
  dnsWriteRetries: number;
  serialDelta: number;
}

/**
 * One app switched back and forth while its workers are killed. Two worker processes run at a
 * time, as two replicas would: the kill goes to the one that holds the operation (its cached
 * workflow, its sticky queue, its running activity) and a replacement starts at once. Without a
 * spare every kill would also wait for a worker start (seconds on a loaded 2-CPU machine).
 */
class ChaosLane {
  readonly ready: WorkerProcess[] = [];
  readonly starting = new Set<Promise<void>>();
  readonly spawnErrors: string[] = [];
  spawnTimeouts = 0;
  private started = 0;

  private constructor(
    readonly lane: number,
    readonly fx: AppFixture,
    readonly api: NestExpressApplication,
  ) {}

  /** The app and its API; its workers are started by spawnWorker. */
  static async start(lane: number): Promise<ChaosLane> {
    const fx = await startAppFixture({ ttl: 1, verifyTimeoutSeconds: 60 });
    const api = await createApi({ config: fx.config, temporalClient: fx.temporal, logger: false });
    await api.init();
    return new ChaosLane(lane, fx, api);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.starting]);
    await Promise.all(this.ready.map((w) => w.kill('SIGKILL')));
    await this.api.close();
    await this.fx.stop();
  }

  /** Starts a worker; one that is merely slow to start (a loaded machine) is replaced by another. */
  spawnWorker(): Promise<void> {
    const run = startWorker(this.fx, `worker-${this.started++}`, {
      env: { SWITCHYARD_WORKER_STICKY_TIMEOUT_MS: '1000' },
      readyTimeoutMs: 60_000,
    }).then(
      (w) => void this.ready.push(w),
      (err: Error) => {
        if (/worker exited/.test(err.message)) return void this.spawnErrors.push(err.message);
        this.spawnTimeouts++;
        return this.spawnWorker();
      },
    );
    const tracked = run.finally(() => this.starting.delete(tracked));
    this.starting.add(tracked);
    return tracked;
  }

  private http() {
    return request(this.api.getHttpServer());
  }

  private as(role: keyof AppFixture['tokens']) {
    return { Authorization: `Bearer ${this.fx.tokens[role]}` };
  }

  /** The worker that last took a task of the operation (Temporal's default identity is pid@host). */
  private async holder(id: string): Promise<WorkerProcess | undefined> {
    const { workflowIds, runId } = parseOperationId(id)!;
    const client = await this.fx.temporal();
    const history = await client.workflow.getHandle(workflowIds[0]!, runId).fetchHistory();
    const identities = (history.events ?? [])
      .map(
        (e) =>
          e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity,
      )
      .filter((x): x is string => !!x);
    const pid = Number(identities[identities.length - 1]?.split('@')[0]);
    return this.ready.find((w) => w.child.pid === pid);
  }

  /** Kills (SIGKILL) the worker holding the operation, or the oldest one; starts a replacement. */
  private async killWorker(id: string): Promise<void> {
    const victim = (await this.holder(id)) ?? this.ready[0];
    if (victim) {
      this.ready.splice(this.ready.indexOf(victim), 1);
      await victim.kill('SIGKILL');
    }
    void this.spawnWorker();
  }

  async operation(id: string): Promise<OperationStatus> {
    const res = await this.http().get(`/v1/operations/${id}`).set(this.as('viewer'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as OperationStatus;
  }

  private async appState(): Promise<{ activeRegion: string; dns: string[][]; control: unknown }> {
    const res = await this.http().get(`/v1/apps/${this.fx.app}`).set(this.as('viewer')).expect(200);
    const body = res.body as {
      activeRegion: string;
      control?: { state?: { writer?: unknown; halted?: unknown } };
    };
    return {
      activeRegion: body.activeRegion,
      dns: [await this.fx.route53A(), await this.fx.powerDnsA()],
      control: { writer: body.control?.state?.writer, halted: body.control?.state?.halted },
    };
  }

  /** Waits until the operation's workflow has closed, so its last audit event is written too. */
  private async closed(id: string): Promise<OperationStatus> {
    const { workflowIds, runId } = parseOperationId(id)!;
    const handle = (await this.fx.temporal()).workflow.getHandle(workflowIds[0]!, runId);
    await handle.result().catch(() => undefined);
    return this.operation(id);
  }

  private async auditOf(id: string): Promise<AuditEvent[]> {
    const res = await this.http()
      .get('/v1/audit')
      .query({ target: `operation:${id}`, limit: 1000 })
      .set(this.as('viewer'))
      .expect(200);
    return (res.body as { items: AuditEvent[] }).items;
  }

  async auditChainOk(): Promise<unknown> {
    const res = await this.http().get('/v1/audit/verify').set(this.as('viewer')).expect(200);
    return res.body;
  }

  /** One switchover to `to` (a failback when `to` is halted), with a worker killed at each of `killAfterMs` (ms from the start, sorted). */
  async switchover(to: string, killAfterMs: number[]): Promise<Outcome> {
    const { fx } = this;
    const before = await this.appState();
    const serialBefore = await powerDnsSerial(fx);
    const started = Date.now();
    // A switchover halts the region it leaves: the way back to it is a failback.
    const current = await this.http().get(`/v1/apps/${fx.app}`).set(this.as('viewer')).expect(200);
    const halted = (
      (current.body as { control?: { state?: { halted?: string[] } } }).control?.state?.halted ?? []
    ).includes(to);
    const res = await this.http()
      .post(`/v1/apps/${fx.app}/${halted ? 'failbacks' : 'failovers'}`)
      .set(this.as('operator'))
      .send(
        halted
          ? { reason: `chaos test, seed ${SEED}` }
          : { to, mode: 'planned', reason: `chaos test, seed ${SEED}` },
      );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId } = res.body as { operationId: string };

    let killedMidOperation = 0;
    let waited = 0;
    for (const ms of killAfterMs) {
      await delay(ms - waited);
      waited = ms;
      await this.killWorker(operationId);
      if (!isTerminal((await this.operation(operationId)).phase)) killedMidOperation++;
    }
    const op = await this.closed(operationId);
    const elapsed = Date.now() - started;
    const where = `operation ${operationId} to ${to} (seed ${SEED})`;

    // Completed, or failed and cleanly compensated: the app exactly as before.
    const after = await this.appState();
    if (op.phase === 'Completed') {
      assert.equal(after.activeRegion, to, where);
      assert.deepEqual(after.dns, [[ADDRESS[to]], [ADDRESS[to]]], where);
    } else {
      assert.equal(op.phase, 'Failed', `${where}: ${JSON.stringify(op.error)}`);
      const unclean = op.steps.filter(
        (s) => s.status === 'CompensationFailed' || s.status === 'Compensating',
      );
      assert.deepEqual(unclean, [], `${where}: every compensation done`);
      assert.deepEqual(after, before, `${where}: compensated back to the state before`);
    }

    // Each DNS change once: one completed write per change in history, one serial step per write.
    const dnsSwitched =
      op.phase === 'Completed' || op.steps.some((s) => s.name === 'dns' && s.status === 'Compensated');
    const expectedWrites = op.phase === 'Completed' ? 1 : dnsSwitched ? 2 : 0;
    const writes = await dnsWritesInHistory(fx, operationId);
    assert.equal(writes.completed, expectedWrites, `${where}: completed DNS writes in history`);
    const serialDelta = (await powerDnsSerial(fx)) - serialBefore;
    // A write retried after a crash may have reached PowerDNS before the crash: it then writes the
    // same value again (the serial moves, the answer does not). Anything beyond that is a second change.
    assert.ok(
      serialDelta >= expectedWrites && serialDelta <= expectedWrites + writes.retried,
      `${where}: PowerDNS serial moved ${serialDelta} times for ${expectedWrites} write(s) and ${writes.retried} retried attempt(s)`,
    );

    // Each audit event once: idempotency keys <operationId>:1..n in order, no duplicate, no gap.
    const events = await this.auditOf(operationId);
    assert.deepEqual(
      events.map((e) => e.idempotencyKey),
      events.map((_e, i) => `${operationId}:${i + 1}`),
      `${where}: audit idempotency keys`,
    );
    assert.equal(events[0]?.action, 'operation.started', where);
    assert.deepEqual(
      events.filter((e) => e.action === 'operation.finished').map((e) => e.sequence),
      [events[events.length - 1]!.sequence],
      `${where}: operation.finished once, last`,
    );
    assert.equal(op.facts.auditErrors, undefined, `${where}: no audit event given up`);

    return {
      lane: this.lane,
      operationId,
      to,
      phase: op.phase,
      error: op.error ? `${op.error.step}: ${op.error.code}: ${op.error.message}` : undefined,
      ms: elapsed,
      kills: killAfterMs.length,
      killedMidOperation,
      dnsWrites: writes.completed,
      dnsWriteRetries: writes.retried,
      serialDelta,
    };
  }
}

describe('failover chaos: workers killed -9 at random moments', () => {
  const lanes: ChaosLane[] = [];

  before(async () => {
    // One after the other: PowerDNS (SQLite backend) refuses zones created at the same moment.
    for (let i = 1; i <= LANES; i++) lanes.push(await ChaosLane.start(i));
    await Promise.all(lanes.flatMap((l) => [l.spawnWorker(), l.spawnWorker()]));
  });

  after(async () => {
    await Promise.all(lanes.map((l) => l.stop()));
  });

  it('ends every switchover Completed or cleanly compensated, DNS and audit exactly once', async (t) => {
    t.diagnostic(`chaos seed ${SEED} (rerun: SWITCHYARD_CHAOS_SEED=${SEED})`);
    const outcomes = (
      await Promise.all(
        lanes.map(async (lane) => {
          // Each lane draws from its own generator, so its moments do not depend on the other's pace.
          const random = seeded(SEED + lane.lane);
          // One switchover without a kill: the kill moments are drawn from the first 60 % of its
          // duration, so that most land before the operation ends (later ones may be faster).
          const baseline = await lane.switchover('west', []);
          assert.equal(baseline.phase, 'Completed');
          t.diagnostic(`lane ${lane.lane}: baseline switchover without kills: ${baseline.ms} ms`);
          const out: Outcome[] = [];
          let active = 'west';
          for (let i = 0; i < SWITCHOVERS_PER_LANE; i++) {
            // Back and forth from where the app is: a compensated switchover left it where it was.
            const to = active === 'east' ? 'west' : 'east';
            // Moments from the operation's start, sorted; the kills wait for the differences.
            const moments = Array.from({ length: KILLS_PER_SWITCHOVER }, () =>
              Math.round(random() * 0.6 * baseline.ms),
            ).sort((x, y) => x - y);
            const o = await lane.switchover(to, moments);
            if (o.phase === 'Completed') active = to;
            out.push(o);
            t.diagnostic(
              `lane ${lane.lane} ${i + 1}/${SWITCHOVERS_PER_LANE} → ${to}: ${o.phase} in ${o.ms} ms; ` +
                `kills after ${moments.join(', ')} ms (${o.killedMidOperation} mid-operation); ` +
                `DNS writes ${o.dnsWrites}, retried ${o.dnsWriteRetries}, PowerDNS serial +${o.serialDelta}` +
                (o.error ? `; compensated after ${o.error}` : ''),
            );
          }
          return out;
        }),
      )
    ).flat();

    assert.equal(
      outcomes.reduce((n, o) => n + o.kills, 0),
      KILLS,
    );
    // The kills must have hit operations in flight, not only idle workers.
    const mid = outcomes.reduce((n, o) => n + o.killedMidOperation, 0);
    assert.ok(mid >= KILLS / 4, `only ${mid} of ${KILLS} kills landed mid-operation (seed ${SEED})`);
    const reapplied = outcomes.reduce((n, o) => n + o.serialDelta - o.dnsWrites, 0);
    const slow = lanes.reduce((n, l) => n + l.spawnTimeouts, 0);
    t.diagnostic(
      `${mid}/${KILLS} kills mid-operation; ${outcomes.filter((o) => o.phase === 'Completed').length}/${outcomes.length} completed; ` +
        `${reapplied} DNS write(s) re-applied with the same value after a crash; ${slow} worker start(s) timed out and retried`,
    );

    for (const lane of lanes) {
      assert.deepEqual(lane.spawnErrors, [], `lane ${lane.lane}: every replacement worker started`);
      const chain = (await lane.auditChainOk()) as { ok: boolean };
      assert.equal(chain.ok, true, JSON.stringify(chain));
    }
  });
});
