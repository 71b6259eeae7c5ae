import type { ApprovalFacts } from './approval';
import { awaitApproval, recordAutomaticApproval } from './approval-flow';
import { type AutomaticDecision, decideAutomatic, describeDecision } from './automatic-decision';
import type { OperationRuntime } from './operation-runtime';
import type { FailoverSpec } from './operation';

/**
 * The approval step of a failover, with the automatic failover mode (docs/health-monitoring.md):
 * a failover opened by the region monitor for an app in `automatic` mode decides by its policy
 * (workflows/automatic-decision.ts) and proceeds without a person when every check passes,
 * after `approvalWaitSeconds` for an answer when set; otherwise, and for every other failover, it
 * waits for approvals as usual. The decision and its facts are recorded on the operation
 * (`facts.automaticDecision`) and in the audit log. Deterministic.
 */
export async function approveFailover(
  op: OperationRuntime,
  facts: ApprovalFacts,
  observe: () => Promise<ApprovalFacts>,
): Promise<{ end: boolean; facts?: ApprovalFacts }> {
  const trigger = (op.status.spec as Partial<FailoverSpec>).trigger;
  const approval = op.status.approval!;
  if (trigger?.failoverMode !== 'automatic' || !trigger.automatic) {
    if (approval.status === 'NotRequired') {
      if (!trigger) return skipApproval(op);
      // Manual mode means a person decides, even when the approval policy requires none.
      requireOneApproval(op, 'manual failover mode: a failover the monitors open waits for a person');
    }
    return awaitApproval(op, facts, observe);
  }
  const withData = facts as ApprovalFacts & {
    restorePointAgeSeconds?: number;
    restorePointVerified?: boolean;
  };
  const decision: AutomaticDecision = decideAutomatic(
    trigger.automatic,
    {
      activeRegion: facts.activeRegion,
      downSince: trigger.downSince,
      standbyRegion: facts.targetRegion,
      standbyHealthy: facts.targetHealthy,
      standbyHealth: facts.targetHealth,
      restorePointId: withData.restorePointId,
      restorePointAgeSeconds: withData.restorePointAgeSeconds,
      restorePointVerified: withData.restorePointVerified,
    },
    Date.now(),
  );
  op.status.facts.automaticDecision = decision;
  const step = op.step('approval');
  step.detail = describeDecision(decision);
  op.publish();
  await op.audit('failover.automatic-decision', 'info', {
    outcome: decision.outcome,
    reasons: decision.reasons,
    policy: decision.policy,
    facts: decision.facts,
  });

  if (decision.outcome === 'proceed' && approval.status === 'NotRequired') return skipApproval(op);
  if (approval.status === 'NotRequired') {
    requireOneApproval(op, 'automatic mode: the policy does not allow proceeding without a person');
  }
  if (decision.outcome === 'proceed' && decision.approvalWaitSeconds === 0) {
    approval.round += 1;
    approval.facts = facts;
    approval.requestedAt = decision.decidedAt;
    await recordAutomaticApproval(op, describeDecision(decision), { reasons: decision.reasons });
    step.status = 'Completed';
    step.startedAt ??= decision.decidedAt;
    step.endedAt = new Date().toISOString();
    op.publish();
    return { end: false, facts };
  }
  return awaitApproval(
    op,
    facts,
    observe,
    decision.outcome === 'proceed' ? { proceedAfterSeconds: decision.approvalWaitSeconds } : {},
  );
}

function skipApproval(op: OperationRuntime): { end: boolean } {
  const step = op.step('approval');
  step.status = 'Skipped';
  step.detail = [step.detail, 'the approval policy requires none'].filter(Boolean).join('; ');
  op.publish();
  return { end: false };
}

/** Raises a policy that requires no approval to one approval (roles as configured). */
function requireOneApproval(op: OperationRuntime, why: string): void {
  const approval = op.status.approval!;
  approval.policy = { ...approval.policy, required: 1 };
  approval.status = 'Pending';
  approval.stillNeeded = 1;
  op.status.facts.approvalRaised = why;
}
