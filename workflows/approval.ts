import { ApplicationFailure } from '@temporalio/common';

/**
 * Four-eyes approvals, as pure rules over an ApprovalState held by the operation's workflow.
 * The workflow's update validator calls `checkDecision` (a refusal leaves no trace in history);
 * the update handler then calls `applyDecision`. Loaded in the workflow sandbox: no I/O.
 */

export type Role = 'viewer' | 'operator' | 'approver' | 'admin' | 'monitor';

export interface ApprovalPolicy {
  required: number;
  roles: Role[];
  excludeRequester: boolean;
  expiresAfterSeconds: number;
}

/** The facts an approval was given on. If they change before execution, the approvals are void. */
export interface ApprovalFacts {
  activeRegion: string;
  epoch: number;
  targetRegion: string;
  targetHealthy: boolean;
  targetHealth: string;
  /** A restore: the restore point its data comes from, and how old that data is. */
  restorePointId?: string;
  restorePointCutAt?: string;
  /**
   * A soft delete: what it would tombstone (restore point ids, or `schedule <name>`). It moves
   * nothing, so the region fields are empty (`targetHealthy` true).
   */
  deleting?: string[];
  /** An unplanned failover: how old the restore point is, against the RPO, and whether it is verified. */
  restorePointAgeSeconds?: number;
  restorePointVerified?: boolean;
  rpoSeconds?: number;
}

export interface ApprovalDecision {
  principal: string;
  roles: Role[];
  decision: 'approve' | 'reject';
  comment: string;
  at: string;
  round: number;
  requestId?: string;
  /**
   * Which credential the API authenticated: `token:<id>`, `bootstrap:<n>` (auth.tokens[n]) or
   * `oidc:<issuer>#<subject>`. Absent in decisions recorded before it existed.
   */
  credential?: string;
}

/**
 * NotRequired → the policy asks for none
 * Pending     → waiting for decisions (the operation's phase is AwaitingApproval)
 * Approved    → enough distinct eligible approvers agreed
 * Rejected    → an eligible approver rejected
 * Expired     → nobody decided in time; never treated as approved
 * Withdrawn   → the operation was cancelled while waiting; no decision is taken any more
 */
export type ApprovalStatus = 'NotRequired' | 'Pending' | 'Approved' | 'Rejected' | 'Expired' | 'Withdrawn';

export interface ApprovalState {
  policy: ApprovalPolicy;
  status: ApprovalStatus;
  requestedBy: string;
  /** 1 for the first request; raised again (2, 3, ...) when the facts changed under the approvals. */
  round: number;
  requestedAt?: string;
  expiresAt?: string;
  facts?: ApprovalFacts;
  /** Decisions of the current round. */
  decisions: ApprovalDecision[];
  approvedBy: string[];
  stillNeeded: number;
  /** Earlier rounds whose approvals were voided, and why. */
  voided: { round: number; reason: string; facts: ApprovalFacts; decisions: ApprovalDecision[] }[];
}

export interface DecisionRequest {
  /** From the API's authentication, never from the request body. */
  principal: { name: string; roles: Role[] };
  /** Which credential the API authenticated (ApprovalDecision.credential). */
  credential?: string;
  decision: 'approve' | 'reject';
  comment: string;
  requestId?: string;
  /**
   * The round the approver decided on (they saw its facts). When given and another round is open
   * now, the decision is refused (`approval-round-changed`) rather than counted for facts nobody saw.
   */
  round?: number;
}

/** Refusal codes; the API maps the first two to 403 and the rest to 409. */
export const APPROVAL_REFUSALS = {
  selfApproval: 'self-approval',
  notEligible: 'not-eligible',
  notAwaiting: 'not-awaiting-approval',
  /** The operation has not raised its approval request yet (it is still in its preflight). */
  notRequestedYet: 'approval-not-requested-yet',
  roundChanged: 'approval-round-changed',
  expired: 'approval-expired',
  alreadyDecided: 'already-decided',
} as const;

export function initialApprovalState(policy: ApprovalPolicy, requestedBy: string): ApprovalState {
  return {
    policy,
    status: policy.required === 0 ? 'NotRequired' : 'Pending',
    requestedBy,
    round: 0,
    decisions: [],
    approvedBy: [],
    stillNeeded: policy.required,
    voided: [],
  };
}

