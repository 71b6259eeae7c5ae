import type { ApprovalPolicy } from './approval';
import type { SoftDeleteKind } from './definitions';
import type { RestorePointDeleteSpec, ScheduleDeleteSpec } from './operation';
import type { SupportedScheduleKind } from './scheduled.workflow';

/**
 * Soft deletes of restore points (docs/soft-deletes.md): pure types and the guard rails, shared by
 * the API (which refuses up front) and the soft-delete workflow (which checks again before it
 * tombstones anything, and is all retention has). Deterministic: loaded in the workflow sandbox.
 */

/** `<prefix>apps/<app>/tombstones/<restorePointId>.json` in every reachable region's bucket. */
export interface Tombstone {
  schema: typeof TOMBSTONE_SCHEMA;
  restorePointId: string;
  operationId: string;
  deletedAt: string;
  undoableUntil: string;
  by: string;
  reason: string;
}

export const TOMBSTONE_SCHEMA = 'switchyard.tombstone/v1';

/**
 * A soft-deleted schedule's tombstone: kept in the schedule's own action input
 * (ScheduledOperationInput.deleted), with the schedule paused, until undo or purge.
 */
export interface ScheduleTombstone {
  operationId: string;
  deletedAt: string;
  undoableUntil: string;
  by: string;
  reason: string;
}

/** What undo gives back to a soft-deleted schedule: its state (and, to recreate it, all of it). */
export interface ScheduleSnapshot {
  name: string;
  kind: SupportedScheduleKind;
  timing: { everySeconds: number } | { cron: string };
  catchupWindowSeconds: number;
  paused: boolean;
  note: string;
  createdBy: string;
}

/** What a schedule's soft delete is started with (by the API). */
export interface ScheduleDeleteInput {
  app: string;
  operationId: string;
  spec: ScheduleDeleteSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  undoableUntil: string;
  windowSeconds?: number;
  approval?: SoftDeleteApproval;
}

/** What the API sends with an undo: who asks (authenticated by the API) and why. */
export interface UndoRequest {
  by: string;
  reason: string;
  requestId?: string;
}

export interface UndoResult {
  operationId: string;
  kind: SoftDeleteKind;
  /** What is back, in words: `restore point <id>`, `schedule <name>`. */
  target: string;
  /** The restore point that is back (restore-point-delete; of a bulk delete, the first). */
  restorePointId?: string;
  /** Every restore point that is back (a bulk delete). */
  restorePointIds?: string[];
  /** The schedule that is back (schedule-delete). */
  scheduleName?: string;
  /** The region that is back (region-remove), or whose override was undone (control-override). */
  region?: string;
  /** The DNS record that is back (dns-record-delete), or whose override was undone (dns-override). */
  recordName?: string;
  /** The override that was undone (control-override): halt, unhalt or set-active. */
  action?: string;
  undoneAt: string;
  by: string;
}

/** Codes of an undo the workflow refuses (its validator: nothing happens). */
export const UNDO_REFUSALS = {
  windowClosed: 'undo-window-closed',
  alreadyUndone: 'already-undone',
  notUndoable: 'not-undoable',
} as const;

/** Codes of a delete refused by a guard rail: nothing is tombstoned. */
export const DELETE_REFUSALS = {
  alreadyDeleted: 'restore-point-already-deleted',
  lastWayBack: 'restore-point-protected',
  inRpoWindow: 'restore-point-in-rpo-window',
  inUse: 'restore-point-in-use',
  notFound: 'restore-point-not-found',
} as const;

/** Codes of a schedule's delete refused: nothing is paused or tombstoned. */
export const SCHEDULE_DELETE_REFUSALS = {
  notFound: 'schedule-not-found',
  alreadyDeleted: 'schedule-already-deleted',
} as const;

/**
 * Why each of `ids` may not be deleted together, in order; empty when all may. Each is checked as if
 * the ones before it were deleted already, so a bulk delete never takes the app's last way back.
 */
export function bulkDeleteRefusals(
  ids: readonly string[],
  points: readonly DeletablePoint[],
  opts: { now: Date; rpoSeconds: number; inUseBy?: (id: string) => string | undefined },
): { id: string; refusal: DeleteRefusal }[] {
  const out: { id: string; refusal: DeleteRefusal }[] = [];
  let view = [...points];
  for (const id of ids) {
    const refusal = deleteRefusal(id, view, { ...opts, inUseBy: opts.inUseBy?.(id) });
    if (refusal) out.push({ id, refusal });
    view = view.map((p) => (p.id === id && !p.deletedBy ? { ...p, deletedBy: '(this request)' } : p));
  }
  return out;
}

