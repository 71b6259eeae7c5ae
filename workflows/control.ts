import type {
  ControlState,
  ControlTombstone,
  ControlTombstoneKind,
} from '../infra/storage/control-state.store';

/**
 * The changes an app's controller applies to its control state (docs/fencing.md), as pure
 * functions: the controller workflow, its tests and the docs share one definition of what each
 * change does and which ones are refused.
 */
export type ControlChange =
  /** current operation := operationId (refused while another operation holds it). */
  | { type: 'claim'; operationId: string }
  /** current operation := none (a no-op when `operationId` does not hold it any more). */
  | { type: 'release'; operationId: string }
  /** writer = null: a planned switchover lets no new writes in anywhere. */
  | { type: 'quiesce'; region: string; operationId: string }
  /** epoch + 1, writer = null, halted += region. */
  | { type: 'fence'; region: string; operationId: string }
  /** writer = region (refused for a halted region). */
  | { type: 'promote'; region: string; operationId: string }
  /** activeRegion = region: the commit (refused for a halted region). */
  | { type: 'activate'; region: string; operationId: string }
  /** halted -= region: only a failback does this. */
  | { type: 'unfence'; region: string; operationId: string }
  /** Compensation: back to previous activeRegion/writer/halted, epoch = current + 1. */
  | { type: 'restore'; previous: ControlState; operationId: string }
  /** tombstones += tombstone: a soft delete hides a DNS record or a region (refused when another has it). */
  | { type: 'tombstone'; tombstone: ControlTombstone; operationId: string }
  /** The undo: the target's tombstone removed, when it is this operation's (a no-op otherwise). */
  | { type: 'untombstone'; target: string; operationId: string }
  /** The purge: this operation's tombstone of the target gets `purgedAt`; the removal is final. */
  | { type: 'purge-tombstone'; target: string; operationId: string }
  /**
   * An operator's override (docs/fencing.md#overrides): `halt` (epoch + 1, halted += region, no
   * writer if it was the writer), `unhalt` (halted -= region), `set-active` (activeRegion and
   * writer := region; epoch + 1 when the writer changes). Refused when it would change nothing
   * (`override-no-op`), for a removed region (`region-removed`, halt excepted) and set-active of a
   * halted one (`region-halted`).
   */
  | { type: 'override'; action: ControlOverrideAction; region: string; operationId: string };

export const CONTROL_OVERRIDE_ACTIONS = ['halt', 'unhalt', 'set-active'] as const;
export type ControlOverrideAction = (typeof CONTROL_OVERRIDE_ACTIONS)[number];

export type ControlChangeType = ControlChange['type'];

export const CONTROL_CHANGE_TYPES: readonly ControlChangeType[] = [
  'claim',
  'release',
  'quiesce',
  'fence',
  'promote',
  'activate',
  'unfence',
  'restore',
  'tombstone',
  'untombstone',
  'purge-tombstone',
  'override',
];

/** The changes that name no region (the others must name one of the app's). */
const REGIONLESS: readonly ControlChangeType[] = [
  'claim',
  'release',
  'restore',
  'tombstone',
  'untombstone',
  'purge-tombstone',
];

const TOMBSTONE_KINDS: readonly string[] = [
  'dns-record-delete',
  'region-remove',
] satisfies ControlTombstoneKind[];

/** Whether `t` has the shape of a ControlTombstone (what a stored object or an update may carry). */
export function isControlTombstone(t: unknown): t is ControlTombstone {
  const o = (t ?? {}) as Record<string, unknown>;
  return (
    ['target', 'operationId', 'deletedAt', 'undoableUntil', 'by', 'reason'].every(
      (k) => typeof o[k] === 'string' && (o[k] as string).length > 0,
    ) &&
    TOMBSTONE_KINDS.includes(o.kind as string) &&
    (o.purgedAt === undefined || typeof o.purgedAt === 'string')
  );
}

/** The tombstone target of a DNS record of the app (its `dns.records[].name`). */
export function dnsRecordTarget(name: string): string {
  return `dns-record:${name}`;
}

