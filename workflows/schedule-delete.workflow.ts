import { proxyActivities } from '@temporalio/workflow';
import type { ScheduleDeleteActivities } from '../infra/activities/schedule-delete.activities';
import type { OperationStatus } from './operation';
import type { ScheduleDeleteInput, ScheduleSnapshot, ScheduleTombstone } from './soft-delete';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * Soft-deletes one of an app's schedules (docs/soft-deletes.md), along runSoftDelete's steps: the
 * schedule as it is now is kept in the operation (facts.schedule); the tombstone pauses it (no run
 * starts) and is kept in the schedule itself, which hides it from listings; undo gives back its
 * state and note (or recreates it, should it be gone); the purge deletes it from Temporal.
 */

const schedules = proxyActivities<ScheduleDeleteActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Undo and purge must happen: Temporal's frontend being away for a while is waited for. */
const surely = proxyActivities<ScheduleDeleteActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export async function scheduleDeleteWorkflow(input: ScheduleDeleteInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const scheduleName = spec.scheduleName;
  const start = { ...input, kind: 'schedule-delete' as const };
  const status = softDeleteStatus(start, { scheduleName });
  let snapshot: ScheduleSnapshot | undefined;
  return runSoftDelete(start, status, {
    noun: 'schedule',
    what: `schedule ${scheduleName}`,
    names: { scheduleName },
    deleting: [`schedule ${scheduleName}`],

    async preflight(step) {
      snapshot = await schedules.checkScheduleDeletable({ app, scheduleName });
      status.facts.schedule = snapshot;
      step.detail = `schedule ${scheduleName} (${snapshot.kind}, ${snapshot.paused ? 'paused' : 'active'}) may be deleted`;
    },

    async tombstone(step, undoableUntil) {
      const tombstone: ScheduleTombstone = {
        operationId: status.operationId,
        deletedAt: new Date().toISOString(),
        undoableUntil,
        by: input.requestedBy,
        reason: spec.reason,
      };
      await schedules.tombstoneSchedule({ app, scheduleName, tombstone });
      step.detail = `schedule ${scheduleName} paused and tombstoned: no run starts`;
      return { wasPaused: snapshot!.paused };
    },

    async undo(step) {
      const r = await surely.untombstoneSchedule({
        app,
        operationId: status.operationId,
        snapshot: snapshot!,
      });
      step.detail = !r.restored
        ? `schedule ${scheduleName} carries another operation's tombstone: left as it is`
        : `schedule ${scheduleName} is back${r.recreated ? ' (recreated: it was gone)' : ''}, ${snapshot!.paused ? 'paused' : 'active'}, note "${snapshot!.note}"`;
    },

    async purge(step) {
      const r = await surely.purgeDeletedSchedule({ app, scheduleName, operationId: status.operationId });
      step.detail =
        r === 'deleted' ? `schedule ${scheduleName} deleted` : `schedule ${scheduleName} was gone already`;
      return { result: r };
    },
  });
}
