import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createApi } from '../../apps/api/bootstrap';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import { appOperationWorkflowId, parseOperationId } from '../../workflows/definitions';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { startAppFixture, startWorker, type AppFixture, type WorkerProcess } from '../support/app-fixture';
import { waitFor } from '../support/stack';
import type { ControlState } from '../../infra/storage/control-state.store';

const CLI = path.resolve(__dirname, '../../apps/cli/main.js');

/**
 * The first failover, end to end: API (supertest) → Temporal dev server → worker process →
 * Route 53 API (moto, read back through the SDK) and PowerDNS (read back through a real DNS query).
 */
describe('failover end to end', () => {
  let fx: AppFixture;
  let api: NestExpressApplication;
  let worker: WorkerProcess;
  const EAST = '127.0.1.1';
  const WEST = '127.0.1.2';

  const as = (token: string) => ({ Authorization: `Bearer ${token}` });
  const http = () => request(api.getHttpServer());

  async function operation(id: string): Promise<OperationStatus> {
    const res = await http().get(`/v1/operations/${id}`).set(as(fx.tokens.viewer)).expect(200);
    return res.body as OperationStatus;
  }

  async function finished(id: string, timeoutMs = 90_000): Promise<OperationStatus> {
    return waitFor(
      async () => {
        const op = await operation(id);
        return isTerminal(op.phase) ? op : false;
      },
      { what: `operation ${id} to finish`, timeoutMs, intervalMs: 200 },
    );
  }

  function postFailover(body: object, token: string | null = fx.tokens.operator, app = fx.app): request.Test {
    const req = http().post(`/v1/apps/${app}/failovers`);
    return (token === null ? req : req.set(as(token))).send(body);
  }

  function startFailover(to: string, token = fx.tokens.operator) {
    return postFailover({ to, mode: 'planned', reason: 'e2e test of the failover' }, token);
  }

  async function readControl(): Promise<ControlState> {
    const store = new ControlStateStore(fx.config);
    try {
      return (await store.read(fx.app)).state;
    } finally {
      store.close();
    }
  }

  async function completedActivityCount(operationId: string, activityType: string): Promise<number> {
    const id = parseOperationId(operationId)!;
    const client = await fx.temporal();
    const history = await client.workflow.getHandle(id.workflowIds[0]!, id.runId).fetchHistory();
    const scheduled = new Map<string, string>();
    let completed = 0;
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) {
        scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
      }
      const done = e.activityTaskCompletedEventAttributes;
      if (done && scheduled.get(String(done.scheduledEventId)) === activityType) completed++;
    }
    return completed;
  }

  before(async () => {
    fx = await startAppFixture({ ttl: 2, verifyTimeoutSeconds: 30 });
    worker = await startWorker(fx);
    api = await createApi({ config: fx.config, temporalClient: fx.temporal, logger: false });
    await api.listen(0, '127.0.0.1');
  });

  after(async () => {
    await worker?.kill('SIGKILL');
    await api?.close();
    await fx?.stop();
  });

  function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: {
        ...process.env,
        SWITCHYARD_API_URL: `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`,
        SWITCHYARD_TOKEN: fx.tokens.operator,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  it('starts with DNS on the active region in both providers', async () => {
    assert.deepEqual(await fx.route53A(), [EAST]);
    assert.deepEqual(await fx.powerDnsA(), [EAST]);
    const res = await http().get(`/v1/apps/${fx.app}`).set(as(fx.tokens.viewer)).expect(200);
    assert.equal(res.body.activeRegion, 'east');
    assert.equal(res.body.epoch, 0);
    assert.equal(res.body.controlStateSource, 'config');
    assert.deepEqual(
      res.body.regions.map((r: { name: string; role: string; health: { healthy: boolean } }) => [
        r.name,
        r.role,
        r.health.healthy,
      ]),
      [
        ['east', 'active', true],
        ['west', 'standby', true],
      ],
    );
  });

  it('refuses bad requests with a clear 4xx and changes nothing', async () => {
    const ok = { to: 'west', mode: 'planned', reason: 'because' };
    const cases: [string, request.Test, number, string][] = [
      ['no token', postFailover(ok, null), 401, 'unauthorized'],
      ['viewer role', postFailover(ok, fx.tokens.viewer), 403, 'forbidden'],
      ['unknown app', postFailover(ok, fx.tokens.operator, 'nope'), 404, 'app-not-found'],
      ['unknown region', postFailover({ ...ok, to: 'mars' }), 422, 'unknown-region'],
      ['already active', postFailover({ ...ok, to: 'east' }), 409, 'already-active'],
      ['missing reason', postFailover({ to: 'west', mode: 'planned' }), 400, 'validation-failed'],
      ['bad mode', postFailover({ ...ok, mode: 'yolo' }), 400, 'validation-failed'],
      ['unknown field', postFailover({ ...ok, force: true }), 400, 'validation-failed'],
    ];
    for (const [name, pending, status, code] of cases) {
      const res = await pending;
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, code, name);
      assert.equal(typeof res.body.message, 'string', name);
    }
    const missing = await postFailover({ to: 'west', mode: 'planned' });
    assert.match(missing.body.message, /body\.reason: required/);
    // nothing started, nothing moved
    const ops = await http().get(`/v1/operations?app=${fx.app}`).set(as(fx.tokens.viewer)).expect(200);
    assert.equal(ops.body.items.length, 0);
    await assert.rejects(
      (await fx.temporal()).workflow.getHandle(appOperationWorkflowId(fx.app)).describe(),
      /not found/i,
    );
    assert.deepEqual(await fx.route53A(), [EAST]);
    assert.deepEqual(await fx.powerDnsA(), [EAST]);
  });

  it('fails over to the standby: DNS moves in both providers, the operation completes', async () => {
    const res = await startFailover('west');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId } = res.body as { operationId: string };
    assert.ok(parseOperationId(operationId), operationId);

    // While it runs, a second request for the same app is refused by Temporal's id conflict policy.
    const second = await startFailover('west');
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal(second.body.error, 'operation-in-progress');
    assert.equal(second.body.details.operationId, operationId);

    const op = await finished(operationId);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['approval', 'Skipped'],
        ['quiesce', 'Completed'],
        ['final-restore-point', 'Skipped'],
        ['fence', 'Completed'],
        ['restore', 'Skipped'],
        ['promote', 'Completed'],
        ['dns', 'Completed'],
        ['verify', 'Completed'],
        ['commit', 'Completed'],
      ],
    );
    assert.equal(op.steps[3]!.detail, 'the app declares no services');
    for (const s of op.steps.filter((x) => x.status !== 'Skipped')) {
      assert.ok(
        s.startedAt && s.endedAt && Date.parse(s.endedAt) >= Date.parse(s.startedAt),
        `${s.name} has times`,
      );
    }
    assert.equal(op.requestedBy, 'alice');
    assert.equal(op.facts.epoch, 1);

    assert.deepEqual(await fx.route53A(), [WEST]);
    assert.deepEqual(await fx.powerDnsA(), [WEST]);

    const app = await http().get(`/v1/apps/${fx.app}`).set(as(fx.tokens.viewer)).expect(200);
    assert.equal(app.body.activeRegion, 'west');
    assert.equal(app.body.epoch, 1);
    assert.equal(app.body.controlStateSource, 'buckets');
    assert.equal(app.body.currentOperationId, null);

    const again = await startFailover('west');
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'already-active');
    // The old primary is halted: only a failback brings the app back to it.
    const back = await startFailover('east');
    assert.equal(back.status, 409, JSON.stringify(back.body));
    assert.equal(back.body.error, 'region-halted');
    const control = await readControl();
    assert.deepEqual([control.activeRegion, control.writer, control.halted], ['west', 'west', ['east']]);
    const east = (await (await fetch(`${fx.regions[0]!.url}/healthz`)).json()) as { fenced: boolean };
    assert.equal(east.fenced, true);

    const metrics = await (await fetch(worker.metricsUrl)).text();
    assert.match(metrics, /switchyard_worker_activity_execution_latency/);

    const list = await http().get(`/v1/operations?app=${fx.app}`).set(as(fx.tokens.viewer)).expect(200);
    assert.ok(list.body.items.some((o: { operationId: string }) => o.operationId === operationId));
  });

  it('survives the worker being killed mid-failback: completes, DNS changed once', async () => {
    const res = await http()
      .post(`/v1/apps/${fx.app}/failbacks`)
      .set(as(fx.tokens.operator))
      .send({ reason: 'e2e test of a failback' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId } = res.body as { operationId: string };

    // Kill the worker as soon as the DNS step has started.
    await waitFor(
      async () => (await operation(operationId)).steps.find((s) => s.name === 'dns')?.status !== 'Pending',
      {
        what: 'the dns step to start',
        timeoutMs: 30_000,
        intervalMs: 20,
      },
    );
    await worker.kill('SIGKILL');
    worker = await startWorker(fx, 'worker-restarted');

    const op = await finished(operationId);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.deepEqual(await fx.route53A(), [EAST]);
    assert.deepEqual(await fx.powerDnsA(), [EAST]);
    // The values captured before the change are the old ones (west), i.e. captured once, before it.
    const previous = op.facts.previousDns as { previous: { values: string[] } }[];
    assert.deepEqual(
      previous.map((p) => p.previous.values),
      [[WEST], [WEST]],
    );
    assert.equal(await completedActivityCount(operationId, 'applyDnsTarget'), 1);
    assert.equal(op.kind, 'failback');
    assert.equal(op.facts.epoch, 2);
    const control = await readControl();
    // Home again through a zero-loss switchover: west is a standby, not halted.
    assert.deepEqual([control.activeRegion, control.writer, control.halted], ['east', 'east', []]);
    const east = (await (await fetch(`${fx.regions[0]!.url}/healthz`)).json()) as { fenced: boolean };
    assert.equal(east.fenced, false);
  });

  it('is driven by the CLI: --watch follows it to Completed, errors exit non-zero', async () => {
    const bad = await cli('failover', fx.app, '--to', 'mars', '--reason', 'cli test of an unknown region');
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /has no region "mars" \(422 unknown-region\)/);

    // The failback left west a standby: a failover (not a failback) takes the app there again.
    const run = await cli(
      'failover',
      fx.app,
      '--to',
      'west',
      '--reason',
      'cli test of a failover',
      '--watch',
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /started shop-/);
    assert.match(run.stdout, /✓ commit/);
    assert.match(run.stdout, /: Completed/);
    assert.deepEqual(await fx.route53A(), [WEST]);

    const ls = await cli('--json', 'ops', 'ls', '--app', fx.app);
    assert.equal(ls.code, 0, ls.stderr);
    const items = (JSON.parse(ls.stdout) as { items: { phase: string }[] }).items;
    assert.equal(items.length, 3);
    assert.ok(items.every((o) => o.phase === 'Completed'));
  });
});

