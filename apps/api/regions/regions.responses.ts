import { z } from 'zod';
import { isoTimeString, itemsOf, looseObject } from '../common/responses';

const regionStateSchema = z.enum(['unknown', 'healthy', 'degraded', 'down', 'halted']);

const votesSchema = looseObject({
  up: z.number(),
  down: z.number(),
  unknown: z.number(),
  silent: z.number(),
  total: z.number(),
  byVantage: z.record(z.string(), looseObject({})),
});

const transitionSchema = looseObject({
  from: regionStateSchema,
  to: regionStateSchema,
  at: isoTimeString,
  reason: z.string(),
  votes: votesSchema,
});

/** GET /v1/regions (docs/health-monitoring.md#in-the-api). */
export const regionsListSchema = itemsOf(
  looseObject({
    app: z.string(),
    vantagePoints: z.array(z.string()),
    recoverAfterSeconds: z.number(),
    reportEverySeconds: z.number(),
    staleAfterSeconds: z.number(),
    vantages: z.array(
      looseObject({
        vantage: z.string(),
        lastReportAt: isoTimeString.nullable(),
        silentSince: isoTimeString.nullable(),
      }),
    ),
    restoredFromController: z.boolean(),
    regions: z.array(
      looseObject({
        region: z.string(),
        target: z.string(),
        state: regionStateSchema,
        since: isoTimeString.nullable(),
        reason: z.string().nullable(),
        votes: votesSchema,
        history: z.array(transitionSchema),
      }),
    ),
  }),
);

export const monitorReportAnswerSchema = looseObject({
  state: regionStateSchema,
  transition: transitionSchema.nullable(),
  changed: z.boolean(),
});
