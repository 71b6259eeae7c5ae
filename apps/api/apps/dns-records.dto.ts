import { z } from 'zod';
import { safeName } from '../../../workflows/safe-text';
import { reasonSchema } from '../operations/failover.dto';

/** `DELETE /v1/apps/{app}/dns-records/{name}?reason=`: the removal says why. */
export const deleteDnsRecordQuerySchema = z.object({ reason: reasonSchema }).strict();

/** `PUT /v1/apps/{app}/dns-records/{name}`: point the record at a region now, and say why. */
export const overrideDnsRecordSchema = z
  .object({
    region: safeName('required: the region the record should point at'),
    reason: reasonSchema,
  })
  .strict();
export type OverrideDnsRecordRequest = z.output<typeof overrideDnsRecordSchema>;
