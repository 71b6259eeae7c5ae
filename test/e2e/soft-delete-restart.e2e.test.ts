import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import { Supervisor } from '../../infra/stack/supervisor';
import { startTemporal, type TemporalServer } from '../../infra/stack/temporal.component';
import { appScheduleId } from '../../workflows/definitions';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture, startWorker } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * The undo window is a durable Temporal timer and undo an Update: both survive a restart of the
 * Temporal server itself (same port, same SQLite file) and a kill -9 of the worker during the
 * window. The purge still happens once, not before its time, and an undo given as soon as the
 * server is back wins. This file runs a Temporal dev server of its own (the shared one must not
 * be restarted); schedules are the cheapest target.
 */
const NAME = 'soft-delete-restart';
const WINDOW_SECONDS = 45;

describe('soft deletes across a Temporal server restart and a worker crash', () => {
  let dir: string;
  let sup: Supervisor;
  let temporal: TemporalServer;
  let h: ApiHarness;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'switchyard-soft-delete-restart-'));
    sup = new Supervisor(dir, { handleSignals: false });
    temporal = await startTemporal(sup, { ui: false }, NAME);
    h = new ApiHarness(
      await startAppFixture({
        temporal: { address: temporal.address, namespace: temporal.namespace },
        softDelete: { windowSeconds: WINDOW_SECONDS },
      }),
    );
    await h.start();
  });

  after(async () => {
    await h?.stop();
    await sup?.stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const base = () => `/v1/apps/${h.fx.app}/schedules`;
  const operator = () => h.as(h.fx.tokens.operator);

  async function deleted(name: string): Promise<{ operationId: string; undoableUntil: string }> {
    const created = await h
      .http()
      .post(base())
      .set(operator())
      .send({ kind: 'restore-point', name, cron: '0 3 * * *', reason: `${name} for the restart test` });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const res = await h.http().delete(`${base()}/${name}?reason=restart-test`).set(operator());
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const op = res.body as { operationId: string; undoableUntil: string };
    assert.equal((await h.phase(op.operationId, (p) => p !== 'Running', 'to be undoable')).phase, 'Undoable');
    return op;
  }

  test('purged once and on time; an undo given right after the restart wins', async () => {
    const purge = await deleted('purge-me');
    const keep = await deleted('undo-me');

    // Both down at once during the window: the worker killed, the server stopped and started again.
    await h.worker.kill('SIGKILL');
    const { address, dbFile } = temporal;
    await temporal.stop();
    temporal = await startTemporal(sup, { ui: false, port: Number(address.split(':').pop()) }, NAME);
    assert.deepEqual([temporal.address, temporal.dbFile], [address, dbFile], 'same port, same SQLite file');
    h.worker = await startWorker(h.fx, 'worker-after-restart');

    // The API's client reconnects (503 meanwhile); the undo is given as soon as it answers.
    const undone = await waitFor(
      async () => {
        const res = await h
          .http()
          .post(`/v1/operations/${keep.operationId}/undo`)
          .set(operator())
          .send({ reason: 'right after the restart' });
        return res.status === 503 ? false : res;
      },
      { what: 'the undo to be answered after the restart', timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(undone.status, 200, JSON.stringify(undone.body));
    assert.ok(
      Date.parse(undone.body.undoneAt as string) < Date.parse(keep.undoableUntil),
      'the restart took longer than the window: the test would prove nothing',
    );
    assert.equal((await h.operation(keep.operationId)).phase, 'Undone');
    const back = (await h.http().get(`${base()}/undo-me`).set(operator()).expect(200)).body as ScheduleView;
    assert.deepEqual(
      [back.paused, back.deleted, back.note],
      [false, undefined, 'undo-me for the restart test'],
    );

    const purged: OperationStatus = await h.phase(
      purge.operationId,
      (p) => p !== 'Undoable' && p !== 'Running',
      'to purge',
      WINDOW_SECONDS * 1000 + 60_000,
    );
    assert.equal(purged.phase, 'Completed', JSON.stringify(purged.error));
    const step = purged.steps.find((s) => s.name === 'purge')!;
    assert.ok(Date.parse(step.startedAt!) >= Date.parse(purge.undoableUntil), 'not before the window ended');
    const client = await h.fx.temporal();
    await assert.rejects(
      client.schedule.getHandle(appScheduleId(h.fx.app, 'purge-me')).describe(),
      ScheduleNotFoundError,
    );
    const purges = await h.audit('action=schedule.purged');
    assert.deepEqual(
      purges.map((e) => e.target),
      [`operation:${purge.operationId}`],
      'purged exactly once',
    );
    const late = await h
      .http()
      .post(`/v1/operations/${purge.operationId}/undo`)
      .set(operator())
      .send({ reason: 'too late' });
    assert.deepEqual([late.status, late.body.error], [409, 'undo-window-closed']);
  });
});
