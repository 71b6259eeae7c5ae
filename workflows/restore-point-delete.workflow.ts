import { proxyActivities, sleep } from '@temporalio/workflow';
import type { ObjectLockActivities } from '../infra/activities/object-lock.activities';
import type { SoftDeleteActivities } from '../infra/activities/soft-delete.activities';
import type { OperationStatus } from './operation';
import { type RestorePointDeleteInput, TOMBSTONE_SCHEMA } from './soft-delete';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * Soft-deletes restore points (docs/soft-deletes.md): one, or several at once (a bulk delete,
 * `spec.restorePointIds`), along runSoftDelete's steps: the guard rails against the buckets as they
 * are now; a tombstone per restore point in every reachable region (hidden at once, nothing
 * removed); undo removes the tombstones (back, byte for byte); the purge waits until no version is
 * Object-Locked any more (a durable timer), then removes manifest, artifacts and every version in
 * every region, then the tombstones.
 */

const buckets = proxyActivities<SoftDeleteActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Undo and purge must reach every region; a region that is down for a while is waited for. */
const everywhere = proxyActivities<SoftDeleteActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

const locks = proxyActivities<ObjectLockActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** Past a lock's date before deleting: S3 compares it with its own clock, at whole seconds. */
const LOCK_MARGIN_MS = 1000;

export async function restorePointDeleteWorkflow(input: RestorePointDeleteInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const restorePointId = spec.restorePointId;
  const ids = spec.restorePointIds ?? [restorePointId];
  const bulk = spec.restorePointIds !== undefined;
  const start = { ...input, kind: 'restore-point-delete' as const };
  const status = softDeleteStatus(
    start,
    bulk ? { restorePointId, restorePointIds: ids } : { restorePointId },
  );
  const what = bulk ? `${ids.length} restore points (${ids.join(', ')})` : `restore point ${restorePointId}`;
  return runSoftDelete(start, status, {
    noun: 'restore-point',
    what,
    names: bulk ? { restorePointId, restorePointIds: ids } : { restorePointId },
    deleting: ids,

    async preflight(step) {
      const checked = await buckets.checkRestorePointsDeletable({ app, restorePointIds: ids });
      if (bulk) status.facts.cutAt = checked.cutAt;
      else status.facts.cutAt = checked.cutAt[restorePointId];
      step.detail = bulk
        ? `${ids.length} restore points may be deleted`
        : `restore point ${restorePointId} (cut ${checked.cutAt[restorePointId]}) may be deleted`;
    },

    async tombstone(step, undoableUntil) {
      const written = new Set<string>();
      const unreachable: { region: string; error?: string }[] = [];
      for (const id of ids) {
        const r = await buckets.writeTombstones({
          app,
          tombstone: {
            schema: TOMBSTONE_SCHEMA,
            restorePointId: id,
            operationId: status.operationId,
            deletedAt: new Date().toISOString(),
            undoableUntil,
            by: input.requestedBy,
            reason: spec.reason,
          },
        });
        r.written.forEach((x) => written.add(x));
        unreachable.push(...r.unreachable.filter((u) => !unreachable.some((x) => x.region === u.region)));
      }
      status.facts.tombstoned = [...written];
      if (unreachable.length) status.facts.tombstoneUnreachable = unreachable;
      step.detail =
        `${bulk ? `${ids.length} tombstones` : 'tombstone'} written in ${[...written].join(', ')}` +
        (unreachable.length
          ? `; not in ${unreachable.map((u) => `${u.region} (${u.error})`).join(', ')}`
          : '');
      return { regions: [...written] };
    },

    async undo(step) {
      const removed = new Set<string>();
      for (const id of ids) {
        const r = await everywhere.removeTombstones({
          app,
          restorePointId: id,
          operationId: status.operationId,
        });
        r.removed.forEach((x) => removed.add(x));
      }
      step.detail = `${bulk ? 'tombstones' : 'tombstone'} removed in ${[...removed].join(', ') || 'no region (none was left)'}; ${what} ${bulk ? 'are' : 'is'} back`;
    },

    async purge(step, publish) {
      // A locked version cannot be deleted by anyone before its date (compliance mode): wait for
      // the latest one instead of failing. Read again after the wait, as a lock step that listed
      // the restore points just before the tombstone may have extended it.
      for (;;) {
        const locked = await locks.restorePointsLockedUntil({ app, restorePointIds: ids });
        const wait = locked.lockedUntil ? Date.parse(locked.lockedUntil) + LOCK_MARGIN_MS - Date.now() : 0;
        if (wait <= 0) break;
        status.facts.lockedUntil = locked.lockedUntil;
        step.detail = `locked until ${locked.lockedUntil} (${locked.regions
          .filter((r) => r.lockedUntil)
          .map((r) => r.region)
          .join(', ')}): the purge waits`;
        publish();
        await sleep(wait);
      }
      const all: { restorePointId: string; region: string; removed: number }[] = [];
      for (const id of ids) {
        const r = await everywhere.purgeDeletedRestorePoint({
          app,
          restorePointId: id,
          operationId: status.operationId,
        });
        all.push(...r.map((x) => ({ restorePointId: id, ...x })));
      }
      const perRegion = new Map<string, number>();
      for (const x of all) perRegion.set(x.region, (perRegion.get(x.region) ?? 0) + x.removed);
      const regions = [...perRegion].map(([region, removed]) => ({ region, removed }));
      status.facts.purged = regions;
      step.detail = regions.map((x) => `${x.region}: ${x.removed} object version(s) removed`).join('; ');
      return { regions };
    },
  });
}