/** What the guard rails need to know of each restore point of the app. */
export interface DeletablePoint {
  id: string;
  cutAt: string;
  /** Its latest verification status, if any. */
  verification?: string;
  /** Tombstoned (by which operation). */
  deletedBy?: string;
}

export interface DeleteRefusal {
  code: (typeof DELETE_REFUSALS)[keyof typeof DELETE_REFUSALS];
  message: string;
  details?: Record<string, unknown>;
}

const GOOD_VERIFICATION = new Set(['verified', 'repaired']);

/**
 * The restore point the app must keep whatever happens: the newest verified (or repaired) one that
 * is not deleted; when none is verified, the newest one that is not deleted.
 */
export function protectedRestorePoint(points: readonly DeletablePoint[]): DeletablePoint | undefined {
  const live = points.filter((p) => !p.deletedBy);
  const newest = (xs: DeletablePoint[]) =>
    [...xs].sort((a, b) => (a.cutAt < b.cutAt ? 1 : a.cutAt > b.cutAt ? -1 : a.id < b.id ? 1 : -1))[0];
  return newest(live.filter((p) => GOOD_VERIFICATION.has(p.verification ?? ''))) ?? newest(live);
}

/**
 * Why `id` may not be deleted now, or null. In order: it does not exist, it is already deleted,
 * it is the app's last way back, it lies inside the RPO window, an operation uses it.
 */
export function deleteRefusal(
  id: string,
  points: readonly DeletablePoint[],
  opts: { now: Date; rpoSeconds: number; inUseBy?: string },
): DeleteRefusal | null {
  const target = points.find((p) => p.id === id);
  if (!target) {
    return { code: DELETE_REFUSALS.notFound, message: `no restore point with id "${id}"` };
  }
  if (target.deletedBy) {
    return {
      code: DELETE_REFUSALS.alreadyDeleted,
      message: `restore point ${id} is already deleted (operation ${target.deletedBy}); undo that operation to bring it back`,
      details: { operationId: target.deletedBy },
    };
  }
  const keep = protectedRestorePoint(points);
  if (keep?.id === id) {
    const verified = GOOD_VERIFICATION.has(target.verification ?? '');
    return {
      code: DELETE_REFUSALS.lastWayBack,
      message: `restore point ${id} is the app's newest ${verified ? 'verified' : 'committed (none is verified)'} restore point: the app must never be left without a way back`,
    };
  }
  const windowStart = opts.now.getTime() - opts.rpoSeconds * 1000;
  if (Date.parse(target.cutAt) > windowStart) {
    return {
      code: DELETE_REFUSALS.inRpoWindow,
      message: `restore point ${id} (cut ${target.cutAt}) is inside the RPO window (${opts.rpoSeconds}s): deletable from ${new Date(Date.parse(target.cutAt) + opts.rpoSeconds * 1000).toISOString()}`,
      details: { cutAt: target.cutAt, rpoSeconds: opts.rpoSeconds },
    };
  }
  if (opts.inUseBy) {
    return {
      code: DELETE_REFUSALS.inUse,
      message: `restore point ${id} is being used by operation ${opts.inUseBy}`,
      details: { operationId: opts.inUseBy },
    };
  }
  return null;
}

/** What a soft-delete workflow is started with (by the API, or by retention as a child). */
export interface RestorePointDeleteInput {
  app: string;
  /** `<app>-<uuid>`, the uuid being the suffix of the workflow id (appOwnOperationWorkflowId). */
  operationId: string;
  spec: RestorePointDeleteSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  /**
   * The end of the undo window, fixed by whoever started it (so its answer and the operation agree).
   * With an approval, the window starts once approved: `windowSeconds` from then.
   */
  undoableUntil: string;
  windowSeconds?: number;
  /** Set when the delete must be approved first (docs/soft-deletes.md#approvals). */
  approval?: SoftDeleteApproval;
}

/** Why a soft delete waits for approval, and under which policy (`policies.approvals.<kind>`). */
export interface SoftDeleteApproval {
  policy: ApprovalPolicy;
  why: string;
}
