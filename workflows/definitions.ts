import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApprovalState, DecisionRequest } from './approval';
import type { ControlRequest, ControlResult, ControlTransition } from './control';
import type { ControlState } from '../infra/storage/control-state.store';
import type { OperationKind, OperationStatus } from './operation';
import type {
  RecordRegionTransitionRequest,
  RecordRegionTransitionResult,
  RegionHealthBook,
} from './region-health';
import type { UndoRequest, UndoResult } from './soft-delete';

/**
 * Names shared by the API, the worker and the workflows: task queues, workflow ids,
 * operation ids, queries, search attributes. Pure: loaded in the workflow sandbox too.
 */

/** Workflows and region-independent activities (DNS, catalogue). */
export function coordinatorTaskQueue(prefix: string): string {
  return `${prefix}.coordinator`;
}

/** Activities that act on one region run there, so a failover survives the loss of another region's workers. */
export function regionTaskQueue(prefix: string, region: string): string {
  return `${prefix}.${region}`;
}

/**
 * Operations that change where an app runs hold the app's single operation slot: one workflow id
 * per app, started with WorkflowIdConflictPolicy FAIL, so a second request while one runs is refused
 * by Temporal itself rather than by a lock in some process's memory.
 */
export function appOperationWorkflowId(app: string): string {
  return appSlotWorkflowId(app, 'operation');
}

/**
 * An app's operation slots. `operation` is exclusive across failover, failback and restore (all
 * change what serves the app); `restore-point` serialises the taking of restore points, which can
 * run alongside them; `verification` serialises verifications (which read every copy and repair
 * broken ones), alongside both; `drill` serialises drills (they touch only scratch places, so they
 * run alongside everything else). Each slot is one workflow id: a second start while one runs is refused.
 */
export const OPERATION_SLOTS = ['operation', 'restore-point', 'verification', 'drill'] as const;
export type OperationSlot = (typeof OPERATION_SLOTS)[number];

export function appSlotWorkflowId(app: string, slot: OperationSlot): string {
  return `switchyard.app.${app}.${slot}`;
}

/**
 * Operations that hold no slot (a soft delete: many may be open at once, each for days) have a
 * workflow id of their own, `switchyard.app.<app>.op.<uuid>`, and the operation id `<app>-<uuid>`.
 */
export function appOwnOperationWorkflowId(app: string, uuid: string): string {
  return `switchyard.app.${app}.op.${uuid}`;
}

/**
 * An app's controller: one long-lived entity workflow per app that owns its control state (active
 * region, fencing epoch, writer, halted regions, current operation). Not an operation: it holds no
 * slot and carries no operation search attributes.
 */
export function appControllerWorkflowId(app: string): string {
  return `switchyard.app.${app}.controller`;
}

/**
 * How long a demo app instance keeps accepting writes after its last successful read of the control
 * state (the write lease, docs/fencing.md). A failover waits this long between the fence and the
 * promote, so an old writer that cannot read the buckets any more has stopped before a new one
 * starts. Configurable per app as `apps.<app>.fencing.writeLeaseSeconds`.
 */
export const WRITE_LEASE_MS = 2_000;

/** How often a demo app instance reads the control state from every region's bucket. */
export const LEASE_REFRESH_MS = 500;

/** What the controller's query answers. */
export interface ControllerView {
  state: ControlState;
  currentOperation: string | null;
  /** The most recent applied changes, oldest first. */
  transitions: ControlTransition[];
  /** Runs of the controller so far (continue-as-new). */
  generation: number;
}

/** Applies one change in order (validated, deduplicated by requestId, mirrored to every bucket). */
export const applyControlChangeUpdate = defineUpdate<ControlResult, [ControlRequest]>('applyControlChange');

/** The controller's state once every change accepted before this read is applied (starts it if needed). */
export const readControlUpdate = defineUpdate<ControlState, []>('readControl');

/** The controller's state; the API falls back to the buckets when Temporal cannot answer. */
export const controllerQuery = defineQuery<ControllerView>('controller');

/**
 * Records one region health transition from the API's quorum (workflows/region-health.ts): the
 * controller keeps each region's state and newest transitions, so a restarted API restores them.
 */
export const recordRegionTransitionUpdate = defineUpdate<
  RecordRegionTransitionResult,
  [RecordRegionTransitionRequest]
>('recordRegionTransition');

/** Each region's health state and transitions as the controller keeps them (answers before the control state is read). */
export const regionHealthQuery = defineQuery<RegionHealthBook>('regionHealth');

/** The id of an app's schedule (`name` is the schedule's name within the app, e.g. `restore-point`). */
export function appScheduleId(app: string, name: string): string {
  return `switchyard.app.${app}.schedule.${name}`;
}

const RUN_ID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An operation id is `<app>-<run id of its workflow>`: stable, unique, and enough to find the workflow. */
export function operationIdOf(app: string, runId: string): string {
  return `${app}-${runId}`;
}

/**
 * The app and uuid of an operation id. The uuid is either the run id of a slot's workflow (found by
 * asking Temporal for that run under each slot's workflow id, `workflowIds`, in slot order) or the
 * suffix of an operation's own workflow id (`ownWorkflowId`, whose latest run it is).
 */
