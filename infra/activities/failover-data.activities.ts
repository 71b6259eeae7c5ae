import { ApplicationFailure } from '@temporalio/common';
import type { RestorePointCatalog } from '../backup/catalog';
import type { SwitchyardConfig } from '../config/config.schema';

/**
 * What a failover needs to know about the app's data: the restore point an unplanned failover
 * restores (the newest verified one that the target region holds, else the newest committed one).
 */
export interface ChosenRestorePoint {
  id: string;
  cutAt: string;
  committedAt: string;
  /** A verification found every copy good (`verified` or `repaired`). */
  verified: boolean;
  verification?: string;
  /** The newer restore points passed over because they are not verified. */
  newerUnverified: string[];
}

export function createFailoverDataActivities(deps: {
  config: SwitchyardConfig;
  catalog: RestorePointCatalog;
}) {
  return {
    async chooseRestorePoint(input: { app: string; region: string }): Promise<ChosenRestorePoint | null> {
      if (!deps.config.apps[input.app]) {
        throw ApplicationFailure.nonRetryable(`unknown app "${input.app}"`, 'unknown-app');
      }
      const listing = await deps.catalog.list(input.app);
      const usable = listing.items.filter(
        (i) =>
          !i.deleted &&
          i.verification?.status !== 'unrecoverable' &&
          i.copies.some((c) => c.region === input.region && c.present === true),
      );
      const good = (i: (typeof usable)[number]) =>
        i.verification?.status === 'verified' || i.verification?.status === 'repaired';
      const pick = usable.find(good) ?? usable[0];
      if (!pick) return null;
      return {
        id: pick.id,
        cutAt: pick.cutAt,
        committedAt: pick.committedAt,
        verified: good(pick),
        ...(pick.verification ? { verification: pick.verification.status } : {}),
        newerUnverified: usable.slice(0, usable.indexOf(pick)).map((i) => i.id),
      };
    },
  };
}

export type FailoverDataActivities = ReturnType<typeof createFailoverDataActivities>;
