import { ApplicationFailure } from '@temporalio/common';
import { latestDate } from '../../workflows/object-lock';
import { layout } from '../backup/manifest';
import type { BackupDeps } from './restore-point.activities';

/**
 * The purge of a region's removal (docs/soft-deletes.md#removing-a-region), on the coordinator
 * queue: the app's restore-point copies in that region's bucket go, every version of them. The
 * control state's copy (control.json) stays: the region still counts in the fencing quorums until
 * switchyard.yaml drops it. Idempotent: a retry removes what is left.
 */
export function createRegionRemoveActivities(deps: Pick<BackupDeps, 'config' | 'artifacts' | 'logger'>) {
  const inConfig = (app: string, region: string) =>
    deps.config.apps[app]?.regions.some((r) => r.name === region) ?? false;
  return {
    /**
     * The latest Object Lock retention date of the app's restore-point copies in the region
     * (undefined when none is locked): no one can delete a locked version before it, so the purge
     * waits for it on a durable timer instead of failing (docs/soft-deletes.md#object-lock).
     */
    async regionCopiesLockedUntil(input: { app: string; region: string }): Promise<{ lockedUntil?: string }> {
      if (!inConfig(input.app, input.region)) return {};
      const ids = new Set([
        ...(await deps.artifacts.listManifestIds(input.app, input.region)),
        ...(await deps.artifacts.listAttemptIds(input.app, input.region)),
      ]);
      const dates: (string | undefined)[] = [];
      for (const id of ids) dates.push(await deps.artifacts.lockedUntil(input.app, input.region, id));
      const lockedUntil = latestDate(dates);
      return lockedUntil ? { lockedUntil } : {};
    },

    async purgeRegionCopies(input: { app: string; region: string }): Promise<{ removed: number }> {
      const app = deps.config.apps[input.app];
      if (!app) throw ApplicationFailure.nonRetryable(`unknown app "${input.app}"`, 'unknown-app');
      if (!app.regions.some((r) => r.name === input.region)) {
        // Dropped from switchyard.yaml already: nothing of it is left for Switchyard to remove.
        return { removed: 0 };
      }
      const place = deps.artifacts.place(input.app, input.region);
      let removed = 0;
      for (const folder of [
        layout.manifestsFolder(),
        'restore-points/',
        layout.verificationsFolder(),
        layout.tombstonesFolder(),
        'locks/',
      ]) {
        removed += await deps.artifacts.io.purgePrefix(place.bucket, place.folder + folder);
      }
      deps.logger.info({ ...input, removed }, 'restore point copies of a removed region purged');
      return { removed };
    },
  };
}

export type RegionRemoveActivities = ReturnType<typeof createRegionRemoveActivities>;
