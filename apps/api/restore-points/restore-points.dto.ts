import { z } from 'zod';
import { safeName } from '../../../workflows/safe-text';
import { reasonSchema } from '../operations/failover.dto';

export const takeRestorePointSchema = z.object({ reason: reasonSchema }).strict();
export type TakeRestorePointRequest = z.output<typeof takeRestorePointSchema>;

export const restoreRequestSchema = z
  .object({
    restorePointId: safeName('required: the restore point to restore from'),
    region: safeName('required: the region to restore into'),
    reason: reasonSchema,
  })
  .strict();
export type RestoreRequest = z.output<typeof restoreRequestSchema>;

export const verifyRequestSchema = z
  .object({
    reason: reasonSchema,
    /** How many restore points, newest first (default: restorePoints.verification.depth). */
    depth: z.number({ error: 'expected a whole number from 1 to 1000' }).int().min(1).max(1000).optional(),
    /** End with a test restore into the scratch places (default: restorePoints.verification.testRestore). */
    testRestore: z.boolean({ error: 'expected true or false' }).optional(),
  })
  .strict();
export type VerifyRequest = z.output<typeof verifyRequestSchema>;

export const listRestorePointsQuerySchema = z
  .object({ include: z.enum(['deleted'], { error: 'expected "deleted"' }).optional() })
  .strict();

export const deleteRestorePointQuerySchema = z.object({ reason: reasonSchema }).strict();
export type DeleteRestorePointQuery = z.output<typeof deleteRestorePointQuerySchema>;

/** `DELETE /v1/apps/{app}/restore-points`: a bulk delete of the ones cut before `olderThan`, or of `ids`. */
export const bulkDeleteRestorePointsQuerySchema = z
  .object({
    olderThan: z.iso
      .datetime({ offset: true, error: 'expected an ISO 8601 time such as 2026-11-01T00:00:00Z' })
      .optional(),
    ids: z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
      )
      .pipe(
        z.array(safeName()).min(1, 'name at least one restore point id').max(1000, 'at most 1000 at once'),
      )
      .optional(),
    reason: reasonSchema,
  })
  .strict()
  .refine((q) => (q.olderThan === undefined) !== (q.ids === undefined), {
    message: 'give either olderThan (a time) or ids (comma-separated restore point ids), not both',
    path: ['olderThan'],
  });
export type BulkDeleteRestorePointsQuery = z.output<typeof bulkDeleteRestorePointsQuerySchema>;
