import { z } from 'zod';
import { SCHEDULE_KINDS } from '../../../workflows/scheduled.workflow';
import { safeText } from '../../../workflows/safe-text';
import { reasonSchema } from '../operations/failover.dto';

/** A schedule's name within its app; the default is its kind. */
export const scheduleNameSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,39}$/,
    'expected a lowercase name: a letter, then letters, digits or dashes (max 40)',
  );

const SHORTHANDS = ['@yearly', '@monthly', '@weekly', '@daily', '@hourly'];

/**
 * What can be said about a cron expression before Temporal parses it (Temporal then checks each
 * field's range). Schedules act at most once a minute, so there is no seconds field.
 */
export function cronProblem(expression: string): string | undefined {
  const rest = expression.replace(/^(CRON_TZ|TZ)=\S+\s+/, '');
  if (rest.includes('#')) return 'no comments ("#") in a cron expression';
  if (rest.startsWith('@every')) return 'for an interval, give everySeconds instead of @every';
  if (rest.startsWith('@')) {
    return SHORTHANDS.includes(rest) ? undefined : `expected one of ${SHORTHANDS.join(', ')} or five fields`;
  }
  const fields = rest.split(/\s+/).length;
  if (fields === 7) return 'no seconds field: a schedule acts at most once a minute';
  if (fields !== 5 && fields !== 6) {
    return `expected 5 fields (minute hour day-of-month month day-of-week) and an optional year, got ${fields}`;
  }
  return undefined;
}

const everySecondsSchema = z
  .number({ error: 'expected a number of seconds' })
  .int('expected whole seconds')
  .min(60, 'at least 60 seconds')
  .max(30 * 86400, 'at most 30 days (2592000 seconds)');

const cronSchema = safeText({
  min: 1,
  minMessage: 'expected a cron expression such as "*/15 * * * *"',
  max: 200,
}).superRefine((c, ctx) => {
  const problem = cronProblem(c);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const notBoth = {
  message: 'give everySeconds or cron, not both',
  path: ['cron'],
};

export const createScheduleSchema = z
  .object({
    kind: z.enum(SCHEDULE_KINDS, { error: `expected one of ${SCHEDULE_KINDS.join(', ')}` }),
    name: scheduleNameSchema.optional(),
    /** Omitted with cron: restorePoints.schedule.everySeconds, or half the app's RPO (at least 60). */
    everySeconds: everySecondsSchema.optional(),
    cron: cronSchema.optional(),
    paused: z.boolean().default(false),
    /** Verification schedules: every run ends with a test restore (docs/drills.md). */
    testRestore: z.boolean({ error: 'expected true or false' }).optional(),
    reason: reasonSchema,
  })
  .strict()
  .refine((b) => b.everySeconds === undefined || b.cron === undefined, notBoth)
  .refine((b) => b.testRestore === undefined || b.kind === 'verification', {
    message: 'only verification schedules run test restores',
    path: ['testRestore'],
  });

export type CreateScheduleRequest = z.output<typeof createScheduleSchema>;

export const updateScheduleSchema = z
  .object({
    everySeconds: everySecondsSchema.optional(),
    cron: cronSchema.optional(),
    reason: reasonSchema,
  })
  .strict()
  .refine((b) => b.everySeconds === undefined || b.cron === undefined, notBoth)
  .refine((b) => b.everySeconds !== undefined || b.cron !== undefined, {
    message: 'give everySeconds or cron: the new timing',
    path: ['everySeconds'],
  });

export type UpdateScheduleRequest = z.output<typeof updateScheduleSchema>;

export const scheduleActionSchema = z.object({ reason: reasonSchema }).strict();
export type ScheduleActionRequest = z.output<typeof scheduleActionSchema>;

export const deleteScheduleQuerySchema = z.object({ reason: reasonSchema }).strict();

export const listSchedulesQuerySchema = z
  .object({ include: z.enum(['deleted'], { error: 'expected "deleted"' }).optional() })
  .strict();

const instant = z.iso
  .datetime({ offset: true, error: 'expected an ISO 8601 time such as 2026-11-22T10:00:00Z' })
  .transform((s) => new Date(s));

/**
 * The longest range one backfill may cover: it takes the runs missed during an outage, and Temporal
 * computes every action time of the range (a range of centuries kept the server busy past 10 s).
 */
export const BACKFILL_MAX_DAYS = 31;

// zod runs an object's refinements after a field failed too: compare only two parsed times.
const bothParsed = ({ value }: { value: unknown }) => {
  const v = value as { from?: unknown; to?: unknown };
  return v.from instanceof Date && v.to instanceof Date;
};

export const backfillScheduleSchema = z
  .object({ from: instant, to: instant, reason: reasonSchema })
  .strict()
  .refine((b) => b.from.getTime() < b.to.getTime(), {
    message: 'must be after from',
    path: ['to'],
    when: bothParsed,
  })
  .refine((b) => b.to.getTime() - b.from.getTime() <= BACKFILL_MAX_DAYS * 86_400_000, {
    message: `must be at most ${BACKFILL_MAX_DAYS} days before to: one backfill takes the runs of one outage`,
    path: ['from'],
    when: bothParsed,
  });

export type BackfillScheduleRequest = z.output<typeof backfillScheduleSchema>;