/** The tombstone target of a region of the app. */
export function regionTarget(region: string): string {
  return `region:${region}`;
}

/** The target's tombstone, purged or not; undefined when it is not removed. */
export function tombstoneOf(
  state: Pick<ControlState, 'tombstones'>,
  target: string,
): ControlTombstone | undefined {
  return (state.tombstones ?? []).find((t) => t.target === target);
}

/** Whether the target is removed (tombstoned, within its undo window or purged): never used. */
export function isRemoved(state: Pick<ControlState, 'tombstones'>, target: string): boolean {
  return tombstoneOf(state, target) !== undefined;
}

export interface MirrorResult {
  region: string;
  ok: boolean;
  error?: string;
}

export interface ControlResult {
  state: ControlState;
  mirrored: MirrorResult[];
}

export interface ControlRequest {
  app: string;
  /** Applied once: the same requestId again answers the first application's result. */
  requestId: string;
  change: ControlChange;
}

/** One applied change, as the controller's query lists it. */
export interface ControlTransition {
  revision: number;
  requestId: string;
  change: ControlChange;
  at: string;
  epoch: number;
  activeRegion: string;
  writer: string | null;
  halted: string[];
}

/** A change refused by the rules below: the state is unchanged. */
export class ControlChangeError extends Error {
  constructor(
    message: string,
    readonly code:
      | 'invalid-change'
      | 'operation-held'
      | 'region-halted'
      | 'unknown-region'
      | 'already-tombstoned'
      | 'override-no-op'
      | 'region-removed',
  ) {
    super(message);
    this.name = 'ControlChangeError';
  }
}

/** Checks the shape of a request (what a validator can refuse before anything is queued). */
export function checkControlRequest(req: ControlRequest, regions: readonly string[]): void {
  if (typeof req.requestId !== 'string' || req.requestId.length === 0 || req.requestId.length > 200) {
    throw new ControlChangeError(
      'requestId must be a non-empty string of at most 200 characters',
      'invalid-change',
    );
  }
  const c = req.change as Partial<ControlChange> | undefined;
  if (!c || !CONTROL_CHANGE_TYPES.includes(c.type as ControlChangeType)) {
    throw new ControlChangeError(
      `change.type must be one of ${CONTROL_CHANGE_TYPES.join(', ')} (got ${JSON.stringify(c?.type)})`,
      'invalid-change',
    );
  }
  if (typeof c.operationId !== 'string' || c.operationId.length === 0) {
    throw new ControlChangeError(`change.operationId is required for "${c.type}"`, 'invalid-change');
  }
  if ('region' in c || !REGIONLESS.includes(c.type as ControlChangeType)) {
    const region = (c as { region?: unknown }).region;
    if (typeof region !== 'string' || !regions.includes(region)) {
      throw new ControlChangeError(
        `change.region ${JSON.stringify(region)} is not a region of app "${req.app}" (regions: ${regions.join(', ')})`,
        'unknown-region',
      );
    }
  }
  if (c.type === 'restore') {
    const p = (c as { previous?: Partial<ControlState> }).previous;
    if (!p || typeof p.activeRegion !== 'string' || !regions.includes(p.activeRegion)) {
      throw new ControlChangeError(
        'change.previous must be a control state whose activeRegion is a region of the app',
        'invalid-change',
      );
    }
  }
  if (c.type === 'tombstone') {
    const t = (c as { tombstone?: unknown }).tombstone;
    if (!isControlTombstone(t)) {
      throw new ControlChangeError(
        'change.tombstone must have target, kind (dns-record-delete or region-remove), operationId, deletedAt, undoableUntil, by and reason',
        'invalid-change',
      );
    }
    const expected = t.kind === 'region-remove' ? 'region:' : 'dns-record:';
    if (!t.target.startsWith(expected) || t.target.length === expected.length) {
      throw new ControlChangeError(
        `change.tombstone.target ${JSON.stringify(t.target)} must be "${expected}<name>" for kind ${t.kind}`,
        'invalid-change',
      );
    }
    if (t.kind === 'region-remove' && !regions.includes(t.target.slice(expected.length))) {
      throw new ControlChangeError(
        `change.tombstone.target ${JSON.stringify(t.target)} is not a region of app "${req.app}" (regions: ${regions.join(', ')})`,
        'unknown-region',
      );
    }
    if (t.operationId !== c.operationId) {
      throw new ControlChangeError(
        "change.tombstone.operationId must be the change's operationId",
        'invalid-change',
      );
    }
  }
  if (c.type === 'override') {
    const action = (c as { action?: unknown }).action;
    if (!CONTROL_OVERRIDE_ACTIONS.includes(action as ControlOverrideAction)) {
      throw new ControlChangeError(
        `change.action must be one of ${CONTROL_OVERRIDE_ACTIONS.join(', ')} (got ${JSON.stringify(action)})`,
        'invalid-change',
      );
    }
  }
  if (c.type === 'untombstone' || c.type === 'purge-tombstone') {
    const target = (c as { target?: unknown }).target;
    if (typeof target !== 'string' || target.length === 0) {
      throw new ControlChangeError(`change.target is required for "${c.type}"`, 'invalid-change');
    }
  }
}

