import { proxyActivities, sleep } from '@temporalio/workflow';
import type { RegionRemoveActivities } from '../infra/activities/region-remove.activities';
import { regionTarget, tombstoneOf } from './control';
import { regionRemoveRefusal, usableRegions } from './control-guards';
import { ControlSession, refuse } from './control-hold';
import type { OperationStatus, RegionRemoveSpec } from './operation';
import type { SoftDeleteApproval } from './soft-delete';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * Soft-removes a region from an app (docs/soft-deletes.md#removing-a-region), along runSoftDelete's
 * steps: the guard rails against the controller's state; a tombstone `region:<region>` in the
 * control state (hidden, never a failover, failback, restore or drill target, never chosen by the
 * monitors); undo removes it (the region is back exactly as it was: nothing else was changed); the
 * purge makes the removal final and deletes the app's restore-point copies in the region's bucket.
 * The tombstone and the undo are made while the operation holds the app (claim … release).
 */
export interface RegionRemoveInput {
  app: string;
  operationId: string;
  spec: RegionRemoveSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  undoableUntil: string;
  windowSeconds?: number;
  approval?: SoftDeleteApproval;
  /** The app's regions (from configuration): the guard rails count the usable ones. */
  regions: string[];
}

/** The purge reaches the region's bucket however long it is away. */
const buckets = proxyActivities<RegionRemoveActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** After a retention date, before the delete (clocks of S3 servers and workers differ a little). */
const LOCK_MARGIN_MS = 1000;

export async function regionRemoveWorkflow(input: RegionRemoveInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const region = spec.region;
  const target = regionTarget(region);
  const start = { ...input, kind: 'region-remove' as const };
  const status = softDeleteStatus(start, { region });
  const control = new ControlSession(app, status.operationId);
  const surely = new ControlSession(app, status.operationId, true);
  let undoAttempt = 0;

  return runSoftDelete(start, status, {
    noun: 'region',
    what: `region ${region} of ${app}`,
    names: { region },
    deleting: [`region ${region}`],
    undoRefusals: ['operation-in-progress'],

    async preflight(step) {
      const state = await control.read();
      const refusal = regionRemoveRefusal(state, app, region, input.regions, status.operationId);
      if (refusal) refuse(refusal);
      const left = usableRegions(state, input.regions).filter((r) => r !== region);
      step.detail = `region ${region} may be removed: ${left.join(', ')} stay usable (active ${state.activeRegion})`;
    },

    async tombstone(step, undoableUntil) {
      return control.holding('tombstone', async (state) => {
        // Checked again while the app is held: nothing can change it between this and the tombstone.
        const refusal = regionRemoveRefusal(state, app, region, input.regions, status.operationId);
        if (refusal) refuse(refusal);
        const r = await control.change('tombstone', {
          type: 'tombstone',
          operationId: status.operationId,
          tombstone: {
            target,
            kind: 'region-remove',
            operationId: status.operationId,
            deletedAt: new Date().toISOString(),
            undoableUntil,
            by: input.requestedBy,
            reason: spec.reason,
          },
        });
        const usable = usableRegions(r.state, input.regions);
        status.facts.usable = usable;
        step.detail =
          `region ${region} removed (tombstone in the control state, revision ${r.state.revision ?? 0}): ` +
          `hidden and never a target until ${undoableUntil}; usable: ${usable.join(', ')}`;
        return { usable };
      });
    },

    async undo(step) {
      const n = ++undoAttempt;
      await surely.holding(`undo-${n}`, async () => {
        const r = await surely.change(`undo-${n}:untombstone`, {
          type: 'untombstone',
          target,
          operationId: status.operationId,
        });
        step.detail = tombstoneOf(r.state, target)
          ? `region ${region} carries another operation's tombstone: left as it is`
          : `region ${region} is back (revision ${r.state.revision ?? 0}); nothing else was changed`;
      });
    },

    async purge(step, publish) {
      const r = await surely.change('purge', {
        type: 'purge-tombstone',
        target,
        operationId: status.operationId,
      });
      const t = tombstoneOf(r.state, target);
      if (!t || t.operationId !== status.operationId) {
        refuse({
          code: 'tombstone-missing',
          status: 409,
          message: `the control state holds no tombstone of ${target} by ${status.operationId}: region ${region}'s copies are kept`,
        });
      }
      // A locked version cannot be deleted by anyone before its date (compliance mode): wait for
      // the latest one. The lock step locks nothing more in a removed region.
      for (;;) {
        const locked = await buckets.regionCopiesLockedUntil({ app, region });
        const wait = locked.lockedUntil ? Date.parse(locked.lockedUntil) + LOCK_MARGIN_MS - Date.now() : 0;
        if (wait <= 0) break;
        status.facts.lockedUntil = locked.lockedUntil;
        step.detail = `region ${region} removed for good at ${t.purgedAt}; its copies are locked until ${locked.lockedUntil}: the purge waits`;
        publish();
        await sleep(wait);
      }
      const purged = await buckets.purgeRegionCopies({ app, region });
      status.facts.purged = { region, purgedAt: t.purgedAt, removed: purged.removed };
      step.detail =
        `region ${region} removed for good at ${t.purgedAt} (drop it from switchyard.yaml); ` +
        `${purged.removed} object version(s) of the app's restore points removed from its bucket`;
      return { purgedAt: t.purgedAt, removed: purged.removed };
    },
  });
}
