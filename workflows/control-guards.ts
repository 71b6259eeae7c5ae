import type { ControlState } from '../infra/storage/control-state.store';
import {
  type ControlOverrideAction,
  isRemoved,
  overrideConflict,
  regionTarget,
  tombstoneOf,
} from './control';

export { CONTROL_OVERRIDE_ACTIONS, type ControlOverrideAction } from './control';

/**
 * The guard rails of the two soft operations on an app's control state (docs/soft-deletes.md):
 * removing a region (`region-remove`) and an operator's override (`control-override`). Pure: the
 * API refuses with them before anything starts, and the workflows check them again against the
 * controller's state while they hold the app (claim), so a refusal never changes anything.
 */

/** What an override changes, and what its undo puts back: compared field by field. */
export interface ControlSnapshot {
  activeRegion: string;
  writer: string | null;
  halted: string[];
}

export function snapshotOf(s: Pick<ControlState, 'activeRegion' | 'writer' | 'halted'>): ControlSnapshot {
  return { activeRegion: s.activeRegion, writer: s.writer ?? null, halted: [...s.halted].sort() };
}

export function sameSnapshot(a: ControlSnapshot, b: ControlSnapshot): boolean {
  const ha = [...a.halted].sort();
  const hb = [...b.halted].sort();
  return (
    a.activeRegion === b.activeRegion &&
    a.writer === b.writer &&
    ha.length === hb.length &&
    ha.every((r, i) => r === hb[i])
  );
}

/** A refusal: nothing is changed. `status` is the API's answer (the workflows ignore it). */
export interface ControlRefusal {
  code: string;
  status: 404 | 409 | 422;
  message: string;
  details?: Record<string, unknown>;
}

/** Codes of the refusals below (one name per concept, in the API, the workflows and the docs). */
export const CONTROL_REFUSALS = {
  regionNotFound: 'region-not-found',
  unknownRegion: 'unknown-region',
  regionActive: 'region-active',
  regionWriter: 'region-writer',
  lastStandby: 'last-standby',
  alreadyRemoved: 'region-already-removed',
  regionRemoved: 'region-removed',
  regionHalted: 'region-halted',
  noOp: 'override-no-op',
  operationInProgress: 'operation-in-progress',
  stateChanged: 'control-state-changed',
} as const;

/** The app's regions a failover could still go to or keep: not removed, not halted. */
export function usableRegions(state: ControlState, regions: readonly string[]): string[] {
  return regions.filter((r) => !state.halted.includes(r) && !isRemoved(state, regionTarget(r)));
}

/** 409 region-removed when `region` is removed from the app (tombstoned, purged or not); else null. */
export function removedRegionRefusal(
  state: ControlState,
  app: string,
  region: string,
  what: string,
): ControlRefusal | null {
  const t = tombstoneOf(state, regionTarget(region));
  if (!t) return null;
  return {
    code: CONTROL_REFUSALS.regionRemoved,
    status: 409,
    message:
      `region "${region}" is removed from app "${app}" by operation ${t.operationId}` +
      (t.purgedAt
        ? ` (final since ${t.purgedAt}; drop it from switchyard.yaml)`
        : ` (undo it before ${t.undoableUntil} to use the region again)`) +
      `: it cannot be ${what}`,
    details: {
      region,
      operationId: t.operationId,
      undoableUntil: t.undoableUntil,
      ...(t.purgedAt ? { purgedAt: t.purgedAt } : {}),
    },
  };
}

/**
 * Why `region` may not be removed from the app now, or null. In order: not a region of the app,
 * removed already, another operation holds the app, the active region, the writer, and the last
 * standby (fewer than two usable regions would be left: the app would be unprotected).
 */
