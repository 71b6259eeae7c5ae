import { z } from 'zod';
import { SCHEDULE_KINDS } from '../../../workflows/scheduled.workflow';
import { isoTimeString, itemsOf, looseObject } from '../common/responses';

/** One schedule (docs/schedules.md). */
export const scheduleSchema = looseObject({
  name: z.string(),
  app: z.string(),
  kind: z.enum(SCHEDULE_KINDS),
  scheduleId: z.string(),
  everySeconds: z.number().optional(),
  cron: z.string().optional(),
  paused: z.boolean(),
  note: z.string(),
  overlap: z.literal('skip'),
  catchupWindowSeconds: z.number(),
  nextRunAt: isoTimeString.nullable(),
  nextRunsAt: z.array(isoTimeString),
  lastRunAt: isoTimeString.nullable(),
  lastResult: looseObject({
    scheduledAt: isoTimeString,
    workflowId: z.string(),
    runStatus: z.string(),
  }).nullable(),
  createdAt: isoTimeString,
  createdBy: z.string().optional(),
  testRestore: z.boolean().optional(),
  updatedAt: isoTimeString.nullable(),
  runs: looseObject({ taken: z.number(), skippedOverlap: z.number(), missedCatchupWindow: z.number() }),
  deleted: looseObject({ operationId: z.string(), undoableUntil: isoTimeString }).optional(),
});

export const scheduleListSchema = itemsOf(scheduleSchema);

export const scheduleTriggeredSchema = looseObject({
  app: z.string(),
  name: z.string(),
  triggeredAt: isoTimeString,
});
