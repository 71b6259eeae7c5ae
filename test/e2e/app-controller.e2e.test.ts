import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { createControlActivities, type ControlActivities } from '../../infra/activities/control.activities';
import { ControlStateStore, type ControlState } from '../../infra/storage/control-state.store';
import type { ControlChange } from '../../workflows/control';
import {
  appControllerWorkflowId,
  controllerQuery,
  coordinatorTaskQueue,
  type ControllerView,
} from '../../workflows/definitions';
import { startAppFixture, startWorker, type AppFixture, type WorkerProcess } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * The app controller on the real Temporal dev server and the two real S3 regions: the activities
 * an operation workflow calls (applyControlChange, readControl) run here in the test process, the
 * controller workflow and its mirror activities in a real worker process.
 */
describe('app controller', () => {
  let fx: AppFixture;
  let worker: WorkerProcess;
  let client: Client;
  let control: ControlActivities;
  let store: ControlStateStore;
  let seq = 0;
  const OP = 'op-1';

  const apply = (change: ControlChange, requestId = `req-${++seq}`) =>
    control.applyControlChange({ app: fx.app, requestId, change });
  const view = () =>
    client.workflow
      .getHandle(appControllerWorkflowId(fx.app))
      .query(controllerQuery) as Promise<ControllerView>;
  const buckets = async (): Promise<(ControlState | null)[]> =>
    Promise.all(['east', 'west'].map((r) => store.readRegion(fx.app, r)));

  before(async () => {
    // Its own S3 servers: west's is stopped (SIGSTOP) while other test files run.
    fx = await startAppFixture({ privateS3: true });
    worker = await startWorker(fx);
    client = await fx.temporal();
    store = new ControlStateStore(fx.config, { requestTimeoutMs: 2_000, maxAttempts: 1 });
    control = createControlActivities({ config: fx.config, controlState: store, temporal: fx.temporal });
    // Started here with a small history bound so that continue-as-new happens within the test;
    // the activities find it running (USE_EXISTING) instead of starting their own.
    await client.workflow.start('appControllerWorkflow', {
      workflowId: appControllerWorkflowId(fx.app),
      taskQueue: coordinatorTaskQueue(fx.config.temporal.taskQueuePrefix),
      args: [{ app: fx.app, regions: ['east', 'west'], maxHistoryEvents: 60 }],
    });
  });

  after(async () => {
    await client?.workflow
      .getHandle(appControllerWorkflowId(fx.app))
      .terminate('test over')
      .catch(() => undefined);
    await worker?.kill('SIGKILL');
    store?.close();
    await fx?.stop();
  });

  it('starts from the configuration and answers readControl', async () => {
    const s = await control.readControl({ app: fx.app });
    assert.equal(s.activeRegion, 'east');
    assert.equal(s.writer, 'east');
    assert.deepEqual(s.halted, []);
    assert.equal(s.epoch, 0);
  });

  it('applies changes in order and mirrors each to both regions’ buckets', async () => {
    const claim = await apply({ type: 'claim', operationId: OP });
    assert.deepEqual(claim.mirrored, [
      { region: 'east', ok: true },
      { region: 'west', ok: true },
    ]);
    // Sent at once: the controller applies them one at a time, each on the state the previous left.
    const [q, f] = await Promise.all([
      apply({ type: 'quiesce', region: 'east', operationId: OP }),
      apply({ type: 'fence', region: 'east', operationId: OP }),
    ]);
    const p = await apply({ type: 'promote', region: 'west', operationId: OP });
    const a = await apply({ type: 'activate', region: 'west', operationId: OP });
    const revisions = [claim, q, f, p, a].map((r) => r.state.revision!);
    assert.deepEqual(
      [...revisions].sort((x, y) => x - y),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      { epoch: a.state.epoch, writer: a.state.writer, halted: a.state.halted, active: a.state.activeRegion },
      { epoch: 1, writer: 'west', halted: ['east'], active: 'west' },
    );
    const [east, west] = await buckets();
    assert.deepEqual(east, a.state);
    assert.deepEqual(west, a.state);
    const v = await view();
    assert.equal(v.currentOperation, OP);
    assert.deepEqual(
      v.transitions.map((t) => t.revision),
      [1, 2, 3, 4, 5],
    );
  });

  it('refuses to promote a halted region and a claim while another operation holds the app', async () => {
    const before = (await view()).state;
    await assert.rejects(
      apply({ type: 'promote', region: 'east', operationId: OP }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        err.type === 'region-halted' &&
        /cannot promote region east: it is halted/.test(err.message),
    );
    await assert.rejects(
      apply({ type: 'claim', operationId: 'op-2' }),
      (err: unknown) => err instanceof ApplicationFailure && err.type === 'operation-held',
    );
    await assert.rejects(
      apply({ type: 'fence', region: 'north', operationId: OP }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === 'unknown-region' &&
        /"north" is not a region of app/.test(err.message),
    );
    assert.deepEqual((await view()).state, before);
  });

  it('applies the same requestId once', async () => {
    const first = await apply({ type: 'fence', region: 'east', operationId: OP }, 'fence-twice');
    const again = await apply({ type: 'fence', region: 'east', operationId: OP }, 'fence-twice');
    assert.deepEqual(again.state, first.state);
    const v = await view();
    assert.equal(v.state.epoch, first.state.epoch);
    assert.equal(v.transitions.filter((t) => t.requestId === 'fence-twice').length, 1);
  });

  it('keeps its state and remembered requestIds across continue-as-new', async () => {
    const handle = client.workflow.getHandle(appControllerWorkflowId(fx.app));
    const firstRun = (await handle.describe()).runId;
    const before = (await view()).state;
    let last = before;
    await waitFor(
      async () => {
        last = (await apply({ type: 'quiesce', region: 'west', operationId: OP })).state;
        return (await handle.describe()).runId !== firstRun;
      },
      { what: 'the controller to continue as new', timeoutMs: 60_000, intervalMs: 0 },
    );
    const v = await view();
    assert.ok(v.generation >= 2, `generation ${v.generation}`);
    assert.equal(v.state.revision, last.revision);
    assert.equal(v.state.epoch, before.epoch);
    assert.deepEqual(v.state.halted, ['east']);
    // A request applied in the first run is still known: nothing is applied again.
    const again = await apply({ type: 'fence', region: 'east', operationId: OP }, 'fence-twice');
    assert.equal(again.state.epoch, before.epoch);
    assert.equal((await view()).state.revision, last.revision);
  });

  it('reports a stopped region in `mirrored`; a fence that reaches no majority fails until it does', async () => {
    const west = fx.s3Pid('west');
    process.kill(west, 'SIGSTOP');
    let stopped = true;
    try {
      const promote = await apply({ type: 'promote', region: 'west', operationId: OP });
      assert.deepEqual(
        promote.mirrored.map((m) => [m.region, m.ok]),
        [
          ['east', true],
          ['west', false],
        ],
      );
      assert.ok(promote.mirrored[1]!.error, 'the failure says why');
      const epoch = promote.state.epoch;
      await assert.rejects(
        apply({ type: 'fence', region: 'west', operationId: OP }, 'fence-west'),
        (err: unknown) =>
          err instanceof Error &&
          !(err instanceof ApplicationFailure && err.nonRetryable) &&
          /fence of west \(epoch \d+\) is recorded in 1 of 2 buckets/.test(err.message) &&
          /unreachable: west's bucket \(/.test(err.message) &&
          new RegExp(`add apps\\.${fx.app}\\.fencing\\.witness`).test(err.message),
      );
      process.kill(west, 'SIGCONT');
      stopped = false;
      // West first works off what reached it while stopped (the timed-out writes).
      await waitFor(() => store.readRegion(fx.app, 'west').then(() => true), {
        what: 'west to answer again',
      });
      // The activity's retry: same requestId, applied once, now mirrored everywhere.
      const retried = await apply({ type: 'fence', region: 'west', operationId: OP }, 'fence-west');
      assert.equal(retried.state.epoch, epoch + 1);
      assert.ok(retried.mirrored.every((m) => m.ok));
      const [e, w] = await buckets();
      assert.equal(e?.epoch, epoch + 1);
      assert.deepEqual(w, e);
      assert.deepEqual(w?.halted, ['east', 'west']);
    } finally {
      if (stopped) process.kill(west, 'SIGCONT');
    }
  });
});