describe('failover that cannot complete', () => {
  let fx: AppFixture;
  let api: NestExpressApplication;
  let worker: WorkerProcess;
  const EAST = '127.0.1.1';

  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  async function runFailover(): Promise<OperationStatus> {
    const res = await request(api.getHttpServer())
      .post(`/v1/apps/${fx.app}/failovers`)
      .set(as(fx.tokens.operator))
      .send({ to: 'west', mode: 'unplanned', reason: 'e2e test of a failing failover' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;
    return waitFor(
      async () => {
        const op = (await request(api.getHttpServer()).get(`/v1/operations/${id}`).set(as(fx.tokens.viewer)))
          .body as OperationStatus;
        return isTerminal(op.phase) ? op : false;
      },
      { what: `operation ${id} to finish`, timeoutMs: 60_000, intervalMs: 200 },
    );
  }

  before(async () => {
    // The verify URL answers 404 on the demo app: DNS switches, then verification fails.
    fx = await startAppFixture({ ttl: 1, verifyPath: '/no-such-page', verifyTimeoutSeconds: 3 });
    worker = await startWorker(fx);
    api = await createApi({ config: fx.config, temporalClient: fx.temporal, logger: false });
    await api.init();
  });

  after(async () => {
    await worker?.kill('SIGKILL');
    await api?.close();
    await fx?.stop();
  });

  it('refuses at preflight when the target is unhealthy, touching nothing', async () => {
    const west = fx.regions.find((r) => r.name === 'west')!;
    const toggle = (path: string) => fetch(`http://${west.ip}:${west.port}${path}`, { method: 'POST' });
    assert.equal((await toggle('/admin/unhealthy')).status, 200);
    try {
      const op = await runFailover();
      assert.equal(op.phase, 'Failed');
      assert.equal(op.error?.code, 'target-unhealthy');
      assert.match(op.error!.message, /HTTP 503/);
      assert.deepEqual(
        op.steps.map((s) => s.status),
        ['Failed', 'Skipped', 'Skipped', 'Skipped', 'Skipped', 'Skipped', 'Skipped', 'Skipped'],
      );
    } finally {
      await toggle('/admin/healthy');
    }
    assert.deepEqual(await fx.route53A(), [EAST]);
    assert.deepEqual(await fx.powerDnsA(), [EAST]);
  });

  it('puts DNS back when verification fails after the switch', async () => {
    const op = await runFailover();
    assert.equal(op.phase, 'Failed', JSON.stringify(op));
    assert.equal(op.error?.step, 'verify');
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['approval', 'Skipped'],
        ['fence', 'Compensated'],
        ['restore', 'Skipped'],
        ['promote', 'Compensated'],
        ['dns', 'Compensated'],
        ['verify', 'Failed'],
        ['commit', 'Skipped'],
      ],
    );
    assert.deepEqual(await fx.route53A(), [EAST]);
    assert.deepEqual(await fx.powerDnsA(), [EAST]);
    const app = await request(api.getHttpServer())
      .get(`/v1/apps/${fx.app}`)
      .set(as(fx.tokens.viewer))
      .expect(200);
    assert.equal(app.body.activeRegion, 'east');
    // Each compensation of a fence raises the epoch; the rest is as before.
    const store = new ControlStateStore(fx.config);
    const control = (await store.read(fx.app)).state;
    store.close();
    assert.deepEqual([control.activeRegion, control.writer, control.halted], ['east', 'east', []]);
    assert.ok(control.epoch >= 2, `epoch ${control.epoch}`);
    const east = (await (await fetch(`${fx.regions[0]!.url}/healthz`)).json()) as { fenced: boolean };
    assert.equal(east.fenced, false);
  });
});
