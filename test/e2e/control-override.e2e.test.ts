import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ControlState, ControlStateStore } from '../../infra/storage/control-state.store';
import type { AppView } from '../../apps/api/apps/apps.service';
import type { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/stack';
import { controlEssence, startThreeRegionHarness } from '../support/third-region';

/**
 * Operator overrides of an app's control state end to end (docs/fencing.md#overrides): a halt by
 * hand applies at once and makes the region no target; its undo puts activeRegion, writer and
 * halted back (controller and every bucket; the epoch only ever rises); an undo after a failover
 * changed the state is refused with both states shown and nothing changed; an unhalt waits for its
 * approval and, left to a short window, is final. Guard rails refuse with no change.
 */
const WINDOW_SECONDS = 300;
const SHORT_WINDOW_SECONDS = 5;

const fields = (s: Pick<ControlState, 'activeRegion' | 'writer' | 'halted'>) => ({
  activeRegion: s.activeRegion,
  writer: s.writer,
  halted: [...s.halted].sort(),
});

describe('overrides of the control state', () => {
  let h: ApiHarness;
  let store: ControlStateStore;
  const app = () => h.fx.app;
  const operator = () => h.as(h.fx.tokens.operator);
  const viewer = () => h.as(h.fx.tokens.viewer);

  before(async () => {
    h = await startThreeRegionHarness({
      softDelete: { windowSeconds: 3600, kinds: { 'control-override': { windowSeconds: WINDOW_SECONDS } } },
    });
    store = new ControlStateStore(h.fx.config);
  });
  after(() => h?.stop());

  const override = (action: string, region: string, reason = 'by hand in a test') =>
    h.http().post(`/v1/apps/${app()}/overrides`).set(operator()).send({ action, region, reason });

  async function controlled(): Promise<ControlState> {
    const res = await h.http().get(`/v1/apps/${app()}`).set(viewer());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const v = res.body as AppView;
    return v.control.state;
  }

  async function mirrored(want: ReturnType<typeof fields>): Promise<void> {
    await waitFor(
      async () => {
        for (const r of ['east', 'west', 'south']) {
          const s = await store.readRegion(app(), r);
          if (!s || JSON.stringify(fields(s)) !== JSON.stringify(want)) return false;
        }
        return true;
      },
      { what: `every bucket to hold ${JSON.stringify(want)}` },
    );
  }

  async function applied(action: string, region: string): Promise<string> {
    const res = await override(action, region);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.awaitingApproval, false);
    await h.phase(res.body.operationId as string, (p) => p === 'Undoable', 'applied (undoable)');
    return res.body.operationId as string;
  }

  it('halt applies at once, the region is no target; undo puts the state back (the epoch only rises)', async () => {
    const before = await controlled();
    const cli = await h.cli(
      h.fx.tokens.operator,
      '--json',
      'override',
      app(),
      'halt',
      'west',
      '--reason',
      '3 a.m.',
    );
    assert.equal(cli.code, 0, cli.stderr);
    const started = JSON.parse(cli.stdout) as { operationId: string; awaitingApproval: boolean };
    assert.equal(started.awaitingApproval, false, 'a halt never waits for an approver');
    const op = await h.phase(started.operationId, (p) => p === 'Undoable', 'applied');
    assert.equal(op.kind, 'control-override');
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['approval', 'Skipped'],
        ['override', 'Completed'],
        ['window', 'Running'],
        ['undo', 'Pending'],
        ['purge', 'Pending'],
      ],
    );
    assert.match(
      op.steps.find((s) => s.name === 'override')!.detail!,
      /fence hook answered 200/,
      "west's instances are fenced at once by its hook",
    );
    const halted = await controlled();
    assert.deepEqual(fields(halted), { activeRegion: 'east', writer: 'east', halted: ['west'] });
    assert.equal(halted.epoch, before.epoch + 1, 'a halt is a fence');
    assert.equal(halted.currentOperation ?? null, null, 'the override released the app');
    await mirrored(fields(halted));
    const failover = await h.postFailover('west');
    assert.equal(failover.status, 409, JSON.stringify(failover.body));
    assert.equal(failover.body.error, 'region-halted');
    const listed = await h
      .http()
      .get(`/v1/operations?app=${app()}&kind=control-override&phase=Undoable`)
      .set(viewer())
      .expect(200);
    assert.ok(
      (listed.body.items as { operationId: string }[]).some((o) => o.operationId === started.operationId),
    );

    // Guard rails, with west halted: no change for any of them.
    const noop = await override('halt', 'west');
    assert.equal(noop.status, 409, JSON.stringify(noop.body));
    assert.equal(noop.body.error, 'override-no-op');
    assert.match(noop.body.message, /already halted/);
    const haltedTarget = await override('set-active', 'west');
    assert.equal(haltedTarget.status, 409);
    assert.equal(haltedTarget.body.error, 'region-halted');
    const notHalted = await override('unhalt', 'south');
    assert.equal(notHalted.status, 409);
    assert.equal(notHalted.body.error, 'override-no-op');
    const unknown = await override('halt', 'north');
    assert.equal(unknown.status, 422, JSON.stringify(unknown.body));
    assert.equal(unknown.body.error, 'unknown-region');
    const badAction = await override('drop', 'west');
    assert.equal(badAction.status, 400, JSON.stringify(badAction.body));
    assert.match(JSON.stringify(badAction.body), /halt, unhalt, set-active/);
    assert.deepEqual(await controlled(), halted, 'the refusals changed nothing');

    const undo = await h
      .http()
      .post(`/v1/operations/${started.operationId}/undo`)
      .set(operator())
      .send({ reason: 'halted the wrong region' });
    assert.equal(undo.status, 200, JSON.stringify(undo.body));
    assert.equal(undo.body.action, 'halt');
    const undone = await h.phase(started.operationId, (p) => p === 'Undone', 'undone');
    assert.match(undone.steps.find((s) => s.name === 'undo')!.detail!, /unfence hook answered 200/);
    const back = await controlled();
    assert.deepEqual(fields(back), fields(before));
    assert.ok(back.epoch > halted.epoch, 'the fencing epoch never goes back: the undo raises it again');
    await mirrored(fields(before));
    const actions = (await h.audit(`target=operation:${started.operationId}`)).map((e) => e.action);
    assert.ok(actions.includes('control.overridden'), actions.join(', '));
    assert.ok(actions.includes('control.override-undone'), actions.join(', '));
  });

  it('an undo after a failover changed the state is refused, showing both, and changes nothing', async () => {
    const operationId = await applied('halt', 'south');
    const set = fields(await controlled());
    assert.deepEqual(set, { activeRegion: 'east', writer: 'east', halted: ['south'] });

    const failover = await h.requestFailover('west', 'move while south is halted');
    const done = await h.phase(
      failover,
      (p) => p === 'Completed' || p === 'Failed',
      'failover done',
      180_000,
    );
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    const moved = await controlled();
    assert.equal(moved.activeRegion, 'west');

    const undo = await h
      .http()
      .post(`/v1/operations/${operationId}/undo`)
      .set(operator())
      .send({ reason: 'undo after the failover' });
    assert.equal(undo.status, 409, JSON.stringify(undo.body));
    assert.equal(undo.body.error, 'control-state-changed');
    assert.deepEqual(undo.body.details.expected, set);
    assert.deepEqual(undo.body.details.current, fields(moved));
    assert.equal(undo.body.details.changedBy, failover);
    assert.match(undo.body.message, /it set active east, writer east, halted south, it is now active west/);
    // The undo held the app for its check (claim, release): only the change counter moved.
    assert.deepEqual(controlEssence(await controlled()), controlEssence(moved), 'nothing changed');
    const op = await h.operation(operationId);
    assert.equal(op.phase, 'Undoable', 'the window goes on');
    assert.equal((op.facts.undoRefusals as { code: string }[])[0]?.code, 'control-state-changed');
    assert.equal(op.steps.find((s) => s.name === 'undo')?.status, 'Pending');
  });

  it('an unhalt waits for its approval; left to a short window it is final', async () => {
    h.fx.config.apps[app()]!.softDelete.kinds['control-override'] = { windowSeconds: SHORT_WINDOW_SECONDS };
    const before = await controlled();
    assert.ok(before.halted.includes('south'));
    const res = await override('unhalt', 'south', 'south was halted by mistake');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(
      res.body.awaitingApproval,
      true,
      'policies.approvals.control-override requires one by default',
    );
    const operationId = res.body.operationId as string;
    await h.phase(operationId, (p) => p === 'AwaitingApproval', 'awaiting approval');
    assert.deepEqual(await controlled(), before, 'nothing changes before the approval');
    const approved = await h.decide(operationId, h.fx.tokens.approver, 'approve');
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const done = await h.phase(
      operationId,
      (p) => p === 'Completed' || p === 'Failed',
      'purged',
      SHORT_WINDOW_SECONDS * 1000 + 60_000,
    );
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.equal(done.facts.previous, undefined, 'the saved previous state is dropped');
    const after = await controlled();
    assert.ok(!after.halted.includes('south'), 'the unhalt stays');
    assert.deepEqual(fields(after).halted, before.halted.filter((r) => r !== 'south').sort());
    const late = await h
      .http()
      .post(`/v1/operations/${operationId}/undo`)
      .set(operator())
      .send({ reason: 'late' });
    assert.equal(late.status, 409, JSON.stringify(late.body));
    assert.equal(late.body.error, 'undo-window-closed');
    assert.equal(late.body.details.undoableUntil, done.facts.undoableUntil);
    const purged = await h.audit(`target=operation:${operationId}&action=control.override-purged`);
    assert.equal(purged.length, 1);
  });

  it('set-active moves the writer with no overlap (no writer for the write lease), and its undo moves it back', async () => {
    h.fx.config.apps[app()]!.softDelete.kinds['control-override'] = { windowSeconds: WINDOW_SECONDS };
    const before = await controlled();
    assert.deepEqual([before.activeRegion, before.writer], ['west', 'west']);
    assert.ok(!before.halted.includes('south'));
    const res = await override('set-active', 'south', 'the app was moved to south by hand');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.awaitingApproval, true);
    const operationId = res.body.operationId as string;
    await h.phase(operationId, (p) => p === 'AwaitingApproval', 'awaiting approval');
    const approved = await h.decide(operationId, h.fx.tokens.approver, 'approve');
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const op = await h.phase(operationId, (p) => p === 'Undoable', 'applied');
    assert.match(
      op.steps.find((s) => s.name === 'override')!.detail!,
      /no writer for the write lease \(2000 ms\) before south/,
    );
    const moved = await controlled();
    assert.deepEqual(fields(moved), {
      activeRegion: 'south',
      writer: 'south',
      halted: fields(before).halted,
    });
    assert.equal(moved.epoch, before.epoch + 1, "the old writer's epoch is no longer current");
    // The controller's transitions: no moment with two writers (west's writer cleared before south's).
    const v = (await h.http().get(`/v1/apps/${app()}`).set(viewer()).expect(200)).body as AppView;
    const mine = [...v.control.transitions]
      .reverse()
      .filter((t) => t.requestId.startsWith(`${operationId}:override`));
    assert.deepEqual(
      mine.map((t) => [t.change.type, t.writer]),
      [
        ['claim', 'west'],
        ['quiesce', null],
        ['override', 'south'],
        ['release', 'south'],
      ],
    );

    const undo = await h
      .http()
      .post(`/v1/operations/${operationId}/undo`)
      .set(operator())
      .send({ reason: 'moved back' });
    assert.equal(undo.status, 200, JSON.stringify(undo.body));
    await h.phase(operationId, (p) => p === 'Undone', 'undone');
    const back = await controlled();
    assert.deepEqual(fields(back), fields(before));
    await mirrored(fields(before));
  });
});
