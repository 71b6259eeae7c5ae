import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import { appScheduleId } from '../../workflows/definitions';
import type { OperationStatus } from '../../workflows/operation';
import type { ScheduledRunResult } from '../../workflows/scheduled.workflow';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Soft deletes of schedules end to end (docs/soft-deletes.md): paused and hidden at once, no run
 * starts (not even one triggered behind the API's back), undo gives the schedule back exactly as it
 * was, and with nobody undoing it the purge deletes it from Temporal when its window ends.
 */
/** Long enough to undo on a loaded machine; the second delete runs with a short one. */
const WINDOW_SECONDS = 300;
const SHORT_WINDOW_SECONDS = 6;

describe('soft deletes of schedules', () => {
  let h: ApiHarness;
  const base = () => `/v1/apps/${h.fx.app}/schedules`;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);

  before(async () => {
    h = new ApiHarness(
      await startAppFixture({
        // The app's window is long; the kind's own is short: the per-kind setting wins.
        softDelete: { windowSeconds: 3600, kinds: { 'schedule-delete': { windowSeconds: WINDOW_SECONDS } } },
      }),
    );
    await h.start({ listen: true });
  });
  after(() => h?.stop());

  const del = (name: string, reason = 'soft delete test') =>
    h
      .http()
      .delete(`${base()}/${name}?reason=${encodeURIComponent(reason)}`)
      .set(operator());

  async function view(name: string): Promise<ScheduleView> {
    const res = await h.http().get(`${base()}/${name}`).set(viewer());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as ScheduleView;
  }

  /** Temporal's schedule list is eventually consistent: wait until it agrees. */
  function listed(name: string, present: boolean, include = false): Promise<ScheduleView[]> {
    return waitFor(
      async () => {
        const res = await h
          .http()
          .get(`${base()}${include ? '?include=deleted' : ''}`)
          .set(viewer())
          .expect(200);
        const items = (res.body as { items: ScheduleView[] }).items;
        return items.some((s) => s.name === name) === present ? items : false;
      },
      { what: `schedule ${name} ${present ? '' : 'no longer '}listed`, timeoutMs: 15_000, intervalMs: 100 },
    );
  }

  /** What undo must give back: everything but the times Temporal moves on its own. */
  const essence = (s: ScheduleView) => ({
    name: s.name,
    kind: s.kind,
    scheduleId: s.scheduleId,
    cron: s.cron,
    everySeconds: s.everySeconds,
    paused: s.paused,
    note: s.note,
    overlap: s.overlap,
    catchupWindowSeconds: s.catchupWindowSeconds,
    nextRunAt: s.nextRunAt,
    createdAt: s.createdAt,
    createdBy: s.createdBy,
    deleted: s.deleted,
  });

  let before_: ScheduleView;

  test('delete pauses and hides the schedule at once; no run starts; undo gives it back exactly', async () => {
    const created = await h
      .http()
      .post(base())
      .set(operator())
      .send({ kind: 'restore-point', name: 'nightly', cron: '0 3 * * *', reason: 'every night at three' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await listed('nightly', true);
    before_ = await view('nightly');
    assert.equal(before_.paused, false);
    assert.ok(before_.nextRunAt, 'an active schedule has a next run');

    const missing = await del('no-such-schedule');
    assert.deepEqual([missing.status, missing.body.error], [404, 'schedule-not-found']);
    const noReason = await h.http().delete(`${base()}/nightly`).set(operator());
    assert.deepEqual([noReason.status, noReason.body.error], [400, 'validation-failed']);

    const res = await del('nightly', 'replaced by the hourly one');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId, undoableUntil } = res.body as { operationId: string; undoableUntil: string };
    assert.match(operationId, new RegExp(`^${h.fx.app}-[0-9a-f-]{36}$`));
    assert.ok(
      Math.abs(Date.parse(undoableUntil) - (Date.now() + WINDOW_SECONDS * 1000)) < 5000,
      undoableUntil,
    );
    const undoable: OperationStatus = await h.phase(operationId, (p) => p !== 'Running', 'to be undoable');
    assert.equal(undoable.phase, 'Undoable', JSON.stringify(undoable.error));
    assert.equal(undoable.kind, 'schedule-delete');
    assert.equal(undoable.facts.scheduleName, 'nightly');

    // Hidden by default, marked with include=deleted and on its own page; paused, no next run.
    await listed('nightly', false);
    const marked = (await listed('nightly', true, true)).find((s) => s.name === 'nightly')!;
    assert.equal(marked.deleted?.operationId, operationId);
    const deleted = await view('nightly');
    assert.equal(deleted.deleted?.undoableUntil, undoableUntil);
    assert.equal(deleted.deleted?.reason, 'replaced by the hourly one');
    assert.equal(deleted.paused, true);
    assert.equal(deleted.nextRunAt, null);

    // Unusable through the API: every change refused, naming the delete.
    for (const [action, body] of [
      ['trigger', { reason: 'run it anyway' }],
      ['unpause', { reason: 'bring it back by hand' }],
    ] as const) {
      const r = await h.http().post(`${base()}/nightly/${action}`).set(operator()).send(body);
      assert.deepEqual(
        [r.status, r.body.error],
        [409, 'schedule-deleted'],
        `${action}: ${JSON.stringify(r.body)}`,
      );
      assert.equal(r.body.details.operationId, operationId);
    }
    const twice = await del('nightly');
    assert.deepEqual([twice.status, twice.body.error], [409, 'schedule-already-deleted']);
    const sameName = await h
      .http()
      .post(base())
      .set(operator())
      .send({ kind: 'restore-point', name: 'nightly', cron: '0 4 * * *', reason: 'take the name' });
    assert.deepEqual([sameName.status, sameName.body.error], [409, 'schedule-exists']);

    // A run started behind the API's back (Temporal's own trigger) starts nothing.
    const client = await h.fx.temporal();
    const handle = client.schedule.getHandle(appScheduleId(h.fx.app, 'nightly'));
    await handle.trigger();
    const run = await waitFor(
      async () => {
        const d = await handle.describe();
        const last = d.info.recentActions.at(-1);
        if (!last) return false;
        const r = await client.workflow
          .getHandle(last.action.workflow.workflowId, last.action.workflow.firstExecutionRunId)
          .describe();
        return r.status.name === 'COMPLETED' ? (r.memo?.scheduledRun as ScheduledRunResult) : false;
      },
      { what: 'the triggered run to end', timeoutMs: 20_000, intervalMs: 200 },
    );
    assert.ok('skipped' in run && run.reason.includes(operationId), JSON.stringify(run));
    const restorePoints = await h
      .http()
      .get(`/v1/operations?app=${h.fx.app}&kind=restore-point`)
      .set(viewer())
      .expect(200);
    assert.deepEqual(restorePoints.body.items, [], 'no restore point was started');

    // Pending, with every other soft delete.
    const pending = await h.cli(h.fx.tokens.viewer, 'pending-deletes', h.fx.app);
    assert.equal(pending.code, 0, pending.stderr);
    assert.match(pending.stdout, new RegExp(`${operationId}[^\\n]*schedule nightly`));

    const cli = await h.cli(h.fx.tokens.operator, 'undo', operationId, '--reason', 'deleted the wrong one');
    assert.equal(cli.code, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /schedule nightly is back/);
    const done = await h.operation(operationId);
    assert.equal(done.phase, 'Undone');
    assert.equal(done.steps.find((s) => s.name === 'purge')?.status, 'Skipped');

    const back = await view('nightly');
    assert.deepEqual(essence(back), essence(before_), 'exactly as it was');
    await listed('nightly', true);
  });

  test('deleted again and left alone: purged from Temporal when the window ends, once', async () => {
    // The window is read by the API when it accepts a delete: as after a restart with a shorter one.
    h.fx.config.apps[h.fx.app]!.softDelete.kinds['schedule-delete'] = { windowSeconds: SHORT_WINDOW_SECONDS };
    const res = await del('nightly', 'really not needed');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId, undoableUntil } = res.body as { operationId: string; undoableUntil: string };
    const purged = await h.phase(
      operationId,
      (p) => p !== 'Running' && p !== 'Undoable',
      'to purge',
      SHORT_WINDOW_SECONDS * 1000 + 60_000,
    );
    assert.equal(purged.phase, 'Completed', JSON.stringify(purged.error));
    const purge = purged.steps.find((s) => s.name === 'purge')!;
    assert.ok(Date.parse(purge.startedAt!) >= Date.parse(undoableUntil), 'not before the window ended');

    const client = await h.fx.temporal();
    await assert.rejects(
      client.schedule.getHandle(appScheduleId(h.fx.app, 'nightly')).describe(),
      ScheduleNotFoundError,
    );
    const gone = await h.http().get(`${base()}/nightly`).set(viewer());
    assert.deepEqual([gone.status, gone.body.error], [404, 'schedule-not-found']);
    await listed('nightly', false, true);

    const late = await h
      .http()
      .post(`/v1/operations/${operationId}/undo`)
      .set(operator())
      .send({ reason: 'too late' });
    assert.deepEqual([late.status, late.body.error], [409, 'undo-window-closed']);
    assert.ok((late.body.message as string).includes(undoableUntil), late.body.message);

    const events = async (action: string) =>
      (await h.audit(`action=${action}`)).filter((e) => e.details.app === h.fx.app);
    assert.equal((await events('schedule.tombstoned')).length, 2);
    assert.deepEqual(
      (await events('schedule.undeleted')).map((e) => e.actor),
      ['alice'],
    );
    const purges = await events('schedule.purged');
    assert.deepEqual(
      purges.map((e) => e.target),
      [`operation:${operationId}`],
    );
  });

  test('metrics count tombstones, undos and purges by kind, the same after an API restart', async () => {
    const sample = async () => {
      const text = (await h.http().get('/metrics').expect(200)).text;
      const value = (name: string) => {
        const line = text
          .split('\n')
          .find((l) => l.startsWith(`${name}{app="${h.fx.app}",kind="schedule-delete"}`));
        return line ? Number(line.split(' ').at(-1)) : undefined;
      };
      return {
        tombstones: value('switchyard_soft_delete_tombstones_total'),
        undos: value('switchyard_soft_delete_undos_total'),
        purges: value('switchyard_soft_delete_purges_total'),
        undoable: value('switchyard_soft_delete_undoable'),
      };
    };
    const before = await sample();
    assert.deepEqual(before, { tombstones: 2, undos: 1, purges: 1, undoable: undefined });
    await h.api.close();
    await h.startApi({ listen: true });
    assert.deepEqual(await sample(), before, 'derived from the audit log, not counted in the process');
  });
});
