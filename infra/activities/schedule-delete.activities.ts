import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import {
  ScheduleDeletedError,
  ScheduleMissingError,
  type SchedulesRepository,
  ScheduleTombstoneMissingError,
} from '../temporal/schedules.repository';
import type { ScheduleSnapshot, ScheduleTombstone } from '../../workflows/soft-delete';
import { SCHEDULE_DELETE_REFUSALS } from '../../workflows/soft-delete';

/**
 * Activities of a schedule's soft delete (docs/soft-deletes.md), on the coordinator queue: they
 * act on the Temporal Schedule itself. Each is idempotent (a tombstone rewritten by the same
 * operation is the same; a purge of a schedule that is gone is done).
 */
export function createScheduleDeleteActivities(deps: {
  schedules: SchedulesRepository;
  logger: Pick<Logger, 'info'>;
}) {
  /** The repository's refusals as non-retryable failures with the API's codes. */
  async function refusing<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      if (err instanceof ScheduleMissingError) {
        throw ApplicationFailure.nonRetryable(err.message, SCHEDULE_DELETE_REFUSALS.notFound);
      }
      if (err instanceof ScheduleDeletedError) {
        throw ApplicationFailure.create({
          nonRetryable: true,
          type: SCHEDULE_DELETE_REFUSALS.alreadyDeleted,
          message: err.message,
          details: [{ operationId: err.tombstone.operationId }],
        });
      }
      if (err instanceof ScheduleTombstoneMissingError) {
        throw ApplicationFailure.nonRetryable(err.message, 'tombstone-missing');
      }
      throw err;
    }
  }

  return {
    /** The schedule as it is now (what undo gives back); refused when missing or deleted already. */
    async checkScheduleDeletable(input: { app: string; scheduleName: string }): Promise<ScheduleSnapshot> {
      const found = await deps.schedules.snapshot(input.app, input.scheduleName);
      if (!found) {
        throw ApplicationFailure.nonRetryable(
          `app "${input.app}" has no schedule named "${input.scheduleName}"`,
          SCHEDULE_DELETE_REFUSALS.notFound,
        );
      }
      if (found.deleted) {
        await refusing(
          Promise.reject(new ScheduleDeletedError(input.app, input.scheduleName, found.deleted)),
        );
      }
      return found.snapshot;
    },

    /** Pauses the schedule and records the tombstone in it. */
    async tombstoneSchedule(input: {
      app: string;
      scheduleName: string;
      tombstone: ScheduleTombstone;
    }): Promise<void> {
      await refusing(deps.schedules.tombstone(input.app, input.scheduleName, input.tombstone));
    },

    /** Gives the schedule back its state (or recreates it); see SchedulesRepository.untombstone. */
    untombstoneSchedule(input: {
      app: string;
      operationId: string;
      snapshot: ScheduleSnapshot;
    }): Promise<{ restored: boolean; recreated: boolean }> {
      return refusing(deps.schedules.untombstone(input.app, input.operationId, input.snapshot));
    },

    /** Deletes the schedule from Temporal for good. */
    async purgeDeletedSchedule(input: {
      app: string;
      scheduleName: string;
      operationId: string;
    }): Promise<'deleted' | 'gone'> {
      const r = await refusing(deps.schedules.purgeDeleted(input.app, input.scheduleName, input.operationId));
      deps.logger.info({ ...input, result: r }, 'schedule purged');
      return r;
    },
  };
}

export type ScheduleDeleteActivities = ReturnType<typeof createScheduleDeleteActivities>;
