import { condition, setHandler } from '@temporalio/workflow';
import {
  type ApprovalFacts,
  applyDecision,
  checkDecision,
  factsChanged,
  openRound,
  voidRound,
} from './approval';
import { decideApprovalUpdate } from './definitions';
import type { OperationRuntime } from './operation-runtime';

/**
 * The approval step shared by every operation that may need one (failover, restore): the Update
 * handler through which approvers decide, and the wait for their decisions. Deterministic.
 */

/** Accepts approvers' decisions as a Temporal Update; the validator refuses without touching history. */
export function installApprovalHandler(op: OperationRuntime): void {
  const approval = op.status.approval!;
  setHandler(
    decideApprovalUpdate,
    async (req) => {
      applyDecision(approval, req, new Date().toISOString());
      op.publish();
      await op.audit(
        `approval.${req.decision === 'approve' ? 'approved' : 'rejected'}`,
        'accepted',
        {
          comment: req.comment,
          round: approval.round,
          stillNeeded: approval.stillNeeded,
          requestId: req.requestId,
          // Not `credential`: the audit log redacts every key named like one; this is an id, no secret.
          ...(req.credential === undefined ? {} : { authenticatedWith: req.credential }),
        },
        req.principal.name,
      );
      op.notify('approval.decided', {
        decision: req.decision,
        by: req.principal.name,
        comment: req.comment,
        stillNeeded: approval.stillNeeded,
      });
      return approval;
    },
    { validator: (req) => checkDecision(approval, req, Date.now()) },
  );
}

export interface AwaitApprovalOptions {
  /**
   * Automatic failover mode (docs/health-monitoring.md): when nobody decides within this many
   * seconds (and before the request expires), the operation proceeds, recorded as approved by
   * AUTOMATIC_APPROVER. A rejection within the window still stops it.
   */
  proceedAfterSeconds?: number;
}

/** Who an unanswered approval is recorded as decided by when the automatic policy proceeds. */
export const AUTOMATIC_APPROVER = 'system:automatic';

/**
 * Records the automatic failover policy's approval (AUTOMATIC_APPROVER) of the current round:
 * on the operation's approval, in the audit log and to the subscribers.
 */
export async function recordAutomaticApproval(
  op: OperationRuntime,
  comment: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  const approval = op.status.approval!;
  approval.decisions.push({
    principal: AUTOMATIC_APPROVER,
    roles: [],
    decision: 'approve',
    comment,
    at: new Date().toISOString(),
    round: approval.round,
  });
  approval.approvedBy = [...approval.approvedBy, AUTOMATIC_APPROVER];
  approval.stillNeeded = 0;
  approval.status = 'Approved';
  op.publish();
  await op.audit(
    'approval.approved',
    'accepted',
    { comment, round: approval.round, stillNeeded: 0, automatic: true, ...details },
    AUTOMATIC_APPROVER,
  );
  op.notify('approval.decided', { decision: 'approve', by: AUTOMATIC_APPROVER, comment, stillNeeded: 0 });
}

/**
 * Raises the approval request and waits for it. Approvals bind to the facts they were given on:
 * once approved, the facts are observed again, and if they changed the approvals are void and the
 * request is raised anew with the new facts.
 */
export async function awaitApproval(
  op: OperationRuntime,
  initial: ApprovalFacts,
  observe: () => Promise<ApprovalFacts>,
  options: AwaitApprovalOptions = {},
): Promise<{ end: boolean; facts?: ApprovalFacts }> {
  const { status } = op;
  const approval = status.approval!;
  const step = op.step('approval');
  step.status = 'Running';
  step.startedAt = new Date().toISOString();
  let facts = initial;
  for (;;) {
    openRound(approval, facts, Date.now());
    status.phase = 'AwaitingApproval';
    step.detail = `round ${approval.round}: waiting for ${approval.policy.required} approval(s) from ${approval.policy.roles.join('/')} until ${approval.expiresAt}`;
    op.publish();
    await op.audit('approval.requested', 'info', {
      round: approval.round,
      facts,
      policy: approval.policy,
      expiresAt: approval.expiresAt,
    });
    op.notify('approval.requested', {
      round: approval.round,
      facts,
      policy: approval.policy,
      expiresAt: approval.expiresAt,
      requestedBy: status.requestedBy,
      reason: status.spec.reason,
    });

    const untilExpiry = Date.parse(approval.expiresAt!) - Date.now();
    const proceedAfterMs = (options.proceedAfterSeconds ?? 0) * 1000;
    const proceeds = proceedAfterMs > 0 && proceedAfterMs < untilExpiry;
    const decided = await condition(
      () => approval.status !== 'Pending',
      proceeds ? proceedAfterMs : untilExpiry,
    );
    if (!decided && proceeds) {
      await recordAutomaticApproval(
        op,
        `nobody answered within ${options.proceedAfterSeconds}s: the automatic failover policy proceeds`,
        { waitedSeconds: options.proceedAfterSeconds },
      );
    } else if (!decided) {
      approval.status = 'Expired';
      status.phase = 'TimedOut';
      status.error = {
        code: 'approval-expired',
        message: `no decision before ${approval.expiresAt}`,
        step: 'approval',
      };
      step.status = 'Failed';
      step.error = status.error;
      step.endedAt = new Date().toISOString();
      await op.audit('approval.expired', 'failed', { round: approval.round });
      op.notify('approval.expired', { round: approval.round });
      return { end: true };
    }
    if (approval.status === 'Rejected') {
      const by = approval.decisions.find((d) => d.decision === 'reject')!;
      status.phase = 'Rejected';
      status.error = {
        code: 'rejected',
        message: `rejected by ${by.principal}: ${by.comment}`,
        step: 'approval',
      };
      step.status = 'Failed';
      step.error = status.error;
      step.endedAt = new Date().toISOString();
      return { end: true };
    }
    status.phase = 'Running';
    op.publish();
    const now = await observe();
    const changed = factsChanged(facts, now);
    if (changed === null) {
      step.status = 'Completed';
      step.endedAt = new Date().toISOString();
      step.detail = `approved by ${approval.approvedBy.join(', ')} (round ${approval.round})`;
      op.publish();
      return { end: false, facts: now };
    }
    voidRound(approval, changed);
    await op.audit('approval.voided', 'info', { round: approval.round, reason: changed });
    facts = now;
  }
}
