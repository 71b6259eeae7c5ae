import type { ApprovalState } from './approval';
import type { FailoverTrigger } from './automatic-decision';
import type { ControlOverrideAction } from './control';

/**
 * The Operation resource: spec (what was asked) and status (what happened), after Velero's
 * spec + status shape. Pure types and pure functions only: this file is loaded in the
 * workflow sandbox. Documented in docs/api.md (Operation); keep the enums in step with it.
 */

export const OPERATION_KINDS = [
  'failover',
  'failback',
  'restore-point',
  'restore',
  'verification',
  'restore-point-delete',
  'drill',
  'schedule-delete',
  'region-remove',
  'control-override',
  'dns-record-delete',
  'dns-override',
] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/**
 * AwaitingApproval → waiting for approvers (see `approval` on the status)
 * Running       → steps are executing
 * Compensating  → a step failed (or the operation was cancelled) and completed steps are being undone
 * Completed     → every step succeeded; the change is committed
 * Failed        → a step failed; every compensation succeeded, the app is as it was before
 * CompensationFailed → a step failed and at least one compensation failed too: needs a human
 * Rejected      → an approver rejected it; nothing was changed
 * TimedOut      → the approval request expired; nothing was changed
 * Undoable      → a soft delete: the target is hidden (tombstoned) and nothing is removed yet;
 *                 `POST /v1/operations/{id}/undo` brings it back until `facts.undoableUntil`, when
 *                 the purge runs and the phase becomes Completed (docs/soft-deletes.md)
 * Undone        → a soft delete was undone within its window: the target is back as it was
 * Cancelled     → cancelled by an operator before its commit (`POST /v1/operations/{id}/cancel`):
 *                 every completed step was compensated, the app is as it was before
 */
export const OPERATION_PHASES = [
  'AwaitingApproval',
  'Running',
  'Compensating',
  'Completed',
  'Failed',
  'CompensationFailed',
  'Rejected',
  'TimedOut',
  'Undoable',
  'Undone',
  'Cancelled',
] as const;
export type OperationPhase = (typeof OPERATION_PHASES)[number];

export const TERMINAL_PHASES: readonly OperationPhase[] = [
  'Completed',
  'Failed',
  'CompensationFailed',
  'Rejected',
  'TimedOut',
  'Undone',
  'Cancelled',
];

/**
 * Pending → Running → Completed | Failed
 * Completed → Compensating → Compensated | CompensationFailed   (when a later step fails)
 * Skipped: not needed by this plan.
 */