/** Opens a new round of the request, bound to these facts, expiring after the policy's window. */
export function openRound(state: ApprovalState, facts: ApprovalFacts, nowMs: number): void {
  state.round += 1;
  state.status = 'Pending';
  state.facts = facts;
  state.decisions = [];
  state.approvedBy = [];
  state.stillNeeded = state.policy.required;
  state.requestedAt = new Date(nowMs).toISOString();
  state.expiresAt = new Date(nowMs + state.policy.expiresAfterSeconds * 1000).toISOString();
}

export function voidRound(state: ApprovalState, reason: string): void {
  state.voided.push({ round: state.round, reason, facts: state.facts!, decisions: state.decisions });
}

function refuse(message: string, code: string): never {
  throw ApplicationFailure.nonRetryable(message, code);
}

/** Throws a non-retryable ApplicationFailure whose type is one of APPROVAL_REFUSALS. */
export function checkDecision(state: ApprovalState, req: DecisionRequest, nowMs: number): void {
  // Round 0 is the time before the request: a decision taken now would be wiped when round 1 opens,
  // and it would bind to facts nobody has seen yet. Refused, so the approver is told to come back.
  if (state.status === 'Pending' && state.round === 0) {
    refuse(
      'the operation has not requested approval yet (its preflight is still running): decide once it is AwaitingApproval',
      APPROVAL_REFUSALS.notRequestedYet,
    );
  }
  if (state.status !== 'Pending') {
    refuse(
      `the operation is not awaiting approval (approval ${state.status.toLowerCase()})`,
      APPROVAL_REFUSALS.notAwaiting,
    );
  }
  if (state.expiresAt && nowMs >= Date.parse(state.expiresAt)) {
    refuse(`the approval request expired at ${state.expiresAt}`, APPROVAL_REFUSALS.expired);
  }
  if (req.round !== undefined && req.round !== state.round) {
    refuse(
      `the decision is for round ${req.round}, but round ${state.round} is open now (the facts changed): look at round ${state.round} and decide again`,
      APPROVAL_REFUSALS.roundChanged,
    );
  }
  const who = req.principal.name;
  if (state.policy.excludeRequester && who === state.requestedBy) {
    refuse(`${who} requested this operation and cannot approve or reject it`, APPROVAL_REFUSALS.selfApproval);
  }
  if (!req.principal.roles.some((r) => state.policy.roles.includes(r))) {
    refuse(
      `${who} may not decide: the policy needs one of the roles ${state.policy.roles.join(', ')}`,
      APPROVAL_REFUSALS.notEligible,
    );
  }
  const earlier = state.decisions.find((d) => d.principal === who);
  if (earlier) {
    refuse(`${who} already decided (${earlier.decision}) at ${earlier.at}`, APPROVAL_REFUSALS.alreadyDecided);
  }
}

export function applyDecision(state: ApprovalState, req: DecisionRequest, nowIso: string): ApprovalState {
  state.decisions.push({
    principal: req.principal.name,
    roles: req.principal.roles,
    decision: req.decision,
    comment: req.comment,
    at: nowIso,
    round: state.round,
    requestId: req.requestId,
    ...(req.credential === undefined ? {} : { credential: req.credential }),
  });
  if (req.decision === 'reject') {
    state.status = 'Rejected';
  } else {
    state.approvedBy = state.decisions.filter((d) => d.decision === 'approve').map((d) => d.principal);
    state.stillNeeded = Math.max(0, state.policy.required - state.approvedBy.length);
    if (state.stillNeeded === 0) state.status = 'Approved';
  }
  return state;
}

/** Why approvals given on `approved` no longer hold for `now`, or null when they still do. */
export function factsChanged(approved: ApprovalFacts, now: ApprovalFacts): string | null {
  if (now.activeRegion !== approved.activeRegion || now.epoch !== approved.epoch) {
    return `the active region changed from ${approved.activeRegion} (epoch ${approved.epoch}) to ${now.activeRegion} (epoch ${now.epoch})`;
  }
  if (now.restorePointId !== approved.restorePointId) {
    return `the restore point changed from ${approved.restorePointId ?? 'none'} to ${now.restorePointId ?? 'none'}`;
  }
  if ((now.deleting ?? []).join(',') !== (approved.deleting ?? []).join(',')) {
    return `what is deleted changed from ${approved.deleting?.join(', ') ?? 'nothing'} to ${now.deleting?.join(', ') ?? 'nothing'}`;
  }
  if (!now.targetHealthy) return `target region ${now.targetRegion} turned unhealthy: ${now.targetHealth}`;
  return null;
}
