import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import {
  APPROVAL_REFUSALS,
  applyDecision,
  type ApprovalFacts,
  checkDecision,
  type DecisionRequest,
  factsChanged,
  initialApprovalState,
  openRound,
  type Role,
  voidRound,
} from '../../workflows/approval';

const policy = {
  required: 2,
  roles: ['approver', 'admin'] as Role[],
  excludeRequester: true,
  expiresAfterSeconds: 60,
};
const facts: ApprovalFacts = {
  activeRegion: 'east',
  epoch: 3,
  targetRegion: 'west',
  targetHealthy: true,
  targetHealth: 'healthy (2 ms)',
};
const T0 = Date.parse('2026-11-22T10:00:00Z');

function pending() {
  const s = initialApprovalState(policy, 'alice');
  openRound(s, facts, T0);
  return s;
}

function req(name: string, roles: Role[], decision: 'approve' | 'reject' = 'approve'): DecisionRequest {
  return { principal: { name, roles }, decision, comment: `${name} says ${decision}` };
}

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.nonRetryable, true);
    return err.type!;
  }
  assert.fail('expected a refusal');
}

describe('approval rules', () => {
  it('needs no approval when the policy requires none', () => {
    assert.equal(initialApprovalState({ ...policy, required: 0 }, 'alice').status, 'NotRequired');
  });

  it('opens a round bound to the facts, expiring after the policy window', () => {
    const s = pending();
    assert.equal(s.status, 'Pending');
    assert.equal(s.round, 1);
    assert.equal(s.expiresAt, '2026-11-22T10:01:00.000Z');
    assert.deepEqual(s.facts, facts);
    assert.equal(s.stillNeeded, 2);
  });

  it('refuses self-approval, ineligible roles, second decisions, late and closed decisions', () => {
    const s = pending();
    assert.equal(
      refusal(() => checkDecision(s, req('alice', ['admin']), T0)),
      APPROVAL_REFUSALS.selfApproval,
    );
    assert.equal(
      refusal(() => checkDecision(s, req('victor', ['viewer', 'operator']), T0)),
      APPROVAL_REFUSALS.notEligible,
    );
    checkDecision(s, req('bob', ['approver']), T0);
    applyDecision(s, req('bob', ['approver']), '2026-11-22T10:00:05Z');
    assert.equal(
      refusal(() => checkDecision(s, req('bob', ['approver'], 'reject'), T0)),
      APPROVAL_REFUSALS.alreadyDecided,
    );
    assert.equal(
      refusal(() => checkDecision(s, req('carol', ['admin']), T0 + 60_000)),
      APPROVAL_REFUSALS.expired,
    );
    applyDecision(s, req('carol', ['admin']), '2026-11-22T10:00:06Z');
    assert.equal(
      refusal(() => checkDecision(s, req('dave', ['approver']), T0)),
      APPROVAL_REFUSALS.notAwaiting,
    );
  });

  it('lets the requester decide when the policy does not exclude them', () => {
    const s = initialApprovalState({ ...policy, excludeRequester: false }, 'alice');
    openRound(s, facts, T0);
    checkDecision(s, req('alice', ['approver']), T0);
  });

  it('approves once enough distinct eligible approvers agreed, and says who is still needed', () => {
    const s = pending();
    applyDecision(s, req('bob', ['approver']), 't1');
    assert.equal(s.status, 'Pending');
    assert.deepEqual([s.approvedBy, s.stillNeeded], [['bob'], 1]);
    applyDecision(s, req('carol', ['admin']), 't2');
    assert.equal(s.status, 'Approved');
    assert.deepEqual([s.approvedBy, s.stillNeeded], [['bob', 'carol'], 0]);
  });

  it('ends at the first rejection, whatever the approvals so far', () => {
    const s = pending();
    applyDecision(s, req('bob', ['approver']), 't1');
    applyDecision(s, req('carol', ['admin'], 'reject'), 't2');
    assert.equal(s.status, 'Rejected');
  });

  it('voids approvals when the facts changed, keeping the old round for the record', () => {
    assert.equal(factsChanged(facts, { ...facts }), null);
    assert.match(
      factsChanged(facts, { ...facts, epoch: 4, activeRegion: 'west' })!,
      /active region changed from east \(epoch 3\) to west \(epoch 4\)/,
    );
    assert.match(
      factsChanged(facts, { ...facts, targetHealthy: false, targetHealth: 'HTTP 503' })!,
      /west turned unhealthy: HTTP 503/,
    );
    const s = pending();
    applyDecision(s, req('bob', ['approver']), 't1');
    applyDecision(s, req('carol', ['admin']), 't2');
    voidRound(s, 'target region west turned unhealthy');
    openRound(s, { ...facts, targetHealthy: false }, T0 + 10_000);
    assert.equal(s.round, 2);
    assert.equal(s.status, 'Pending');
    assert.deepEqual(s.decisions, []);
    assert.equal(s.voided.length, 1);
    assert.deepEqual(
      s.voided[0]!.decisions.map((d) => d.principal),
      ['bob', 'carol'],
    );
    // bob may decide again in the new round
    checkDecision(s, req('bob', ['approver']), T0 + 10_000);
  });

  it('refuses a decision before the request is raised, instead of counting one that round 1 wipes', () => {
    const s = initialApprovalState(policy, 'alice');
    assert.deepEqual([s.status, s.round], ['Pending', 0]);
    assert.equal(
      refusal(() => checkDecision(s, req('bob', ['approver']), T0)),
      APPROVAL_REFUSALS.notRequestedYet,
    );
    openRound(s, facts, T0);
    checkDecision(s, req('bob', ['approver']), T0);
  });

  it('refuses a decision made for another round than the open one', () => {
    const s = pending();
    voidRound(s, 'the facts changed');
    openRound(s, { ...facts, epoch: 4 }, T0 + 1_000);
    assert.equal(
      refusal(() => checkDecision(s, { ...req('bob', ['approver']), round: 1 }, T0 + 1_000)),
      APPROVAL_REFUSALS.roundChanged,
    );
    checkDecision(s, { ...req('bob', ['approver']), round: 2 }, T0 + 1_000);
  });
});