/**
 * The state after `change`, or a ControlChangeError naming why it is refused. `at` is the time of
 * the change (the workflow's clock); `revision` always rises by one.
 */
export function applyControlChange(state: ControlState, change: ControlChange, at: string): ControlState {
  const holder = state.currentOperation ?? null;
  const next: ControlState = {
    ...state,
    halted: [...state.halted],
    tombstones: [...(state.tombstones ?? [])],
    updatedAt: at,
    revision: (state.revision ?? 0) + 1,
    operationId: change.operationId,
  };
  const refuseHalted = (region: string, what: string) => {
    if (state.halted.includes(region)) {
      throw new ControlChangeError(
        `cannot ${what} region ${region}: it is halted (fenced at or before epoch ${state.epoch}); only a failback unfences it`,
        'region-halted',
      );
    }
  };
  switch (change.type) {
    case 'claim':
      if (holder !== null && holder !== change.operationId) {
        throw new ControlChangeError(
          `operation ${holder} holds app "${state.app}"; ${change.operationId} cannot claim it`,
          'operation-held',
        );
      }
      next.currentOperation = change.operationId;
      return next;
    case 'release':
      next.currentOperation = holder === change.operationId ? null : holder;
      return next;
    case 'quiesce':
      next.writer = null;
      return next;
    case 'fence':
      next.epoch = state.epoch + 1;
      next.writer = null;
      if (!next.halted.includes(change.region)) next.halted.push(change.region);
      return next;
    case 'promote':
      refuseHalted(change.region, 'promote');
      next.writer = change.region;
      return next;
    case 'activate':
      refuseHalted(change.region, 'activate');
      next.activeRegion = change.region;
      return next;
    case 'unfence':
      next.halted = next.halted.filter((r) => r !== change.region);
      return next;
    case 'restore':
      next.activeRegion = change.previous.activeRegion;
      next.writer = change.previous.writer ?? null;
      next.halted = [...(change.previous.halted ?? [])];
      next.epoch = state.epoch + 1;
      return next;
    case 'tombstone': {
      const existing = tombstoneOf(state, change.tombstone.target);
      if (existing && existing.operationId !== change.operationId) {
        throw new ControlChangeError(
          `${change.tombstone.target} is removed already by operation ${existing.operationId}${existing.purgedAt ? ` (purged at ${existing.purgedAt})` : ` (undoable until ${existing.undoableUntil})`}`,
          'already-tombstoned',
        );
      }
      if (!existing) next.tombstones!.push({ ...change.tombstone });
      return next;
    }
    case 'untombstone':
      next.tombstones = next.tombstones!.filter(
        (t) => !(t.target === change.target && t.operationId === change.operationId),
      );
      return next;
    case 'purge-tombstone':
      next.tombstones = next.tombstones!.map((t) =>
        t.target === change.target && t.operationId === change.operationId && !t.purgedAt
          ? { ...t, purgedAt: at }
          : t,
      );
      return next;
    case 'override': {
      const conflict = overrideConflict(state, change.action, change.region);
      if (conflict) throw new ControlChangeError(conflict.message, conflict.code);
      const region = change.region;
      if (change.action === 'halt') {
        next.epoch = state.epoch + 1;
        if (state.writer === region) next.writer = null;
        next.halted.push(region);
      } else if (change.action === 'unhalt') {
        next.halted = next.halted.filter((r) => r !== region);
      } else {
        // A new writer gets a new fencing epoch: whatever wrote before (also before a hand-over
        // that cleared the writer) holds an epoch that is no longer the current one.
        if (state.writer !== region) next.epoch = state.epoch + 1;
        next.activeRegion = region;
        next.writer = region;
      }
      return next;
    }
    default: {
      const never: never = change;
      throw new ControlChangeError(`unknown change ${JSON.stringify(never)}`, 'invalid-change');
    }
  }
}