export const STEP_STATUSES = [
  'Pending',
  'Running',
  'Completed',
  'Failed',
  'Skipped',
  'Compensating',
  'Compensated',
  'CompensationFailed',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface OperationError {
  /** Stable machine-readable code, e.g. `target-unhealthy`, `already-active`. */
  code: string;
  message: string;
  step?: string;
}

export interface OperationStep {
  name: string;
  status: StepStatus;
  startedAt?: string;
  endedAt?: string;
  /** Human-readable account of what the step did or is doing. */
  detail?: string;
  error?: OperationError;
  compensationError?: OperationError;
}

export interface FailoverSpec {
  /** Set when the region monitor opened it (docs/health-monitoring.md); absent for a request. */
  trigger?: FailoverTrigger;
  to: string;
  mode: 'planned' | 'unplanned';
  reason: string;
}

/** Bring an app back to the region it was failed over from (the halted one): docs/failover.md. */
export interface FailbackSpec {
  /** The halted region the app goes back to (chosen by the API: the app's one halted region). */
  to: string;
  reason: string;
}

/** Take a restore point now (`trigger` says who asked: a person through the API, or a schedule). */
export interface RestorePointSpec {
  reason: string;
  trigger: 'api' | 'schedule' | 'failover';
  /** The schedule that started it, when `trigger` is `schedule`. */
  scheduleId?: string;
  /** The failover (or failback) that took it as its final restore point, when `trigger` is `failover`. */
  operationId?: string;
}

/** Restore every service of the app from a restore point into one region. */
export interface RestoreSpec {
  restorePointId: string;
  region: string;
  reason: string;
}

/** Verify (and repair) the copies of the app's newest restore points in every region. */
export interface VerificationSpec {
  reason: string;
  trigger: 'api' | 'schedule';
  scheduleId?: string;
  /** How many restore points, newest first (default: `restorePoints.verification.depth`). */
  depth?: number;
  /**
   * End with a test restore into the scratch places (default: `restorePoints.verification.testRestore`);
   * docs/drills.md.
   */
  testRestore?: boolean;
}

/**
 * Rehearse a failover: the newest verified restore point restored into the scratch places of a
 * standby region, the app started there and checked, RTO and RPO measured, everything cleaned up.
 * Never touches live DNS or the active region (docs/drills.md).
 */
export interface DrillSpec {
  reason: string;
  trigger: 'api' | 'schedule';
  scheduleId?: string;
}

/** Soft-delete a restore point: tombstoned at once, purged when the undo window ends. */
export interface RestorePointDeleteSpec {
  /** The restore point (of a bulk delete: the first of `restorePointIds`). */
  restorePointId: string;
  /** A bulk delete (`DELETE /v1/apps/{app}/restore-points`): every restore point it deletes. */
  restorePointIds?: string[];
  reason: string;
  /** A person through the API, or the retention step of a restore point operation. */
  trigger: 'api' | 'retention';
}

/** Soft-delete an app's schedule: paused and tombstoned at once, deleted when the undo window ends. */
export interface ScheduleDeleteSpec {
  scheduleName: string;
  reason: string;
  trigger: 'api';
}

/**
 * Soft-remove a region from an app: tombstoned in the control state at once (hidden, never a
 * target), final when the undo window ends (docs/soft-deletes.md#removing-a-region).
 */
export interface RegionRemoveSpec {
  region: string;
  reason: string;
  trigger: 'api';
}

/**
 * An operator's override of the app's control state, applied at once and undoable until the window
 * ends (docs/fencing.md#overrides).
 */
export interface ControlOverrideSpec {
  action: ControlOverrideAction;
  region: string;
  reason: string;
  trigger: 'api';
}

/**
 * Remove one of an app's DNS records (every `dns.records[]` entry of that name): tombstoned in the
 * control state and removed from its providers at once, final when the undo window ends.
 */
export interface DnsRecordDeleteSpec {
  recordName: string;
  reason: string;
  trigger: 'api';
}

/** Point one of an app's DNS records at a region now (a simple record set), undoable within the window. */
export interface DnsOverrideSpec {
  recordName: string;
  region: string;
  reason: string;
  trigger: 'api';
}

export type OperationSpec =
  | RegionRemoveSpec
  | ControlOverrideSpec
  | FailoverSpec
  | FailbackSpec
  | RestorePointSpec
  | RestoreSpec
  | VerificationSpec
  | RestorePointDeleteSpec
  | ScheduleDeleteSpec
  | DrillSpec
  | DnsRecordDeleteSpec
  | DnsOverrideSpec;

export interface OperationStatus {
  operationId: string;
  kind: OperationKind;
  app: string;
  spec: OperationSpec;
  requestedBy: string;
  phase: OperationPhase;
  steps: OperationStep[];
  startedAt: string;
  endedAt?: string;
  error?: OperationError;
  /** The approval request: policy, decisions, who is still needed, voided rounds. */
  approval?: ApprovalState;
  /** Facts the operation recorded (e.g. the DNS values it replaced, the new fencing epoch). */
  facts: Record<string, unknown>;
}

export function isTerminal(phase: OperationPhase): boolean {
  return TERMINAL_PHASES.includes(phase);
}

/** One line saying what the operation is about, for tables and logs. */
export function describeOperation(op: Pick<OperationStatus, 'kind' | 'app' | 'spec'>): string {
  const s = op.spec as Partial<FailoverSpec & RestoreSpec> & {
    trigger?: string;
    restorePointId?: string;
    restorePointIds?: string[];
    scheduleName?: string;
    recordName?: string;
  };
  switch (op.kind) {
    case 'failover':
      return `failover of ${op.app} to ${s.to ?? '?'} (${s.mode ?? '?'})`;
    case 'failback':
      return `failback of ${op.app} to ${s.to ?? '?'}`;
    case 'restore-point':
      return `restore point of ${op.app}${s.trigger === 'schedule' ? ' (scheduled)' : s.trigger === 'failover' ? ' (final, of a failover)' : ''}`;
    case 'restore':
      return `restore of ${op.app} from ${s.restorePointId ?? '?'} into ${s.region ?? '?'}`;
    case 'verification':
      return `verification of ${op.app}'s restore points${s.trigger === 'schedule' ? ' (scheduled)' : ''}`;
    case 'restore-point-delete':
      return `soft delete of ${s.restorePointIds ? `${s.restorePointIds.length} restore points` : (s.restorePointId ?? '?')}${s.trigger === 'retention' ? ' (retention)' : ''}`;
    case 'drill':
      return `drill of ${op.app}${s.trigger === 'schedule' ? ' (scheduled)' : ''}`;
    case 'schedule-delete':
      return `soft delete of schedule ${s.scheduleName ?? '?'} of ${op.app}`;
    case 'region-remove':
      return `removal of region ${s.region ?? '?'} from ${op.app}`;
    case 'control-override':
      return `override of ${op.app}'s control state: ${(op.spec as Partial<ControlOverrideSpec>).action ?? '?'} ${s.region ?? '?'}`;
    case 'dns-record-delete':
      return `removal of DNS record ${s.recordName ?? '?'} of ${op.app}`;
    case 'dns-override':
      return `override of DNS record ${s.recordName ?? '?'} of ${op.app} to ${s.region ?? '?'}`;
  }
}

/** The region an operation moves the app to or writes into, if any. */
export function targetRegionOf(op: Pick<OperationStatus, 'kind' | 'spec'>): string | undefined {
  const s = op.spec as Partial<FailoverSpec & RestoreSpec>;
  return op.kind === 'failover' || op.kind === 'failback'
    ? s.to
    : op.kind === 'restore'
      ? s.region
      : undefined;
}

/** How a failover runs: a planned switchover, an unplanned failover, or a failback home. */
export const FAILOVER_MODES = ['planned', 'unplanned', 'failback'] as const;
export type FailoverMode = (typeof FAILOVER_MODES)[number];

/**
 * The built-in steps of a failover's plan in each mode, in order. Custom steps from
 * `apps.<app>.failover.steps` are inserted before or after them by name (workflows/custom-steps.ts).
 */
export const FAILOVER_PLAN_STEPS: Record<FailoverMode, readonly string[]> = {
  planned: [
    'preflight',
    'approval',
    'quiesce',
    'final-restore-point',
    'fence',
    'restore',
    'promote',
    'dns',
    'verify',
    'commit',
  ],
  unplanned: ['preflight', 'approval', 'fence', 'restore', 'promote', 'dns', 'verify', 'commit'],
  failback: [
    'reprotect',
    'readiness',
    'approval',
    'quiesce',
    'final-restore-point',
    'fence',
    'restore',
    // Before the promote: a halted region is never made the writer.
    'unfence',
    'promote',
    'dns',
    'verify',
    'commit',
  ],
};

/** The steps of each kind of operation, in order. */
export const OPERATION_STEPS: Record<OperationKind, readonly string[]> = {
  // A failover's steps depend on its mode: FAILOVER_PLAN_STEPS (initialOperationStatus picks them).
  failover: FAILOVER_PLAN_STEPS.planned,
  failback: FAILOVER_PLAN_STEPS.failback,
  'restore-point': [
    'preflight',
    'quiesce',
    'snapshot',
    'release',
    'replicate',
    'commit',
    'lock',
    'retention',
  ],
  restore: ['preflight', 'approval', 'verify-artifacts', 'restore', 'verify'],
  // test-restore: Skipped unless the spec (or restorePoints.verification.testRestore) asks for one.
  verification: ['inventory', 'verify', 'repair', 'record', 'test-restore'],
  // window: the undo window (phase Undoable); then either undo or purge runs, the other is Skipped.
  // approval: only when the kind's approval policy requires one, or a bulk delete is above
  // softDelete.bulkApprovalThreshold; otherwise Skipped.
  'restore-point-delete': ['preflight', 'approval', 'tombstone', 'window', 'undo', 'purge'],
  // start: the app started on the restored scratch data and healthy (the measured RTO ends there).
  drill: ['preflight', 'restore', 'start', 'checks', 'cleanup'],
  'schedule-delete': ['preflight', 'approval', 'tombstone', 'window', 'undo', 'purge'],
  'region-remove': ['preflight', 'approval', 'tombstone', 'window', 'undo', 'purge'],
  // override: the change applied at once (nothing is hidden); purge drops the saved previous state.
  'control-override': ['preflight', 'approval', 'override', 'window', 'undo', 'purge'],
  'dns-record-delete': ['preflight', 'approval', 'tombstone', 'window', 'undo', 'purge'],
  // override: the record written to the region at once (nothing is hidden: no tombstone).
  'dns-override': ['preflight', 'approval', 'override', 'window', 'undo', 'purge'],
};

/** What a restore point or verification operation is started with (by the API or by a schedule). */
export interface RestorePointInput {
  app: string;
  spec: RestorePointSpec;
  requestedBy: string;
  taskQueuePrefix: string;
}

/** The status an operation's memo holds from the moment it is started, before a worker runs it. */
export function initialOperationStatus(
  kind: OperationKind,
  app: string,
  spec: OperationSpec,
  requestedBy: string,
  startedAt: string,
): Omit<OperationStatus, 'operationId'> {
  return {
    kind,
    app,
    spec,
    requestedBy,
    phase: 'Running',
    steps: (kind === 'failover' && (spec as FailoverSpec).mode === 'unplanned'
      ? FAILOVER_PLAN_STEPS.unplanned
      : OPERATION_STEPS[kind]
    ).map((name) => ({ name, status: 'Pending' as const })),
    startedAt,
    facts: {},
  };
}
