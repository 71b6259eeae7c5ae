import { z } from 'zod';
import { reasonSchema } from '../operations/failover.dto';

export const takeRestorePointSchema = z.object({ reason: reasonSchema }).strict();
export type TakeRestorePointRequest = z.output<typeof takeRestorePointSchema>;

export const restoreRequestSchema = z
  .object({
    restorePointId: z
      .string({ error: 'required: the restore point to restore from' })
      .min(1, 'required: the restore point to restore from'),
    region: z
      .string({ error: 'required: the region to restore into' })
      .min(1, 'required: the region to restore into'),
    reason: reasonSchema,
  })
  .strict();
export type RestoreRequest = z.output<typeof restoreRequestSchema>;