/**
 * R: how many of the app's `n` control-state buckets (every region's, plus the fencing witness
 * when configured) a write lease must read: a majority, so that two leases can never be granted
 * from disjoint reads.
 */
export function leaseReadQuorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * W: how many buckets must hold a fence so that every lease read (R buckets) includes at least one
 * of them: W + R > n, and no more, so W = n - R + 1. n = 2: R = 2, W = 1; n = 3 (two regions and
 * a witness): R = 2, W = 2; n = 4: R = 3, W = 2.
 */
export function fenceWriteQuorum(n: number): number {
  return n - leaseReadQuorum(n) + 1;
}

/**
 * A fence counts once `fenceWriteQuorum` of all the buckets hold it: every instance that reads a
 * lease quorum then sees it. The fenced region's own bucket is not required (in an unplanned
 * failover it may be gone with its region); the failover checks its target's copy itself.
 */
export function fenceRecorded(mirrored: readonly MirrorResult[]): boolean {
  return mirrored.filter((m) => m.ok).length >= fenceWriteQuorum(mirrored.length);
}

/**
 * Whether a region could be given a write lease with the buckets that answered: a lease reads
 * `leaseReadQuorum` of them. A fence recorded without this stops every old writer but leaves the
 * app with none.
 */
export function leaseQuorumReachable(mirrored: readonly MirrorResult[]): boolean {
  return mirrored.filter((m) => m.ok).length >= leaseReadQuorum(mirrored.length);
}

/** Why an override cannot be applied to `state`, or null (checked by the controller, the API and the workflow). */
export function overrideConflict(
  state: Pick<ControlState, 'app' | 'activeRegion' | 'writer' | 'halted' | 'epoch' | 'tombstones'>,
  action: ControlOverrideAction,
  region: string,
): { code: 'override-no-op' | 'region-halted' | 'region-removed'; message: string } | null {
  const removed = tombstoneOf(state, regionTarget(region));
  // Halting a removed region stays allowed: it only takes writes away.
  if (removed && action !== 'halt') {
    return {
      code: 'region-removed',
      message:
        `region "${region}" is removed from app "${state.app}" by operation ${removed.operationId}` +
        (removed.purgedAt
          ? ` (final since ${removed.purgedAt})`
          : ` (undoable until ${removed.undoableUntil})`) +
        `: it cannot be ${action === 'unhalt' ? 'unhalted' : 'made active'}`,
    };
  }
  const halted = state.halted.includes(region);
  if (action === 'halt' && halted) {
    return {
      code: 'override-no-op',
      message: `region "${region}" of app "${state.app}" is already halted (epoch ${state.epoch}): nothing to override`,
    };
  }
  if (action === 'unhalt' && !halted) {
    return {
      code: 'override-no-op',
      message: `region "${region}" of app "${state.app}" is not halted: nothing to unhalt`,
    };
  }
  if (action === 'set-active' && halted) {
    return {
      code: 'region-halted',
      message: `region "${region}" of app "${state.app}" is halted: unhalt it first (or fail back to it)`,
    };
  }
  if (action === 'set-active' && state.activeRegion === region && state.writer === region) {
    return {
      code: 'override-no-op',
      message: `region "${region}" is already app "${state.app}"'s active region and writer: nothing to override`,
    };
  }
  return null;
}
