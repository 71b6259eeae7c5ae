import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { failoverPlan } from '../../apps/api/operations/operations.service';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import { OperationsRepository } from '../../infra/temporal/operations.repository';
import type { FailoverInput } from '../../workflows/failover.workflow';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import type { ApiHarness } from '../support/api-harness';
import type { WorkerProcess } from '../support/app-fixture';
import { checkConsistency, readOrders, startLoad } from '../support/demo-load';
import { startDataFailoverStack } from '../support/failover-fixture';
import { waitFor } from '../support/stack';

/**
 * Failovers that move data (docs/failover.md), on the demo app with both services, the write
 * lease on, and one worker per region (the east worker apart, so it can die with its region):
 * a planned switchover under write load loses no acknowledged write, with no moment where both
 * regions accept writes; a failback brings the app home the same way. The unplanned failover is in
 * failover-unplanned.e2e.test.ts (it needs a standby that no failover has halted).
 */
describe('failover with data: planned switchover and failback under load', () => {
  let h: ApiHarness;
  let eastWorker: WorkerProcess;

  before(async () => {
    ({ h, eastWorker } = await startDataFailoverStack());
  });
  after(async () => {
    await eastWorker?.kill('SIGKILL');
    await h?.stop();
  });

  const region = (name: string) => h.fx.regions.find((r) => r.name === name)!;
  const finished = (id: string) => h.phase(id, isTerminal, 'to finish', 180_000);

  /**
   * Writes to both regions in turn (besides the load), recording when each acknowledged one:
   * at no moment may both regions acknowledge writes.
   */
  function startProbe() {
    const acks: { region: string; n: number; at: number }[] = [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        for (const r of h.fx.regions) {
          const sent = Date.now();
          const res = await fetch(`${r.url}/numbers`, { method: 'POST' }).catch(() => null);
          if (res?.status === 201)
            acks.push({ region: r.name, n: ((await res.json()) as { n: number }).n, at: sent });
          else await res?.text();
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    return {
      async stop() {
        stopped = true;
        await loop;
        return acks;
      },
    };
  }

  /** Moves the app under load from `from` to `to` and checks that no acknowledged write is lost. */
  async function underLoad(from: string, to: string, start: () => Promise<string>): Promise<OperationStatus> {
    const load = startLoad(region(from).url, { concurrency: 3 });
    const probe = startProbe();
    await load.reached(30);
    const id = await start();
    const op = await finished(id);
    const stats = await load.stop();
    const acks = await probe.stop();
    assert.equal(op.phase, 'Completed', JSON.stringify({ error: op.error, steps: op.steps }));

    // Every write the old primary acknowledged is in the new one (read from its database).
    const acknowledged = [...stats.acknowledged, ...acks.filter((a) => a.region === from).map((a) => a.n)];
    assert.ok(acknowledged.length >= 30, `${acknowledged.length} writes acknowledged`);
    const inTarget = new Set(await readOrders(h.fx.ordersDatabases![to]!));
    const lost = acknowledged.filter((n) => !inTarget.has(n));
    assert.deepEqual(lost, [], `acknowledged by ${from} but not in ${to}`);
    const consistency = await checkConsistency(region(to).url, {
      ordersDatabaseUrl: h.fx.ordersDatabases![to],
    });
    assert.deepEqual(consistency.onlyInLedger, []);

    // Never two writers: the old region's last acknowledged write was sent before the new one's first.
    const lastOld = Math.max(...acks.filter((a) => a.region === from).map((a) => a.at));
    const newAcks = acks.filter((a) => a.region === to).map((a) => a.at);
    if (newAcks.length > 0)
      assert.ok(lastOld < Math.min(...newAcks), 'the old and the new writer overlapped');

    const refused = await fetch(`${region(from).url}/numbers`, { method: 'POST' });
    assert.equal(refused.status, 409, 'the old primary refuses writes');
    await waitFor(async () => (await fetch(`${region(to).url}/numbers`, { method: 'POST' })).status === 201, {
      what: `${to} to accept writes`,
      timeoutMs: 10_000,
    });
    assert.equal(op.facts.dataLossWindowSeconds, 0);
    return op;
  }

  it('planned switchover under write load: no acknowledged write lost, never two writers', async () => {
    const op = await underLoad('east', 'west', () => h.requestFailover('west', 'planned switchover test'));
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['approval', 'Skipped'],
        ['quiesce', 'Completed'],
        ['final-restore-point', 'Completed'],
        ['fence', 'Completed'],
        ['restore', 'Completed'],
        ['promote', 'Completed'],
        ['dns', 'Completed'],
        ['verify', 'Completed'],
        ['commit', 'Completed'],
      ],
    );
    const rp = op.facts.restorePoint as { id: string; final: boolean; operationId: string };
    assert.equal(rp.final, true);
    const rpOp = await h.operation(rp.operationId);
    assert.deepEqual([rpOp.kind, rpOp.phase], ['restore-point', 'Completed']);
    assert.deepEqual(await h.fx.route53A(), ['127.0.1.2']);
  });

  it('fails back home: reprotect, readiness, then the switchover back, unfencing east', async () => {
    const op = await underLoad('west', 'east', () => h.requestFailback('failback test'));
    assert.equal(op.kind, 'failback');
    assert.deepEqual(
      op.steps.map((s) => s.status),
      op.steps.map((s) => (s.name === 'approval' ? 'Skipped' : 'Completed')),
      JSON.stringify(op.steps.map((s) => [s.name, s.status])),
    );
    assert.deepEqual(op.steps.map((s) => s.name).slice(0, 3), ['reprotect', 'readiness', 'approval']);
    assert.ok(
      op.steps.findIndex((s) => s.name === 'unfence') < op.steps.findIndex((s) => s.name === 'promote'),
    );
    const store = new ControlStateStore(h.fx.config);
    const c = (await store.read(h.fx.app)).state;
    store.close();
    // The failback's commit leaves west a standby (not halted): the app is protected again.
    assert.deepEqual([c.activeRegion, c.writer, c.halted], ['east', 'east', []]);
    assert.deepEqual(await h.fx.route53A(), ['127.0.1.1']);

    const nothing = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/failbacks`)
      .set(h.as(h.fx.tokens.operator))
      .send({ to: 'east', reason: 'east is active already' });
    assert.deepEqual([nothing.status, nothing.body.error], [409, 'nothing-to-fail-back']);
  });
  it('compensates a failure injected after the data steps: east is the writer again with its data', async () => {
    const repo = new OperationsRepository(h.fx.temporal, h.fx.config.temporal.taskQueuePrefix);
    const app = h.fx.config.apps[h.fx.app]!;
    const west = app.regions.find((r) => r.name === 'west')!;
    for (const step of ['final-restore-point', 'restore']) {
      const before = await readOrders(h.fx.ordersDatabases!.east!);
      const spec = { to: 'west', mode: 'planned' as const, reason: `fault after ${step}` };
      const input: FailoverInput = {
        app: h.fx.app,
        spec,
        requestedBy: 'alice',
        taskQueuePrefix: h.fx.config.temporal.taskQueuePrefix,
        plan: {
          ...failoverPlan(app, 'east', west, 'planned', app.policies.approvals.failover),
          approval: { required: 0, roles: ['approver'], excludeRequester: true, expiresAfterSeconds: 60 },
          faultAfterStep: step,
        },
      };
      // The slot frees once the previous operation's workflow has closed.
      await waitFor(async () => !(await repo.runningOperationId(h.fx.app, 'operation')), {
        what: 'the operation slot to be free',
        timeoutMs: 30_000,
      });
      const id = await repo.start('failover', h.fx.app, spec, 'alice', input);
      const op = await finished(id);
      assert.equal(op.phase, 'Failed', `${step}: ${JSON.stringify(op.error)}`);
      assert.deepEqual([op.error?.code, op.error?.step], ['injected-fault', step]);
      assert.deepEqual(await h.fx.route53A(), ['127.0.1.1'], `${step}: DNS on east`);
      const store = new ControlStateStore(h.fx.config);
      const c = (await store.read(h.fx.app)).state;
      store.close();
      assert.deepEqual([c.activeRegion, c.writer, c.halted], ['east', 'east', []], `${step}: control state`);
      // East takes writes again (its fence lifted, its lease renewed) and lost nothing; west refuses.
      await waitFor(
        async () => (await fetch(`${region('east').url}/numbers`, { method: 'POST' })).status === 201,
        {
          what: `east to take writes after the fault after ${step}`,
          timeoutMs: 15_000,
        },
      );
      const after = await readOrders(h.fx.ordersDatabases!.east!);
      assert.ok(
        before.every((n) => after.includes(n)),
        `${step}: east kept every order`,
      );
      assert.equal((await fetch(`${region('west').url}/numbers`, { method: 'POST' })).status, 409);
    }
  });
});
