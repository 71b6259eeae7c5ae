import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import { appScheduleId, appSlotWorkflowId } from '../../workflows/definitions';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Schedules end to end: the API (and the CLI over loopback) → Temporal Schedules on the dev server
 * → the worker, which runs scheduledOperationWorkflow and, as its child, the restore point itself.
 */
describe('schedules end to end', () => {
  let h: ApiHarness;
  const base = () => `/v1/apps/${h.fx.app}/schedules`;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);

  const create = (body: object) => h.http().post(base()).set(operator()).send(body);
  const get = (name: string) => h.http().get(`${base()}/${name}`).set(viewer());
  const act = (name: string, action: string, body: object) =>
    h.http().post(`${base()}/${name}/${action}`).set(operator()).send(body);

  async function view(name: string): Promise<ScheduleView> {
    const res = await get(name);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as ScheduleView;
  }

  /** Temporal's schedule list is eventually consistent: wait until it agrees. */
  function listed(name: string, present = true): Promise<ScheduleView[]> {
    return waitFor(
      async () => {
        const res = await h.http().get(base()).set(viewer()).expect(200);
        const items = (res.body as { items: ScheduleView[] }).items;
        return items.some((s) => s.name === name) === present ? items : false;
      },
      { what: `schedule ${name} ${present ? '' : 'no longer '}listed`, timeoutMs: 15_000, intervalMs: 100 },
    );
  }

  /** The schedule's last run, once its operation has reached a terminal phase. */
  function lastRunEnded(name: string, after: string): Promise<ScheduleView> {
    return waitFor(
      async () => {
        const s = await view(name);
        const r = s.lastResult;
        return r && r.startedAt >= after && r.phase && isTerminal(r.phase) && r.runStatus === 'Completed'
          ? s
          : false;
      },
      { what: `a run of schedule ${name} since ${after} to end`, timeoutMs: 120_000, intervalMs: 250 },
    );
  }

  before(async () => {
    h = new ApiHarness(await startAppFixture());
    await h.start({ listen: true });
  });
  after(() => h?.stop());

  it('creates a restore point schedule every half RPO by default and lists it with its next run', async () => {
    const before = Date.now();
    const res = await create({ kind: 'restore-point', reason: 'protect the shop every half hour' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const s = res.body as ScheduleView;
    const rpo = h.fx.config.apps[h.fx.app]!.policies.rpoSeconds;
    assert.equal(s.name, 'restore-point');
    assert.equal(s.kind, 'restore-point');
    assert.equal(s.scheduleId, appScheduleId(h.fx.app, 'restore-point'));
    assert.equal(s.everySeconds, Math.max(60, Math.floor(rpo / 2)));
    assert.equal(s.cron, undefined);
    assert.equal(s.paused, false);
    assert.equal(s.note, 'protect the shop every half hour');
    assert.equal(s.overlap, 'skip');
    assert.equal(
      s.catchupWindowSeconds,
      h.fx.config.apps[h.fx.app]!.restorePoints.schedule.catchupWindowSeconds,
    );
    assert.equal(s.createdBy, 'alice');
    assert.equal(s.lastRunAt, null);
    assert.equal(s.lastResult, null);
    const next = Date.parse(s.nextRunAt!);
    assert.ok(next > before && next <= Date.now() + s.everySeconds! * 1000, s.nextRunAt!);

    const items = await listed('restore-point');
    const mine = items.find((x) => x.name === 'restore-point')!;
    assert.equal(mine.nextRunAt, s.nextRunAt);
    assert.equal(mine.paused, false);

    const events = (
      await h.audit(`target=${encodeURIComponent(`schedule:${h.fx.app}/restore-point`)}`)
    ).filter((e) => e.outcome === 'accepted');
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.actor, 'alice');
    assert.equal(events[0]!.reason, 'protect the shop every half hour');
  });

  it('pauses and unpauses, the reason becoming the note', async () => {
    const paused = await act('restore-point', 'pause', { reason: 'database maintenance until 14:00' });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.paused, true);
    assert.equal(paused.body.note, 'database maintenance until 14:00');
    assert.equal(paused.body.nextRunAt, null);
    assert.equal((await view('restore-point')).paused, true);

    const noReason = await act('restore-point', 'unpause', {});
    assert.deepEqual([noReason.status, noReason.body.error], [400, 'validation-failed']);
    assert.equal((await view('restore-point')).paused, true);

    const unpaused = await act('restore-point', 'unpause', { reason: 'maintenance over' });
    assert.equal(unpaused.status, 200, JSON.stringify(unpaused.body));
    assert.equal(unpaused.body.paused, false);
    assert.equal(unpaused.body.note, 'maintenance over');
    assert.ok(Date.parse(unpaused.body.nextRunAt) > Date.now() - 1000);
    // Paused again at once: this suite's restore points are the ones it triggers.
    await act('restore-point', 'pause', { reason: 'quiet during the tests' }).expect(200);
  });

  it('refuses a second schedule of the same name with 409 schedule-exists', async () => {
    const dup = await create({ kind: 'restore-point', everySeconds: 600, reason: 'once more' });
    assert.deepEqual([dup.status, dup.body.error], [409, 'schedule-exists'], JSON.stringify(dup.body));
    const s = await view('restore-point');
    assert.equal(
      s.everySeconds,
      Math.max(60, Math.floor(h.fx.config.apps[h.fx.app]!.policies.rpoSeconds / 2)),
    );
    assert.equal(s.note, 'quiet during the tests');
  });

  it('refuses bad input with 400, 404 or 422 and creates nothing', async () => {
    const ok = { kind: 'restore-point', reason: 'bad input test' };
    const cases: [string, object, number, string, string?][] = [
      ['no reason', { kind: 'restore-point', name: 'r1' }, 400, 'validation-failed', 'body.reason'],
      ['no kind', { reason: 'x-y-z', name: 'r2' }, 400, 'validation-failed', 'body.kind'],
      ['unknown kind', { ...ok, kind: 'backup', name: 'r3' }, 400, 'validation-failed', 'body.kind'],
      ['too often', { ...ok, name: 'r4', everySeconds: 30 }, 400, 'validation-failed', 'body.everySeconds'],
      ['not whole', { ...ok, name: 'r5', everySeconds: 90.5 }, 400, 'validation-failed', 'body.everySeconds'],
      [
        'both',
        { ...ok, name: 'r6', everySeconds: 600, cron: '0 * * * *' },
        400,
        'validation-failed',
        'body.cron',
      ],
      ['seconds field', { ...ok, name: 'r7', cron: '* * * * * * *' }, 400, 'validation-failed', 'body.cron'],
      ['@every', { ...ok, name: 'r8', cron: '@every 5m' }, 400, 'validation-failed', 'body.cron'],
      // Five fields, but Temporal refuses the minute: still a 400, and nothing is created.
      [
        'minute out of range',
        { ...ok, name: 'r9', cron: '99 * * * *' },
        400,
        'validation-failed',
        'body.cron',
      ],
      ['bad name', { ...ok, name: 'Nightly_1' }, 400, 'validation-failed', 'body.name'],
      ['unknown field', { ...ok, name: 'r10', every: '15m' }, 400, 'validation-failed', 'body'],
      ['unknown kind', { ...ok, kind: 'failover', name: 'r12' }, 400, 'validation-failed', 'body.kind'],
    ];
    for (const [what, body, status, code, path] of cases) {
      const res = await create(body);
      assert.deepEqual([res.status, res.body.error], [status, code], `${what}: ${JSON.stringify(res.body)}`);
      if (path) assert.ok(res.body.message.includes(path), `${what}: ${res.body.message}`);
    }

    const noApp = await h.http().post('/v1/apps/no-such-app/schedules').set(operator()).send(ok);
    assert.deepEqual([noApp.status, noApp.body.error], [404, 'app-not-found']);
    const asViewer = await h
      .http()
      .post(base())
      .set(viewer())
      .send({ ...ok, name: 'r13' });
    assert.deepEqual([asViewer.status, asViewer.body.error], [403, 'forbidden']);

    for (const name of ['r1', 'r3', 'r4', 'r6', 'r7', 'r9', 'r12', 'r13']) {
      const res = await get(name);
      assert.deepEqual([res.status, res.body.error], [404, 'schedule-not-found'], name);
    }
    const items = (await h.http().get(base()).set(viewer()).expect(200)).body.items as ScheduleView[];
    assert.deepEqual(
      items.map((s) => s.name),
      ['restore-point'],
    );

    const patchNothing = await h
      .http()
      .patch(`${base()}/restore-point`)
      .set(operator())
      .send({ reason: 'change nothing' });
    assert.deepEqual([patchNothing.status, patchNothing.body.error], [400, 'validation-failed']);
    const badBackfill = await act('restore-point', 'backfill', {
      from: '2026-01-02T00:00:00Z',
      to: '2026-01-01T00:00:00Z',
      reason: 'backwards',
    });
    assert.deepEqual([badBackfill.status, badBackfill.body.error], [400, 'validation-failed']);
    const future = await act('restore-point', 'backfill', {
      from: new Date(Date.now() - 3600_000).toISOString(),
      to: new Date(Date.now() + 3600_000).toISOString(),
      reason: 'into the future',
    });
    assert.deepEqual([future.status, future.body.error], [400, 'validation-failed']);
    assert.equal((await view('restore-point')).runs.taken, 0);
    for (const action of ['pause', 'unpause', 'trigger']) {
      const res = await act('no-such-schedule', action, { reason: 'nothing there' });
      assert.deepEqual([res.status, res.body.error], [404, 'schedule-not-found'], action);
    }
  });

  it('changes the timing to a cron expression and back to an interval', async () => {
    const toCron = await h
      .http()
      .patch(`${base()}/restore-point`)
      .set(operator())
      .send({ cron: '*/20 * * * *', reason: 'every twenty minutes on the clock' });
    assert.equal(toCron.status, 200, JSON.stringify(toCron.body));
    assert.equal(toCron.body.cron, '*/20 * * * *');
    assert.equal(toCron.body.everySeconds, undefined);
    assert.equal(toCron.body.paused, true, 'a change of timing leaves the pause alone');
    assert.equal(toCron.body.note, 'quiet during the tests');

    const badCron = await h
      .http()
      .patch(`${base()}/restore-point`)
      .set(operator())
      .send({ cron: '0 25 * * *', reason: 'hour 25' });
    assert.deepEqual([badCron.status, badCron.body.error], [400, 'validation-failed']);
    assert.equal((await view('restore-point')).cron, '*/20 * * * *');

    const back = await h
      .http()
      .patch(`${base()}/restore-point`)
      .set(operator())
      .send({ everySeconds: 900, reason: 'every quarter of an hour' });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.everySeconds, 900);
    assert.equal(back.body.cron, undefined);

    const cron = await h
      .http()
      .patch(`${base()}/restore-point`)
      .set(operator())
      .send({ cron: '0 3 * * *', reason: 'nightly at three' })
      .expect(200);
    assert.equal(cron.body.cron, '0 3 * * *');
  });

  it('deletes a schedule softly: paused, no longer listed, undoable (docs/soft-deletes.md)', async () => {
    const noReason = await h.http().delete(`${base()}/restore-point`).set(operator());
    assert.deepEqual([noReason.status, noReason.body.error], [400, 'validation-failed']);
    await view('restore-point');

    const res = await h
      .http()
      .delete(`${base()}/restore-point?reason=${encodeURIComponent('replaced by the nightly')}`)
      .set(operator());
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { operationId } = res.body as { operationId: string };
    assert.equal((await h.phase(operationId, (p) => p !== 'Running', 'to be undoable')).phase, 'Undoable');
    await listed('restore-point', false);
    const deleted = await view('restore-point');
    assert.equal(deleted.deleted?.operationId, operationId);
    assert.equal(deleted.paused, true);
    const again = await h.http().delete(`${base()}/restore-point?reason=twice`).set(operator());
    assert.deepEqual([again.status, again.body.error], [409, 'schedule-already-deleted']);
  });

  it('triggered, takes a restore point whose outcome becomes the last result', async (t) => {
    const created = await create({
      kind: 'restore-point',
      name: 'on-demand',
      cron: '0 3 * * *',
      paused: true,
      reason: 'only when asked',
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    const asked = new Date(Date.now() - 1000).toISOString();
    const res = await act('on-demand', 'trigger', { reason: 'take one now' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.name, 'on-demand');

    const s = await lastRunEnded('on-demand', asked);
    const r = s.lastResult!;
    assert.ok(r.operationId, JSON.stringify(r));
    assert.equal(s.lastRunAt, r.startedAt);
    assert.equal(s.runs.taken, 1);
    assert.equal(s.paused, true, 'a trigger runs a paused schedule and leaves it paused');

    const op = await h.operation(r.operationId);
    t.diagnostic(
      `scheduled restore point ${op.operationId}: ${op.phase}${op.error ? ` (${op.error.message})` : ''}`,
    );
    assert.equal(op.kind, 'restore-point');
    assert.equal(op.phase, r.phase);
    assert.ok(isTerminal(op.phase));
    assert.deepEqual(op.spec, {
      reason: `scheduled by ${s.scheduleId}`,
      trigger: 'schedule',
      scheduleId: s.scheduleId,
    });
    assert.equal(op.requestedBy, `schedule:${s.scheduleId}`);
    if (op.phase !== 'Completed') assert.deepEqual(r.error, op.error);

    // The schedule's own runs are not operations: the list (eventually consistent) holds the
    // restore point only (and the soft delete of the schedule deleted before).
    const ops = await waitFor(
      async () => {
        const res = await h.http().get(`/v1/operations?app=${h.fx.app}`).set(viewer()).expect(200);
        const items = res.body.items as OperationStatus[];
        return items.some((o) => o.operationId === r.operationId) ? items : false;
      },
      { what: `operation ${r.operationId} listed`, timeoutMs: 15_000, intervalMs: 100 },
    );
    assert.deepEqual(
      ops.filter((o) => o.kind !== 'schedule-delete').map((o) => [o.operationId, o.kind]),
      [[r.operationId, 'restore-point']],
    );
  });

  it('a run that finds a restore point in progress records itself as skipped; the API refuses with 409', async () => {
    const client = await h.fx.temporal();
    // Something holds the app's restore-point slot (a workflow no worker polls for).
    const holder = await client.workflow.start('slotHolder', {
      taskQueue: `${h.fx.config.temporal.taskQueuePrefix}.nobody`,
      workflowId: appSlotWorkflowId(h.fx.app, 'restore-point'),
      workflowIdConflictPolicy: 'FAIL',
    });
    try {
      const refused = await act('on-demand', 'trigger', { reason: 'while one runs' });
      assert.deepEqual([refused.status, refused.body.error], [409, 'operation-in-progress']);

      // Past the API's check (a race it cannot close), the run itself sees the slot taken.
      const asked = new Date(Date.now() - 1000).toISOString();
      await client.schedule.getHandle(appScheduleId(h.fx.app, 'on-demand')).trigger();
      const s = await waitFor(
        async () => {
          const v = await view('on-demand');
          return v.lastResult && v.lastResult.startedAt >= asked && v.lastResult.runStatus === 'Completed'
            ? v
            : false;
        },
        { what: 'the skipped run to end', timeoutMs: 60_000, intervalMs: 250 },
      );
      assert.equal(s.lastResult!.skipped, true, JSON.stringify(s.lastResult));
      assert.equal(s.lastResult!.reason, 'restore point already in progress');
      assert.equal(s.lastResult!.operationId, undefined);
    } finally {
      await holder.terminate('test over');
    }
  });

  it('backfills: the missed runs are taken now, under the skip overlap policy', async () => {
    const s0 = await view('on-demand');
    const asked = new Date(Date.now() - 1000).toISOString();
    // Three nightly runs missed; a restore point is of the present, so one is taken and the
    // others, overlapping it, are skipped.
    const res = await act('on-demand', 'backfill', {
      from: new Date(Date.now() - 3 * 86400_000).toISOString(),
      to: new Date(Date.now() - 60_000).toISOString(),
      reason: 'the scheduler was down',
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const s = await lastRunEnded('on-demand', asked);
    assert.ok(s.lastResult!.operationId);
    assert.ok(s.runs.taken > s0.runs.taken);
  });

  it('is driven from the CLI: create with a duration, list, pause, delete', async () => {
    const op = h.fx.tokens.operator;
    const app = h.fx.app;
    const badDuration = await h.cli(
      op,
      'schedules',
      'create',
      app,
      '--kind',
      'restore-point',
      '--every',
      '15x',
      '--reason',
      'cli',
    );
    assert.notEqual(badDuration.code, 0);
    assert.match(badDuration.stderr, /expected a duration such as 90s, 15m, 1h or 1h30m/);

    const created = await h.cli(
      op,
      'schedules',
      'create',
      app,
      '--kind',
      'restore-point',
      '--name',
      'from-cli',
      '--every',
      '1h30m',
      '--paused',
      '--reason',
      'created from the CLI',
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /from-cli \(restore-point\) of .*: every 1h30m, PAUSED/);

    const json = await h.cli(op, '--json', 'schedules', 'show', app, 'from-cli');
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as ScheduleView).everySeconds, 5400);

    await listed('from-cli');
    const ls = await h.cli(h.fx.tokens.viewer, 'schedules', 'ls', app);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /from-cli/);
    assert.match(ls.stdout, /on-demand/);

    const unpaused = await h.cli(op, 'schedules', 'unpause', app, 'from-cli', '--reason', 'go again');
    assert.equal(unpaused.code, 0, unpaused.stderr);
    assert.match(unpaused.stdout, /every 1h30m, active/);
    const paused = await h.cli(op, 'schedules', 'pause', app, 'from-cli', '--reason', 'stop again');
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, /note: stop again/);

    const unknown = await h.cli(op, 'schedules', 'create', app, '--kind', 'failover', '--reason', 'never');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /\(400 validation-failed\)/);
    const drill = await h.cli(
      op,
      'schedules',
      'create',
      app,
      '--kind',
      'drill',
      '--name',
      'cli-drill',
      '--paused',
      '--reason',
      'weekly',
    );
    assert.equal(drill.code, 0, drill.stderr);
    assert.match(drill.stdout, /cli-drill \(drill\) of .*PAUSED/);
    const dropped = await h.cli(op, 'schedules', 'delete', app, 'cli-drill', '--reason', 'not here');
    assert.equal(dropped.code, 0, dropped.stderr);

    const deleted = await h.cli(op, 'schedules', 'delete', app, 'from-cli', '--reason', 'done with it');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /deleted schedule from-cli .*undoable until/);
    await listed('from-cli', false);
    const refused = await h.cli(op, 'schedules', 'pause', app, 'from-cli', '--reason', 'deleted already');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /\(409 schedule-deleted\)/);
  });
});
