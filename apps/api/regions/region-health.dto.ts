import { z } from 'zod';
import { verdictReportSchema } from '../../../infra/health/quorum-aggregator';

/** A monitor's verdict change (apps/monitor/main.ts), with the app whose region it probed. */
export const monitorReportSchema = z
  .object({
    app: z.string().min(1),
    ...verdictReportSchema.shape,
  })
  .strict();
export type MonitorReport = z.output<typeof monitorReportSchema>;
