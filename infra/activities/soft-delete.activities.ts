import { ApplicationFailure } from '@temporalio/common';
import { describeS3Error } from '../storage/s3.client';
import { bulkDeleteRefusals, type Tombstone } from '../../workflows/soft-delete';
import type { BackupDeps } from './restore-point.activities';

/**
 * Activities of the soft-delete workflow (docs/soft-deletes.md), on the coordinator queue: they
 * reach every region's bucket directly, like the cleanup of a failed restore point. Each is
 * idempotent: a tombstone rewritten is the same object, a purge retried removes what is left.
 */

type RegionResult = { region: string; error?: string };

function failedOf(results: RegionResult[]): string {
  return results
    .filter((r) => r.error)
    .map((r) => `${r.region}: ${r.error}`)
    .join('; ');
}

export function createSoftDeleteActivities(
  deps: Pick<BackupDeps, 'config' | 'artifacts' | 'catalog' | 'logger'>,
) {
  const regionsOf = (app: string) => deps.artifacts.regions(app);

  return {
    /**
     * The guard rails, checked against the buckets as they are now (a refusal is not retried): all
     * of `restorePointIds` together (oldest first, each as if the ones before were deleted).
     * Returns each one's cut time and the regions to tombstone.
     */
    async checkRestorePointsDeletable(input: {
      app: string;
      restorePointIds: string[];
    }): Promise<{ cutAt: Record<string, string>; regions: string[] }> {
      const app = deps.config.apps[input.app];
      if (!app) throw ApplicationFailure.nonRetryable(`unknown app "${input.app}"`, 'unknown-app');
      const listing = await deps.catalog.list(input.app, Date.now(), { includeDeleted: true });
      const points = listing.items.map((i) => ({
        id: i.id,
        cutAt: i.cutAt,
        verification: i.verification?.status,
        deletedBy: i.deleted?.operationId,
      }));
      const cut = new Map(points.map((p) => [p.id, p.cutAt]));
      const ordered = [...input.restorePointIds].sort((a, b) =>
        (cut.get(a) ?? '') < (cut.get(b) ?? '') ? -1 : 1,
      );
      const refused = bulkDeleteRefusals(ordered, points, {
        now: new Date(),
        rpoSeconds: app.policies.rpoSeconds,
      });
      if (refused.length > 0) {
        const { id, refusal } = refused[0]!;
        throw ApplicationFailure.create({
          nonRetryable: true,
          type: refusal.code,
          message:
            refused.length === 1 || input.restorePointIds.length === 1
              ? refusal.message
              : `${refused.length} of ${input.restorePointIds.length} restore points may not be deleted: ${refused.map((r) => r.refusal.message).join('; ')}`,
          details: [{ ...refusal.details, restorePointId: id }],
        });
      }
      return {
        cutAt: Object.fromEntries(input.restorePointIds.map((id) => [id, cut.get(id)!])),
        regions: regionsOf(input.app),
      };
    },

    /**
     * Writes the tombstone into every region's bucket it can reach. At least one region must take
     * it (otherwise retried); the regions that could not are reported.
     */
    async writeTombstones(input: {
      app: string;
      tombstone: Tombstone;
    }): Promise<{ written: string[]; unreachable: RegionResult[] }> {
      const results: RegionResult[] = await Promise.all(
        regionsOf(input.app).map(async (region) => {
          try {
            await deps.artifacts.writeTombstone(input.app, region, input.tombstone);
            return { region };
          } catch (err) {
            return { region, error: describeS3Error(err) };
          }
        }),
      );
      const written = results.filter((r) => !r.error).map((r) => r.region);
      if (written.length === 0) throw new Error(`no region took the tombstone: ${failedOf(results)}`);
      return { written, unreachable: results.filter((r) => r.error) };
    },

    /** Removes this operation's tombstone from every region; retried until every region has answered. */
    async removeTombstones(input: {
      app: string;
      restorePointId: string;
      operationId: string;
    }): Promise<{ removed: string[] }> {
      const results = await Promise.all(
        regionsOf(input.app).map(async (region) => {
          try {
            const t = await deps.artifacts.readTombstone(input.app, region, input.restorePointId);
            // Another operation's tombstone (never expected while this one is open) is not ours to remove.
            if (!t || t.operationId !== input.operationId) return { region, removed: false };
            await deps.artifacts.removeTombstone(input.app, region, input.restorePointId);
            return { region, removed: true };
          } catch (err) {
            return { region, removed: false, error: describeS3Error(err) };
          }
        }),
      );
      if (results.some((r) => r.error)) throw new Error(`tombstone not removed in ${failedOf(results)}`);
      return { removed: results.filter((r) => r.removed).map((r) => r.region) };
    },

    /**
     * Purges a soft-deleted restore point from every region: manifest, artifacts and objects
     * (every version), its verification record and lock record, and last its tombstone. Refuses when no region
     * holds this operation's tombstone while a manifest remains (someone else changed it).
     */
    async purgeDeletedRestorePoint(input: {
      app: string;
      restorePointId: string;
      operationId: string;
    }): Promise<{ region: string; removed: number }[]> {
      const { app, restorePointId: id } = input;
      const regions = regionsOf(app);
      const before = await Promise.all(
        regions.map(async (region) => ({
          tombstone: await deps.artifacts.readTombstone(app, region, id),
          manifest: await deps.artifacts.readManifest(app, region, id),
        })),
      );
      const ours = before.some((b) => b.tombstone?.operationId === input.operationId);
      if (!ours && before.some((b) => b.manifest)) {
        throw ApplicationFailure.nonRetryable(
          `restore point ${id} has no tombstone of operation ${input.operationId} in any region: not purged`,
          'tombstone-missing',
        );
      }
      const out: { region: string; removed: number }[] = [];
      for (const region of regions) {
        let removed = await deps.artifacts.purge(app, region, id);
        removed += await deps.artifacts.removeVerification(app, region, id);
        removed += await deps.artifacts.removeLock(app, region, id);
        removed += await deps.artifacts.removeTombstone(app, region, id);
        out.push({ region, removed });
      }
      deps.logger.info(
        { app, restorePointId: id, operationId: input.operationId, out },
        'restore point purged',
      );
      return out;
    },

    /** The tombstone of a restore point in any readable region (restore preflight); null when none. */
    async readTombstone(input: { app: string; restorePointId: string }): Promise<Tombstone | null> {
      return deps.catalog.tombstoneOf(input.app, input.restorePointId);
    },
  };
}

export type SoftDeleteActivities = ReturnType<typeof createSoftDeleteActivities>;
