import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import { Supervisor } from '../../infra/stack/supervisor';
import { startTemporal, type TemporalServer } from '../../infra/stack/temporal.component';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { type AppFixture, startAppFixture, startWorker, type WorkerProcess } from '../support/app-fixture';
import { dnsWritesInHistory, powerDnsSerial } from '../support/failover-checks';
import { waitFor } from '../support/stack';

/**
 * A failover survives a restart of the Temporal server itself (same port, same SQLite file) in
 * the middle of its DNS step, while the API and the worker stay up and reconnect: it completes,
 * and DNS is changed once. The harness's shared Temporal must not be restarted: this file runs a
 * dev server of its own.
 */
const NAME = 'failover-temporal-restart';
const WEST = '127.0.1.2';

describe('failover across a Temporal server restart', () => {
  let dir: string;
  let sup: Supervisor;
  let temporal: TemporalServer;
  let fx: AppFixture;
  let worker: WorkerProcess;
  let api: NestExpressApplication;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-failover-temporal-restart-'));
    sup = new Supervisor(dir, { handleSignals: false });
    temporal = await startTemporal(sup, { ui: false }, NAME);
    // A TTL of 3 s keeps the DNS step (which waits out the old answer's TTL) open while the server is down.
    fx = await startAppFixture({
      ttl: 3,
      verifyTimeoutSeconds: 60,
      temporal: { address: temporal.address, namespace: temporal.namespace },
    });
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
  const operationWhen = (id: string, want: (op: OperationStatus) => boolean, what: string) =>
    waitFor(
      async () => {
        const res = await http().get(`/v1/operations/${id}`).set(as(fx.tokens.viewer));
        if (res.status !== 200) return false; // 503 while the API's client reconnects
        const op = res.body as OperationStatus;
        return want(op) ? op : false;
      },
      { what: `operation ${id} ${what}`, timeoutMs: 90_000, intervalMs: 50 },
    );

  it('completes a failover whose DNS step runs while the server restarts; DNS changed once', async () => {
    const serialBefore = await powerDnsSerial(fx);
    const res = await http()
      .post(`/v1/apps/${fx.app}/failovers`)
      .set(as(fx.tokens.operator))
      .send({ to: 'west', mode: 'planned', reason: 'temporal restart during a failover' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;

    // Once the record points at the target, the step waits out the old TTL: stop the server then.
    await operationWhen(
      id,
      (op) => op.steps.some((s) => s.name === 'dns' && s.status === 'Running'),
      'in its DNS step',
    );
    await waitFor(async () => (await fx.powerDnsA()).includes(WEST), {
      what: 'the DNS switch',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const { address, dbFile } = temporal;
    await temporal.stop();
    const port = Number(address.split(':').pop());
    temporal = await startTemporal(sup, { ui: false, port }, NAME);
    assert.deepEqual([temporal.address, temporal.dbFile], [address, dbFile], 'same port, same SQLite file');

    const done = await operationWhen(id, (op) => isTerminal(op.phase) && !!op.endedAt, 'to finish');
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.deepEqual(await fx.route53A(), [WEST]);
    assert.deepEqual(await fx.powerDnsA(), [WEST]);
    const app = await http().get(`/v1/apps/${fx.app}`).set(as(fx.tokens.viewer)).expect(200);
    assert.equal(app.body.activeRegion, 'west');

    // Changed once: one completed DNS write in history, one change in the PowerDNS zone.
    const writes = await dnsWritesInHistory(fx, id);
    assert.equal(writes.completed, 1, 'one completed DNS write');
    // A write retried after the restart may repeat the same value (the serial moves, the answer not).
    const serialDelta = (await powerDnsSerial(fx)) - serialBefore;
    assert.ok(
      serialDelta >= 1 && serialDelta <= 1 + writes.retried,
      `PowerDNS zone changed ${serialDelta} times for one write and ${writes.retried} retried attempt(s)`,
    );
  });
});
