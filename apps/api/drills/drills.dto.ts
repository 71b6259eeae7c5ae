import { z } from 'zod';
import { reasonSchema } from '../operations/failover.dto';

export const drillRequestSchema = z.object({ reason: reasonSchema }).strict();
export type DrillRequest = z.output<typeof drillRequestSchema>;
