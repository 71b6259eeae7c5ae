import { proxyActivities } from '@temporalio/workflow';
import type { SoftDeleteActivities } from '../infra/activities/soft-delete.activities';
import type { OperationStatus } from './operation';
import { type RestorePointDeleteInput, TOMBSTONE_SCHEMA, type Tombstone } from './soft-delete';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * Soft-deletes one restore point (docs/soft-deletes.md), along runSoftDelete's steps: the guard
 * rails against the buckets as they are now; a tombstone in every reachable region (hidden at once,
 * nothing removed); undo removes the tombstones (the restore point is back, byte for byte); the
 * purge removes manifest, artifacts and every version in every region, then the tombstones.
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

export async function restorePointDeleteWorkflow(input: RestorePointDeleteInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const restorePointId = spec.restorePointId;
  const start = { ...input, kind: 'restore-point-delete' as const };
  const status = softDeleteStatus(start, { restorePointId });
  return runSoftDelete(start, status, {
    noun: 'restore-point',
    what: `restore point ${restorePointId}`,
    names: { restorePointId },

    async preflight(step) {
      const checked = await buckets.checkRestorePointDeletable({ app, restorePointId });
      status.facts.cutAt = checked.cutAt;
      step.detail = `restore point ${restorePointId} (cut ${checked.cutAt}) may be deleted; undoable until ${input.undoableUntil}`;
    },

    async tombstone(step) {
      const tombstone: Tombstone = {
        schema: TOMBSTONE_SCHEMA,
        restorePointId,
        operationId: status.operationId,
        deletedAt: new Date().toISOString(),
        undoableUntil: input.undoableUntil,
        by: input.requestedBy,
        reason: spec.reason,
      };
      const r = await buckets.writeTombstones({ app, tombstone });
      status.facts.tombstoned = r.written;
      if (r.unreachable.length) status.facts.tombstoneUnreachable = r.unreachable;
      step.detail =
        `tombstone written in ${r.written.join(', ')}` +
        (r.unreachable.length
          ? `; not in ${r.unreachable.map((u) => `${u.region} (${u.error})`).join(', ')}`
          : '');
      return { regions: r.written };
    },

    async undo(step) {
      const r = await everywhere.removeTombstones({ app, restorePointId, operationId: status.operationId });
      step.detail = `tombstone removed in ${r.removed.join(', ') || 'no region (none was left)'}; ${restorePointId} is back`;
    },

    async purge(step) {
      const r = await everywhere.purgeDeletedRestorePoint({
        app,
        restorePointId,
        operationId: status.operationId,
      });
      status.facts.purged = r;
      step.detail = r.map((x) => `${x.region}: ${x.removed} object version(s) removed`).join('; ');
      return { regions: r };
    },
  });
}
