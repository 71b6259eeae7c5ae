import { z } from 'zod';
import { verdictReportSchema } from '../../../infra/health/quorum-aggregator';
import { FREE_TEXT_MAX, safeName, safeText } from '../../../workflows/safe-text';

/** A monitor's verdict change (apps/monitor/main.ts), with the app whose region it probed. */
export const monitorReportSchema = z
  .object({
    app: safeName(),
    ...verdictReportSchema.shape,
    vantage: safeName(),
    region: safeName(),
    reason: safeText({ max: FREE_TEXT_MAX }),
  })
  .strict();
export type MonitorReport = z.output<typeof monitorReportSchema>;