export function parseOperationId(
  id: string,
): { app: string; runId: string; workflowIds: string[]; ownWorkflowId: string } | null {
  const m = RUN_ID.exec(id);
  if (!m || m.index < 2 || id[m.index - 1] !== '-') return null;
  const app = id.slice(0, m.index - 1);
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(app)) return null;
  return {
    app,
    runId: m[0],
    workflowIds: OPERATION_SLOTS.map((slot) => appSlotWorkflowId(app, slot)),
    ownWorkflowId: appOwnOperationWorkflowId(app, m[0]),
  };
}

export const WORKFLOW_TYPES: Record<OperationKind, string> = {
  failover: 'failoverWorkflow',
  failback: 'failbackWorkflow',
  'restore-point': 'restorePointWorkflow',
  restore: 'restoreWorkflow',
  verification: 'verificationWorkflow',
  'restore-point-delete': 'restorePointDeleteWorkflow',
  drill: 'drillWorkflow',
  'schedule-delete': 'scheduleDeleteWorkflow',
  'region-remove': 'regionRemoveWorkflow',
  'control-override': 'controlOverrideWorkflow',
  'dns-record-delete': 'dnsRecordDeleteWorkflow',
  'dns-override': 'dnsOverrideWorkflow',
};

/**
 * Soft deletes (docs/soft-deletes.md): each holds no slot and runs under a workflow id of its own
 * (appOwnOperationWorkflowId), is undoable until `facts.undoableUntil`, then purges its target.
 */
export const SOFT_DELETE_KINDS = [
  'restore-point-delete',
  'schedule-delete',
  'region-remove',
  'control-override',
  'dns-record-delete',
  'dns-override',
] as const;
export type SoftDeleteKind = (typeof SOFT_DELETE_KINDS)[number];

export function isSoftDeleteKind(kind: string): kind is SoftDeleteKind {
  return (SOFT_DELETE_KINDS as readonly string[]).includes(kind);
}

/** Kinds that hold a slot; the others run under a workflow id of their own (appOwnOperationWorkflowId). */
export type SlottedOperationKind = Exclude<OperationKind, SoftDeleteKind>;

/** The slot each kind of operation holds. */
export const OPERATION_SLOT_OF: Record<SlottedOperationKind, OperationSlot> = {
  failover: 'operation',
  failback: 'operation',
  'restore-point': 'restore-point',
  restore: 'operation',
  verification: 'verification',
  drill: 'drill',
};

/** What a Temporal Schedule starts: a thin workflow that starts the real operation in its slot. */
export const SCHEDULED_WORKFLOW_TYPE = 'scheduledOperationWorkflow';

export const searchAttributes = {
  app: defineSearchAttributeKey('SwitchyardApp', 'KEYWORD'),
  kind: defineSearchAttributeKey('SwitchyardKind', 'KEYWORD'),
  phase: defineSearchAttributeKey('SwitchyardPhase', 'KEYWORD'),
};

/** The search attributes every operation's workflow starts with. */
export function operationSearchAttributes(app: string, kind: OperationKind) {
  return [
    { key: searchAttributes.app, value: app },
    { key: searchAttributes.kind, value: kind as string },
    { key: searchAttributes.phase, value: 'Running' },
  ];
}

/** The names the dev server must be started with (`--search-attribute Name=Keyword`). */
export const SEARCH_ATTRIBUTE_NAMES = Object.values(searchAttributes).map((k) => k.name);

/** Memo key holding the latest OperationStatus, readable from describe() without a worker. */
export const STATUS_MEMO_KEY = 'status';

export const operationStatusQuery = defineQuery<OperationStatus>('operationStatus');

/** An approver's decision, sent by the API with the identity it authenticated. */
export const decideApprovalUpdate = defineUpdate<ApprovalState, [DecisionRequest]>('decideApproval');

/** An operator's cancel of a failover or failback before its commit (docs/failover.md, Cancel). */
export interface CancelRequest {
  by: string;
  reason: string;
  requestId?: string;
}
export interface CancelResult {
  operationId: string;
  cancelledAt: string;
  by: string;
  /** The step that was running when the cancel arrived (it is interrupted, then compensated). */
  step?: string;
}
export const cancelUpdate = defineUpdate<CancelResult, [CancelRequest]>('cancel');

/** Undo of a soft delete within its window; the workflow's validator refuses once it has passed. */
export const undoUpdate = defineUpdate<UndoResult, [UndoRequest]>('undo');

/** The `schema` of every restore point manifest this version writes. */
export const MANIFEST_SCHEMA = 'switchyard.restore-point/v1';

const RESTORE_POINT_ID = /^([a-z][a-z0-9-]{0,39})-(\d{8}T\d{6}Z)-([0-9a-f]{8})$/;

/** `<app>-<yyyymmddThhmmssZ>-<8 hex>`: sortable by time within an app, and names its app. */
export function restorePointIdOf(app: string, at: Date, unique: string): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${app}-${stamp}-${unique
    .replace(/[^0-9a-f]/g, '')
    .slice(0, 8)
    .padEnd(8, '0')}`;
}

export function parseRestorePointId(id: string): { app: string; at: Date } | null {
  const m = RESTORE_POINT_ID.exec(id);
  if (!m) return null;
  const s = m[2]!;
  const at = new Date(
    `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`,
  );
  return Number.isNaN(at.getTime()) ? null : { app: m[1]!, at };
}