export function regionRemoveRefusal(
  state: ControlState,
  app: string,
  region: string,
  regions: readonly string[],
  operationId?: string,
): ControlRefusal | null {
  if (!regions.includes(region)) {
    return {
      code: CONTROL_REFUSALS.regionNotFound,
      status: 404,
      message: `app "${app}" has no region "${region}" (regions: ${regions.join(', ')})`,
      details: { regions: [...regions] },
    };
  }
  const t = tombstoneOf(state, regionTarget(region));
  if (t && t.operationId !== operationId) {
    return {
      code: CONTROL_REFUSALS.alreadyRemoved,
      status: 409,
      message: t.purgedAt
        ? `region "${region}" of app "${app}" was removed for good by operation ${t.operationId} (purged at ${t.purgedAt}); drop it from switchyard.yaml`
        : `region "${region}" of app "${app}" is already removed (operation ${t.operationId}); undo that operation to bring it back`,
      details: { operationId: t.operationId, undoableUntil: t.undoableUntil, purgedAt: t.purgedAt },
    };
  }
  const held = state.currentOperation ?? null;
  if (held !== null && held !== operationId) {
    return operationInProgress(app, held);
  }
  if (state.activeRegion === region) {
    return {
      code: CONTROL_REFUSALS.regionActive,
      status: 409,
      message: `region "${region}" is app "${app}"'s active region: fail the app over to another region first`,
      details: { activeRegion: state.activeRegion },
    };
  }
  if (state.writer === region) {
    return {
      code: CONTROL_REFUSALS.regionWriter,
      status: 409,
      message: `region "${region}" is app "${app}"'s writer: its instances take the writes`,
      details: { writer: state.writer },
    };
  }
  const left = usableRegions(state, regions).filter((r) => r !== region);
  if (left.length < 2) {
    return {
      code: CONTROL_REFUSALS.lastStandby,
      status: 409,
      message:
        `removing region "${region}" would leave app "${app}" with ${left.length} usable region(s) ` +
        `(${left.join(', ') || 'none'}; halted: ${state.halted.join(', ') || 'none'}): ` +
        `with fewer than two it has no standby to fail over to and would be unprotected`,
      details: { usable: left, halted: [...state.halted] },
    };
  }
  return null;
}

export function operationInProgress(app: string, operationId: string): ControlRefusal {
  return {
    code: CONTROL_REFUSALS.operationInProgress,
    status: 409,
    message: `operation ${operationId} holds app "${app}": wait until it ends`,
    details: { operationId },
  };
}

/**
 * Why an override may not be applied now, or null. In order: not a region of the app (422), the
 * region is removed, another operation holds the app, and an override that would change nothing
 * or may not be made (halting a halted region, unhalting one that is not, set-active of a halted
 * region or of the region that already is active and the writer).
 */
export function overrideRefusal(
  state: ControlState,
  app: string,
  action: ControlOverrideAction,
  region: string,
  regions: readonly string[],
  operationId?: string,
): ControlRefusal | null {
  if (!regions.includes(region)) {
    return {
      code: CONTROL_REFUSALS.unknownRegion,
      status: 422,
      message: `app "${app}" has no region "${region}" (regions: ${regions.join(', ')})`,
      details: { regions: [...regions] },
    };
  }
  const held = state.currentOperation ?? null;
  if (held !== null && held !== operationId) return operationInProgress(app, held);
  const conflict = overrideConflict(state, action, region);
  if (!conflict) return null;
  const t = tombstoneOf(state, regionTarget(region));
  return {
    code: conflict.code,
    status: 409,
    message: conflict.message,
    details:
      conflict.code === 'region-removed'
        ? { region, operationId: t?.operationId, undoableUntil: t?.undoableUntil, purgedAt: t?.purgedAt }
        : { ...snapshotOf(state), epoch: state.epoch },
  };
}

/**
 * Whether an override's undo may put `previous` back: only while the state still is what the
 * override set (`expected`); else 409 control-state-changed with both, nothing changed.
 */
export function overrideUndoRefusal(
  app: string,
  operationId: string,
  expected: ControlSnapshot,
  current: ControlState,
  /** Who changed it last, seen before this operation claimed the app (the claim is its own change). */
  changedBy: string | null = current.operationId ?? null,
): ControlRefusal | null {
  const now = snapshotOf(current);
  if (sameSnapshot(expected, now)) return null;
  return {
    code: CONTROL_REFUSALS.stateChanged,
    status: 409,
    message:
      `the control state of app "${app}" changed since override ${operationId}: it set ` +
      `${describeSnapshot(expected)}, it is now ${describeSnapshot(now)}` +
      `${changedBy && changedBy !== operationId ? ` (last changed by ${changedBy})` : ''}; ` +
      `nothing was changed`,
    details: { expected, current: now, changedBy: changedBy !== operationId ? changedBy : null },
  };
}

export function describeSnapshot(s: ControlSnapshot): string {
  return `active ${s.activeRegion}, writer ${s.writer ?? 'none'}, halted ${s.halted.length ? s.halted.join(', ') : 'none'}`;
}
