import { z } from 'zod';
import { CONTROL_OVERRIDE_ACTIONS } from '../../../workflows/control';
import { safeName } from '../../../workflows/safe-text';
import { reasonSchema } from '../operations/failover.dto';

/** DELETE /v1/apps/{app}/regions/{region}?reason=… */
export const removeRegionQuerySchema = z.object({ reason: reasonSchema }).strict();

/** POST /v1/apps/{app}/overrides */
export const overrideRequestSchema = z
  .object({
    action: z.enum(CONTROL_OVERRIDE_ACTIONS, {
      error: `expected one of ${CONTROL_OVERRIDE_ACTIONS.join(', ')}`,
    }),
    region: safeName('required: the region the override is about'),
    reason: reasonSchema,
  })
  .strict();
export type OverrideRequest = z.output<typeof overrideRequestSchema>;

/** GET /v1/apps/{app}?include=deleted */
export const appQuerySchema = z
  .object({ include: z.enum(['deleted'], { error: 'expected "deleted"' }).optional() })
  .strict();
