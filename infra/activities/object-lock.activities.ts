import {
  latestDate,
  OBJECT_LOCK_SCHEMA,
  type RegionLockResult,
  restorePointsToLock,
} from '../../workflows/object-lock';
import { isRemoved, regionTarget } from '../../workflows/control';
import type { ControlStateStore } from '../storage/control-state.store';
import { describeS3Error } from '../storage/s3.client';
import type { BackupDeps } from './restore-point.activities';

/**
 * Activities of S3 Object Lock (docs/soft-deletes.md#object-lock), on the coordinator queue: they
 * reach every region's bucket directly. Locking is idempotent: a version locked as long already is
 * left as it is, a retry puts the same date again.
 */
export function createObjectLockActivities(
  deps: Pick<BackupDeps, 'artifacts' | 'catalog' | 'logger'> & {
    controlState?: Pick<ControlStateStore, 'read'>;
  },
) {
  /**
   * Regions removed from the app (region-remove): never locked again, so that the removal's purge
   * can delete their copies once the last lock runs out. Unreadable control state: none skipped.
   */
  const removedRegions = async (app: string): Promise<Set<string>> => {
    if (!deps.controlState) return new Set();
    try {
      const { state } = await deps.controlState.read(app);
      return new Set(deps.artifacts.regions(app).filter((r) => isRemoved(state, regionTarget(r))));
    } catch {
      return new Set();
    }
  };

  return {
    /**
     * Locks the newest `keepNewest` committed, not soft-deleted restore points of the app until
     * `until`, in every region whose bucket has Object Lock enabled and holds the restore point's
     * manifest, and records each region's lock (`locks/<id>.json`). A region without Object Lock
     * is reported `unsupported` (and recorded so), an unreadable one `unreachable`, a region removed
     * from the app `removed` (not locked); none of them fails.
     */
    async lockNewestRestorePoints(input: {
      app: string;
      operationId: string;
      keepNewest: number;
      until: string;
    }): Promise<{ restorePointIds: string[]; regions: RegionLockResult[] }> {
      const { app, until } = input;
      const listing = await deps.catalog.list(app, Date.now(), { includeDeleted: true });
      const ids = restorePointsToLock(
        listing.items.map((i) => ({ id: i.id, cutAt: i.cutAt, deleted: i.deleted !== undefined })),
        input.keepNewest,
      );
      const present = new Map(
        listing.items.map((i) => [i.id, new Set(i.copies.filter((c) => c.present).map((c) => c.region))]),
      );
      const lockedAt = new Date().toISOString();
      const removed = await removedRegions(app);
      const regions = await Promise.all(
        deps.artifacts.regions(app).map(async (region): Promise<RegionLockResult> => {
          if (removed.has(region)) return { region, objectLock: 'removed', restorePointIds: [] };
          try {
            if (!(await deps.artifacts.objectLockEnabled(app, region))) {
              for (const id of ids) {
                await deps.artifacts.writeLock(app, region, {
                  schema: OBJECT_LOCK_SCHEMA,
                  restorePointId: id,
                  region,
                  objectLock: 'unsupported',
                  lockedAt,
                  operationId: input.operationId,
                });
              }
              return { region, objectLock: 'unsupported', restorePointIds: [] };
            }
            // Only where the manifest is: artifacts without one are a failed attempt's, to be swept.
            const here = ids.filter((id) => present.get(id)?.has(region));
            let extended = 0;
            let kept = 0;
            for (const id of here) {
              const r = await deps.artifacts.lockRestorePoint(app, region, id, until);
              extended += r.extended;
              kept += r.kept;
              const before = await deps.artifacts.readLock(app, region, id);
              await deps.artifacts.writeLock(app, region, {
                schema: OBJECT_LOCK_SCHEMA,
                restorePointId: id,
                region,
                objectLock: 'locked',
                mode: 'COMPLIANCE',
                // A version kept at a later date (retainSeconds lowered since) is locked that long.
                lockedUntil: latestDate([until, before?.lockedUntil])!,
                lockedAt,
                operationId: input.operationId,
                versions: r.versions,
              });
            }
            return {
              region,
              objectLock: 'locked',
              restorePointIds: here,
              lockedUntil: until,
              extended,
              kept,
            };
          } catch (err) {
            return { region, objectLock: 'unreachable', restorePointIds: [], error: describeS3Error(err) };
          }
        }),
      );
      deps.logger.info({ app, restorePointIds: ids, until, regions }, 'newest restore points locked');
      return { restorePointIds: ids, regions };
    },

    /**
     * The latest retain-until date of any version of these restore points in any region, read
     * from the buckets (not the lock records); undefined when none is locked. Every region must
     * answer (an unreadable one fails the call, to be retried).
     */
    async restorePointsLockedUntil(input: {
      app: string;
      restorePointIds: string[];
    }): Promise<{ lockedUntil?: string; regions: { region: string; lockedUntil?: string }[] }> {
      const regions = await Promise.all(
        deps.artifacts.regions(input.app).map(async (region) => {
          if (!(await deps.artifacts.objectLockEnabled(input.app, region))) return { region };
          const dates: (string | undefined)[] = [];
          for (const id of input.restorePointIds) {
            dates.push(await deps.artifacts.lockedUntil(input.app, region, id));
          }
          const lockedUntil = latestDate(dates);
          return lockedUntil ? { region, lockedUntil } : { region };
        }),
      );
      return { lockedUntil: latestDate(regions.map((r) => r.lockedUntil)), regions };
    },
  };
}

export type ObjectLockActivities = ReturnType<typeof createObjectLockActivities>;
