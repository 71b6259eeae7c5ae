import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApprovalState } from '../../workflows/approval';
import { isTerminal } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture, startWorker } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Four-eyes approvals end to end: the workflow holds the approval request; the API sends each
 * decision as a Temporal Update with the identity it authenticated; the audit log keeps them all.
 */
const EAST = '127.0.1.1';
const WEST = '127.0.1.2';

/** `switchyard approvals ls` lists it (the list comes from Temporal's visibility, which may lag). */
function waitForListed(h: ApiHarness, id: string) {
  return waitFor(
    async () => {
      const r = await h.cli(h.fx.tokens.approver, '--json', 'approvals', 'ls', '--app', h.fx.app);
      return (
        r.code === 0 &&
        (JSON.parse(r.stdout) as { items: { operationId: string }[] }).items.some((o) => o.operationId === id)
      );
    },
    { what: `operation ${id} in switchyard approvals ls`, timeoutMs: 15_000, intervalMs: 200 },
  );
}

describe('four-eyes approvals', () => {
  let h: ApiHarness;

  before(async () => {
    const fx = await startAppFixture({
      ttl: 1,
      failoverApproval: {
        required: 2,
        roles: ['approver', 'admin'],
        excludeRequester: true,
        expiresAfterSeconds: 600,
      },
    });
    h = new ApiHarness(fx);
    await h.start({ listen: true });
  });
  after(() => h?.stop());

  it('refuses self-approval, ineligible roles and second decisions; two distinct approvers let it proceed', async () => {
    const { fx } = h;
    const id = await h.requestFailover('west', 'four-eyes test');
    const waiting = await h.awaitingRound(id, 1);
    assert.equal(waiting.steps.find((s) => s.name === 'approval')!.status, 'Running');
    assert.deepEqual(waiting.approval!.facts, {
      activeRegion: 'east',
      epoch: 0,
      targetRegion: 'west',
      targetHealthy: true,
      targetHealth: waiting.approval!.facts!.targetHealth,
    });

    // The list comes from Temporal's visibility, which may lag behind the operation's own record.
    const pending = await waitFor(
      async () => {
        const res = await h.http().get(`/v1/approvals?app=${fx.app}`).set(h.as(fx.tokens.viewer)).expect(200);
        return res.body.items.length > 0 ? res : false;
      },
      { what: 'the operation in GET /v1/approvals', timeoutMs: 15_000, intervalMs: 200 },
    );
    assert.deepEqual(
      pending.body.items.map((o: { operationId: string }) => o.operationId),
      [id],
    );
    assert.equal(pending.body.items[0].approval.stillNeeded, 2);

    const self = await h.decide(id, fx.tokens.operator, 'approve');
    assert.deepEqual([self.status, self.body.error], [403, 'self-approval']); // alice asked for it
    const viewer = await h.decide(id, fx.tokens.viewer, 'approve');
    assert.deepEqual([viewer.status, viewer.body.error], [403, 'not-eligible']);
    const bad = await h
      .http()
      .post(`/v1/operations/${id}/approvals`)
      .set(h.as(fx.tokens.approver))
      .send({ decision: 'maybe' });
    assert.deepEqual([bad.status, bad.body.error], [400, 'validation-failed']);

    const first = await h.decide(id, fx.tokens.approver, 'approve', 'looks right');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const a1 = first.body.approval as ApprovalState;
    assert.deepEqual([a1.status, a1.approvedBy, a1.stillNeeded], ['Pending', ['bob'], 1]);
    const again = await h.decide(id, fx.tokens.approver, 'approve');
    assert.deepEqual([again.status, again.body.error], [409, 'already-decided']);

    const second = await h.decide(id, fx.tokens.admin, 'approve', 'go');
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual((second.body.approval as ApprovalState).approvedBy, ['bob', 'carol']);

    const done = await h.phase(id, isTerminal, 'to finish');
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.equal(done.steps.find((s) => s.name === 'approval')!.status, 'Completed');
    assert.deepEqual(await fx.route53A(), [WEST]);

    const late = await h.decide(id, fx.tokens.admin, 'reject');
    assert.deepEqual([late.status, late.body.error], [409, 'not-awaiting-approval']);

    const events = await h.audit(`target=${encodeURIComponent(`operation:${id}`)}`);
    const decisions = events
      .filter((e) => e.action === 'approval.decide')
      .map((e) => [e.actor, e.outcome, (e.details as { error?: string }).error ?? null]);
    assert.deepEqual(decisions, [
      ['alice', 'refused', 'self-approval'],
      ['victor', 'refused', 'not-eligible'],
      ['bob', 'refused', 'validation-failed'],
      ['bob', 'accepted', null],
      ['bob', 'refused', 'already-decided'],
      ['carol', 'accepted', null],
      ['carol', 'refused', 'not-awaiting-approval'],
    ]);
    const approved = events.filter((e) => e.action === 'approval.approved').map((e) => e.actor);
    assert.deepEqual(approved, ['bob', 'carol']);
    assert.ok(events.some((e) => e.action === 'operation.finished' && e.details.phase === 'Completed'));
  });

  it('ends Rejected at the first rejection and changes nothing', async () => {
    // east was fenced (halted) by the failover above: the way back is a failback, approved likewise.
    const id = await h.requestFailback('four-eyes test');
    await h.awaitingRound(id, 1);
    // Through the CLI, as an approver would at 3 a.m.
    await waitForListed(h, id);
    const r = await h.cli(h.fx.tokens.approver, 'reject', id, '--comment', 'not during the sale');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /approval Rejected \(round 1\)/);
    const twice = await h.cli(h.fx.tokens.approver, 'approve', id);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /\(409 (already-decided|not-awaiting-approval)\)/);
    const done = await h.phase(id, isTerminal, 'to finish');
    assert.equal(done.phase, 'Rejected');
    assert.match(done.error!.message, /rejected by bob: not during the sale/);
    assert.deepEqual(done.steps.map((s) => [s.name, s.status]).slice(0, 4), [
      ['reprotect', 'Completed'],
      ['readiness', 'Completed'],
      ['approval', 'Failed'],
      ['quiesce', 'Skipped'],
    ]);
    assert.ok(done.steps.slice(3).every((s) => s.status === 'Skipped'));
    assert.deepEqual(await h.fx.route53A(), [WEST]);
    const events = await h.audit(`target=${encodeURIComponent(`operation:${id}`)}`);
    assert.ok(events.some((e) => e.action === 'approval.rejected' && e.actor === 'bob'));
  });

  it('voids approvals when the target turns unhealthy before execution, and asks again', async () => {
    const id = await h.requestFailback('four-eyes test');
    await h.awaitingRound(id, 1);
    assert.equal((await h.setHealthy('east', false)).status, 200);
    await h.decide(id, h.fx.tokens.approver, 'approve').expect(200);
    await h.decide(id, h.fx.tokens.admin, 'approve').expect(200);
    const round2 = await h.awaitingRound(id, 2);
    assert.equal(round2.approval!.voided.length, 1);
    assert.match(round2.approval!.voided[0]!.reason, /east turned unhealthy/);
    assert.equal(round2.approval!.facts!.targetHealthy, false);
    assert.deepEqual(await h.fx.route53A(), [WEST], 'nothing moved on void approvals');

    assert.equal((await h.setHealthy('east', true)).status, 200);
    await h.decide(id, h.fx.tokens.approver, 'approve').expect(200); // bob may decide again in a new round
    await h.decide(id, h.fx.tokens.admin, 'approve').expect(200);
    const done = await h.phase(id, isTerminal, 'to finish');
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.deepEqual(await h.fx.route53A(), [EAST]);
    assert.equal(done.approval!.round, 2);
    const voided = (await h.audit(`target=${encodeURIComponent(`operation:${id}`)}`)).filter(
      (e) => e.action === 'approval.voided',
    );
    assert.equal(voided.length, 1);
  });

  it('keeps approvals across a restart of the API and the worker', async () => {
    // The failback above left west a standby (not halted): a failover takes the app there again.
    const id = await h.requestFailover('west', 'four-eyes test');
    await h.awaitingRound(id, 1);
    await h.decide(id, h.fx.tokens.approver, 'approve').expect(200);

    await h.worker.kill('SIGKILL');
    await h.api.close();
    await h.startApi();
    h.worker = await startWorker(h.fx, 'worker-restarted');

    const op = await h.operation(id);
    assert.deepEqual([op.phase, op.approval!.approvedBy], ['AwaitingApproval', ['bob']]);
    await h.decide(id, h.fx.tokens.admin, 'approve').expect(200);
    const done = await h.phase(id, isTerminal, 'to finish');
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.deepEqual(done.approval!.approvedBy, ['bob', 'carol']);
    assert.deepEqual(await h.fx.route53A(), [WEST]);
  });
});

describe('approval expiry', () => {
  let h: ApiHarness;

  before(async () => {
    const fx = await startAppFixture({ failoverApproval: { required: 1, expiresAfterSeconds: 2 } });
    h = new ApiHarness(fx);
    await h.start();
  });
  after(() => h?.stop());

  it('ends TimedOut, never approved, and refuses a late decision', async () => {
    const id = await h.requestFailover('west', 'four-eyes test');
    const done = await h.phase(id, isTerminal, 'to time out', 30_000);
    assert.equal(done.phase, 'TimedOut');
    assert.equal(done.error!.code, 'approval-expired');
    assert.equal(done.approval!.status, 'Expired');
    const late = await h.decide(id, h.fx.tokens.approver, 'approve');
    assert.deepEqual([late.status, late.body.error], [409, 'not-awaiting-approval']);
    assert.deepEqual(await h.fx.route53A(), [EAST]);
    const events = await h.audit(`target=${encodeURIComponent(`operation:${id}`)}`);
    assert.ok(events.some((e) => e.action === 'approval.expired' && e.actor === 'system'));
  });
});
