/**
 * S3 Object Lock of restore points (docs/soft-deletes.md#object-lock): which restore points are
 * locked after a commit, until when, and what a region's lock record says. Pure: no I/O, no clock.
 *
 * Every object version of the newest `keepNewest` committed, not soft-deleted restore points (its
 * artifacts, the objects of its object sets, its manifest) carries a COMPLIANCE retention until
 * `lockedUntil`; every commit moves that date on, never back (compliance mode refuses a shorter date,
 * to Switchyard's credentials as to anyone's). A restore point that falls out of the newest N keeps
 * the date it had; its versions become deletable once it has passed.
 */

export const OBJECT_LOCK_SCHEMA = 'switchyard.object-lock/v1';

/** How a region's bucket took the lock of one restore point. */
export type ObjectLockState = 'locked' | 'unsupported';

/** One region's record of a restore point's lock (`locks/<id>.json` in that region's bucket). */
export interface RestorePointLock {
  schema: typeof OBJECT_LOCK_SCHEMA;
  restorePointId: string;
  region: string;
  /** `unsupported`: the bucket has no Object Lock configuration; nothing there is locked. */
  objectLock: ObjectLockState;
  mode?: 'COMPLIANCE';
  /** The retain-until date of every version (the latest lock this restore point got). */
  lockedUntil?: string;
  /** When it was last locked or extended, and by which restore point operation. */
  lockedAt: string;
  operationId: string;
  /** How many object versions carry the retention. */
  versions?: number;
}

/** One region's outcome of a lock step. */
export interface RegionLockResult {
  region: string;
  /** `removed`: the region is removed from the app (a region-remove tombstone): nothing locked there. */
  objectLock: ObjectLockState | 'unreachable' | 'removed';
  /** Restore points locked there (empty when unsupported). */
  restorePointIds: string[];
  lockedUntil?: string;
  /** Versions whose date was set or moved on, and versions already locked as long or longer. */
  extended?: number;
  kept?: number;
  error?: string;
}

/**
 * The restore points to lock: the newest `keepNewest` committed ones that are not soft-deleted,
 * newest first (by cut time, then id).
 */
export function restorePointsToLock(
  points: readonly { id: string; cutAt: string; deleted?: boolean }[],
  keepNewest: number,
): string[] {
  return points
    .filter((p) => !p.deleted)
    .sort((a, b) => (a.cutAt === b.cutAt ? (a.id < b.id ? 1 : -1) : a.cutAt < b.cutAt ? 1 : -1))
    .slice(0, Math.max(0, keepNewest))
    .map((p) => p.id);
}

/**
 * The retain-until date of a lock taken at `nowMs`: `retainSeconds` later, rounded up to a whole
 * second (S3 answers HeadObject's ObjectLockRetainUntilDate in whole seconds).
 */
export function lockUntil(nowMs: number, retainSeconds: number): string {
  return new Date(Math.ceil((nowMs + retainSeconds * 1000) / 1000) * 1000).toISOString();
}

/**
 * What to put on a version whose retention is `current` so that it is locked in compliance mode
 * until at least `target`: the target, or null when it is locked as long already (a compliance
 * date is never shortened; a governance one is raised to compliance).
 */
export function retentionToSet(
  current: { mode?: string; retainUntil?: string } | null,
  target: string,
): string | null {
  if (
    current?.mode === 'COMPLIANCE' &&
    current.retainUntil &&
    Date.parse(current.retainUntil) >= Date.parse(target)
  ) {
    return null;
  }
  return target;
}

/** The latest of some dates (ISO), or undefined when there is none. */
export function latestDate(dates: readonly (string | undefined)[]): string | undefined {
  let best: string | undefined;
  for (const d of dates) if (d && (!best || Date.parse(d) > Date.parse(best))) best = d;
  return best;
}
