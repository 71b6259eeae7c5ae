/**
 * Failover modes (docs/health-monitoring.md, Automatic mode): what a failover opened by the
 * region monitor carries, and the pure rule that decides whether an automatic one may proceed
 * without a person. Loaded in the workflow sandbox: no I/O, the clock is passed in.
 */

/** `apps.<app>.failover.mode`. */
export const FAILOVER_TRIGGER_MODES = ['manual', 'automatic'] as const;
export type FailoverTriggerMode = (typeof FAILOVER_TRIGGER_MODES)[number];

/** `apps.<app>.failover.automatic`, with `maxRestorePointAgeSeconds` resolved (default: the RPO). */
export interface AutomaticPolicy {
  /** The active region must have been `down` (monitors' quorum) at least this long. */
  downForSeconds: number;
  /** The target must answer its health probe. */
  requireStandbyHealthy: boolean;
  /** The restore point the failover restores must be verified and at most this old. */
  maxRestorePointAgeSeconds: number;
  /** 0: proceed at once; > 0: wait this long for an approval, then proceed unanswered (a rejection stops it). */
  approvalWaitSeconds: number;
}

/** Why a failover was opened without a request: the monitors' quorum saw the active region go down. */
export interface FailoverTrigger {
  type: 'region-down';
  /** The app's failover mode when the trigger fired. */
  failoverMode: FailoverTriggerMode;
  /** The region that went down (the active one). */
  region: string;
  /** When the quorum declared it down (ISO 8601). */
  downSince: string;
  from: string;
  /** The transition's reason, as the quorum gave it. */
  transition: string;
  /** The quorum's votes (infra/health/region-detector.ts `Votes`): counts and each vantage point's vote. */
  votes: {
    up: number;
    down: number;
    unknown: number;
    silent?: number;
    total: number;
    byVantage: Record<string, { verdict: string; silentSince: string | null }>;
  };
  /** The standby's health state when it was chosen. */
  targetState: string;
  /** With `failoverMode: automatic`: the policy the workflow decides by. */
  automatic?: AutomaticPolicy;
}

/** The facts an automatic decision is taken on (recorded on the operation with the decision). */
export interface AutomaticFacts {
  activeRegion: string;
  downSince: string;
  standbyRegion: string;
  standbyHealthy: boolean;
  standbyHealth: string;
  /** Undefined: no restore point is involved (an app without services has no data to move). */
  restorePointId?: string;
  restorePointAgeSeconds?: number;
  restorePointVerified?: boolean;
}

export interface AutomaticCheck {
  name: 'down-for' | 'standby-healthy' | 'restore-point';
  ok: boolean;
  detail: string;
}

export interface AutomaticDecision {
  /**
   * proceed           → every check passed: no person is needed (after `approvalWaitSeconds`)
   * wait-for-approval → a check failed: the failover waits for approvers like a manual one
   */
  outcome: 'proceed' | 'wait-for-approval';
  /** With `proceed`: how long an approver may still answer first (0: proceed at once). */
  approvalWaitSeconds: number;
  checks: AutomaticCheck[];
  /** One line per check, failed ones first. */
  reasons: string[];
  decidedAt: string;
  policy: AutomaticPolicy;
  facts: AutomaticFacts;
}

export function decideAutomatic(
  policy: AutomaticPolicy,
  facts: AutomaticFacts,
  nowMs: number,
): AutomaticDecision {
  const downForSeconds = Math.max(0, Math.floor((nowMs - Date.parse(facts.downSince)) / 1000));
  const checks: AutomaticCheck[] = [
    {
      name: 'down-for',
      ok: downForSeconds >= policy.downForSeconds,
      detail: `active region ${facts.activeRegion} down for ${downForSeconds}s (since ${facts.downSince}; the policy needs ${policy.downForSeconds}s)`,
    },
    {
      name: 'standby-healthy',
      ok: facts.standbyHealthy || !policy.requireStandbyHealthy,
      detail: `standby ${facts.standbyRegion} ${facts.standbyHealthy ? 'healthy' : 'NOT healthy'}: ${facts.standbyHealth}${policy.requireStandbyHealthy ? '' : ' (the policy does not require it)'}`,
    },
    restorePointCheck(policy, facts),
  ];
  const failed = checks.filter((c) => !c.ok);
  return {
    outcome: failed.length === 0 ? 'proceed' : 'wait-for-approval',
    approvalWaitSeconds: failed.length === 0 ? policy.approvalWaitSeconds : 0,
    checks,
    reasons: [...failed, ...checks.filter((c) => c.ok)].map((c) => `${c.ok ? 'ok' : 'failed'}: ${c.detail}`),
    decidedAt: new Date(nowMs).toISOString(),
    policy,
    facts,
  };
}

function restorePointCheck(policy: AutomaticPolicy, facts: AutomaticFacts): AutomaticCheck {
  const max = policy.maxRestorePointAgeSeconds;
  if (facts.restorePointId === undefined) {
    return { name: 'restore-point', ok: true, detail: 'no restore point involved (the app has no services)' };
  }
  const age = facts.restorePointAgeSeconds;
  if (age === undefined) {
    return { name: 'restore-point', ok: false, detail: `restore point ${facts.restorePointId}: age unknown` };
  }
  if (facts.restorePointVerified !== true) {
    return {
      name: 'restore-point',
      ok: false,
      detail: `restore point ${facts.restorePointId} (${age}s old) is NOT verified: no verified restore point to restore`,
    };
  }
  return {
    name: 'restore-point',
    ok: age <= max,
    detail: `restore point ${facts.restorePointId} verified, ${age}s old (${age <= max ? 'within' : 'BEYOND'} the ${max}s the policy allows)`,
  };
}

/** One line for the approval step's detail and the audit log. */
export function describeDecision(d: AutomaticDecision): string {
  if (d.outcome === 'wait-for-approval') {
    const failed = d.checks.filter((c) => !c.ok).map((c) => c.detail);
    return `automatic mode waits for approval: ${failed.join('; ')}`;
  }
  return d.approvalWaitSeconds > 0
    ? `automatic mode: every check passed; proceeding unless an approver answers within ${d.approvalWaitSeconds}s`
    : 'automatic mode: every check passed; proceeding without approval';
}
