import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RestorePointView } from '../../infra/backup/catalog';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import type { OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Guard rails and approvals of soft deletes (docs/soft-deletes.md#approvals): a bulk delete that
 * would take the last way back is refused whole; one above softDelete.bulkApprovalThreshold waits
 * for approval (nothing hidden meanwhile; rejected: nothing changes; approved: all hidden, one undo
 * brings all back); a kind whose approval policy requires approval waits too (schedules here).
 */
const THRESHOLD = 2;

describe('soft deletes: bulk guard rails and approvals', () => {
  let h: ApiHarness;
  const points: { id: string; cutAt: string }[] = [];

  before(async () => {
    const fx = await startAppFixture({
      services: true,
      rpoSeconds: 1,
      softDelete: { windowSeconds: 120, bulkApprovalThreshold: THRESHOLD },
    });
    // The approval policies are read by the API alone (the workflow is given the policy).
    fx.config.apps[fx.app]!.policies.approvals['schedule-delete'] = {
      required: 1,
      roles: ['approver', 'admin'],
      excludeRequester: true,
      expiresAfterSeconds: 300,
    };
    h = new ApiHarness(fx);
    await h.start();
  });
  after(() => h?.stop());

  const app = () => h.fx.app;
  const op = () => h.as(h.fx.tokens.operator);
  const bulk = (query: string) =>
    h
      .http()
      .delete(`/v1/apps/${app()}/restore-points?${query}&reason=${encodeURIComponent('bulk test')}`)
      .set(op());

  async function listed(): Promise<string[]> {
    const res = await h
      .http()
      .get(`/v1/apps/${app()}/restore-points`)
      .set(h.as(h.fx.tokens.viewer))
      .expect(200);
    return (res.body as { items: RestorePointView[] }).items.map((i) => i.id).sort();
  }

  test('four restore points; a bulk delete that includes the newest is refused whole', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await h
        .http()
        .post(`/v1/apps/${app()}/restore-points`)
        .set(op())
        .send({ reason: `bulk test ${i}` });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const { operationId, restorePointId } = res.body as { operationId: string; restorePointId: string };
      const done = await h.phase(operationId, (p) => p !== 'Running', 'to end', 90_000);
      assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
      points.push({ id: restorePointId, cutAt: (done.facts.manifest as { cutAt: string }).cutAt });
    }
    const all = points.map((p) => p.id).sort();
    assert.deepEqual(await listed(), all);

    const everything = await bulk(`ids=${points.map((p) => p.id).join(',')}`);
    assert.equal(everything.status, 409, JSON.stringify(everything.body));
    assert.equal(everything.body.error, 'restore-point-protected');
    assert.deepEqual(
      (everything.body.details.refusals as { restorePointId: string }[]).map((r) => r.restorePointId),
      [points[3]!.id],
    );
    assert.match(everything.body.message as string, /so none is/);

    const bad = await bulk(`ids=${points[0]!.id}&olderThan=2026-01-01T00:00:00Z`);
    assert.deepEqual([bad.status, bad.body.error], [400, 'validation-failed']);
    const none = await bulk('olderThan=2000-01-01T00:00:00Z');
    assert.deepEqual([none.status, none.body.error], [422, 'nothing-to-delete']);
    assert.deepEqual(await listed(), all, 'refusals change nothing');
  });

  test('above the threshold: waits for approval, hides nothing; rejected, nothing changes', async () => {
    const res = await bulk(`olderThan=${encodeURIComponent(points[3]!.cutAt)}`);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.awaitingApproval, true);
    assert.deepEqual(
      res.body.restorePointIds,
      points.slice(0, 3).map((p) => p.id),
    );
    const id = res.body.operationId as string;
    const waiting = await h.phase(id, (p) => p === 'AwaitingApproval', 'to await approval');
    assert.match(waiting.approval!.facts!.targetHealth, /above softDelete.bulkApprovalThreshold \(2\)/);
    assert.deepEqual(
      waiting.approval!.facts!.deleting,
      points.slice(0, 3).map((p) => p.id),
    );
    assert.equal((await listed()).length, 4, 'nothing is hidden while it waits');

    const undoEarly = await h.http().post(`/v1/operations/${id}/undo`).set(op()).send({ reason: 'early' });
    assert.deepEqual([undoEarly.status, undoEarly.body.error], [409, 'not-undoable']);
    const self = await h.decide(id, h.fx.tokens.operator, 'approve');
    assert.deepEqual([self.status, self.body.error], [403, 'self-approval']);
    const rejected = await h.decide(id, h.fx.tokens.approver, 'reject', 'keep them');
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    const done = await h.phase(id, (p) => p === 'Rejected', 'to be rejected');
    assert.equal(done.steps.find((s) => s.name === 'tombstone')?.status, 'Skipped');
    assert.equal((await listed()).length, 4, 'rejected: nothing changed');
  });

  test('approved: all hidden for the whole window from the approval on; one undo brings all back', async () => {
    const res = await bulk(`olderThan=${encodeURIComponent(points[3]!.cutAt)}`);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.body.operationId as string;
    await h.phase(id, (p) => p === 'AwaitingApproval', 'to await approval');
    const approvedAt = Date.now();
    const approved = await h.decide(id, h.fx.tokens.approver, 'approve', 'old ones, fine');
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const undoable: OperationStatus = await h.phase(id, (p) => p === 'Undoable', 'to be undoable');
    const until = Date.parse(undoable.facts.undoableUntil as string);
    assert.ok(
      until >= approvedAt + 120_000 - 2000,
      `window from the approval on: ${String(undoable.facts.undoableUntil)}`,
    );
    assert.deepEqual(await listed(), [points[3]!.id]);

    const undone = await h.http().post(`/v1/operations/${id}/undo`).set(op()).send({ reason: 'all back' });
    assert.equal(undone.status, 200, JSON.stringify(undone.body));
    assert.deepEqual(
      undone.body.restorePointIds,
      points.slice(0, 3).map((p) => p.id),
    );
    assert.equal(
      undone.body.target,
      `3 restore points (${points
        .slice(0, 3)
        .map((p) => p.id)
        .join(', ')})`,
    );
    assert.equal((await listed()).length, 4);

    // At the threshold: no approval needed, hidden at once.
    const small = await bulk(`ids=${points[0]!.id},${points[1]!.id}`);
    assert.equal(small.status, 202, JSON.stringify(small.body));
    assert.equal(small.body.awaitingApproval, false);
    const smallOp: OperationStatus = await h.phase(
      small.body.operationId as string,
      (p) => p !== 'Running',
      'to be undoable',
    );
    assert.equal(smallOp.phase, 'Undoable', JSON.stringify(smallOp.error));
    assert.equal(smallOp.steps.find((s) => s.name === 'approval')?.status, 'Skipped');
    assert.deepEqual(await listed(), [points[2]!.id, points[3]!.id].sort());
  });

  test('a kind whose approval policy requires it (schedule-delete): the schedule runs on until approved', async () => {
    const base = `/v1/apps/${app()}/schedules`;
    const created = await h
      .http()
      .post(base)
      .set(op())
      .send({ kind: 'restore-point', name: 'nightly', cron: '0 3 * * *', reason: 'nightly' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const res = await h
      .http()
      .delete(`${base}/nightly?reason=${encodeURIComponent('not needed')}`)
      .set(op());
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.awaitingApproval, true);
    const id = res.body.operationId as string;
    const waiting = await h.phase(id, (p) => p === 'AwaitingApproval', 'to await approval');
    assert.match(waiting.approval!.facts!.targetHealth, /policies.approvals.schedule-delete requires 1/);
    const still = (await h.http().get(`${base}/nightly`).set(op()).expect(200)).body as ScheduleView;
    assert.equal(still.paused, false);
    assert.equal(still.deleted, undefined);

    const approved = await h.decide(id, h.fx.tokens.approver, 'approve', 'fine');
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    await h.phase(id, (p) => p === 'Undoable', 'to be undoable');
    const gone = await waitFor(
      async () => {
        const items = (await h.http().get(base).set(op()).expect(200)).body.items as ScheduleView[];
        return items.every((s) => s.name !== 'nightly') ? items : false;
      },
      { what: 'the schedule hidden', timeoutMs: 15_000, intervalMs: 100 },
    );
    assert.ok(gone);
    const deleted = (await h.http().get(`${base}/nightly`).set(op()).expect(200)).body as ScheduleView;
    assert.equal(deleted.paused, true);
    assert.equal(deleted.deleted?.operationId, id);
  });
});
