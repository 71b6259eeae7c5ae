import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import { Supervisor } from '../../infra/stack/supervisor';
import {
  startTemporal,
  taskQueueHasPollers,
  type TemporalServer,
} from '../../infra/stack/temporal.component';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { coordinatorTaskQueue } from '../../workflows/definitions';
import { type AppFixture, startAppFixture, startWorker, type WorkerProcess } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Approvals live in the workflow's history, so they survive a restart of the Temporal server
 * itself (same port, same SQLite file) while the API and the worker stay up and reconnect.
 * The harness's shared Temporal must not be restarted: this file runs a dev server of its own.
 */
const WEST = '127.0.1.2';
const NAME = 'temporal-restart';

describe('approvals across a Temporal server restart', () => {
  let dir: string;
  let sup: Supervisor;
  let temporal: TemporalServer;
  let fx: AppFixture;
  let worker: WorkerProcess;
  let api: NestExpressApplication;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-temporal-restart-'));
    sup = new Supervisor(dir, { handleSignals: false });
    temporal = await startTemporal(sup, { ui: false }, NAME);
    fx = await startAppFixture({
      ttl: 1,
      failoverApproval: { required: 2, roles: ['approver', 'admin'], excludeRequester: true },
      temporal: { address: temporal.address, namespace: temporal.namespace },
    });
    assert.equal(fx.config.temporal.address, temporal.address);
    worker = await startWorker(fx);
    api = await createApi({ config: fx.config, logger: false });
    await api.init();
  });

  after(async () => {
    await worker?.kill('SIGKILL');
    await api?.close();
    await fx?.stop();
    await sup?.stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const http = () => request(api.getHttpServer());
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });
  const getOperation = (id: string) => http().get(`/v1/operations/${id}`).set(as(fx.tokens.viewer));
  const decide = (id: string, token: string) =>
    http().post(`/v1/operations/${id}/approvals`).set(as(token)).send({ decision: 'approve', comment: 'ok' });
  const operationWhen = (
    id: string,
    want: (op: OperationStatus) => boolean,
    what: string,
    timeoutMs = 60_000,
  ) =>
    waitFor(
      async () => {
        const res = await getOperation(id);
        if (res.status !== 200) return false;
        const op = res.body as OperationStatus;
        return want(op) ? op : false;
      },
      { what: `operation ${id} ${what}`, timeoutMs, intervalMs: 100 },
    );

  it('keeps the first approval and completes with the second after the restart', async () => {
    const res = await http()
      .post(`/v1/apps/${fx.app}/failovers`)
      .set(as(fx.tokens.operator))
      .send({ to: 'west', mode: 'planned', reason: 'temporal restart test' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;
    await operationWhen(id, (op) => op.phase === 'AwaitingApproval', 'awaiting approval', 30_000);
    const first = await decide(id, fx.tokens.approver);
    assert.equal(first.status, 200, JSON.stringify(first.body));

    const { address, dbFile } = temporal;
    const port = Number(address.split(':').pop());
    await temporal.stop();
    temporal = await startTemporal(sup, { ui: false, port }, NAME);
    assert.deepEqual([temporal.address, temporal.dbFile], [address, dbFile], 'same port, same SQLite file');

    // The API answers again (it may 503 while its client reconnects) with the state kept.
    const back = await operationWhen(id, () => true, 'readable after the restart', 60_000);
    assert.equal(back.phase, 'AwaitingApproval');
    assert.deepEqual(back.approval!.approvedBy, ['bob']);
    assert.equal(back.approval!.stillNeeded, 1);

    // The worker, never restarted, polls the new server again before the second decision.
    await waitFor(
      () =>
        taskQueueHasPollers(temporal.address, temporal.namespace, [
          coordinatorTaskQueue(fx.config.temporal.taskQueuePrefix),
        ]),
      { what: 'the worker polling the restarted server', timeoutMs: 60_000, intervalMs: 200 },
    );
    const second = await decide(id, fx.tokens.admin);
    assert.equal(second.status, 200, JSON.stringify(second.body));

    const done = await operationWhen(id, (op) => isTerminal(op.phase), 'to finish');
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.deepEqual(done.approval!.approvedBy, ['bob', 'carol']);
    assert.deepEqual(await fx.route53A(), [WEST]);
  });
});
