import { z } from 'zod';
import { isoTimeString, itemsOf, looseObject } from '../common/responses';

const roleSchema = z.enum(['viewer', 'operator', 'approver', 'admin', 'monitor']);

export const tokenRecordSchema = looseObject({
  id: z.string(),
  principal: z.string(),
  roles: z.array(roleSchema),
  createdAt: isoTimeString,
  createdBy: z.string(),
  revokedAt: isoTimeString.nullable(),
  revokedBy: z.string().nullable(),
});

/** The only answer that shows the token itself. */
export const tokenCreatedSchema = tokenRecordSchema.extend({ token: z.string() });

export const tokenListSchema = itemsOf(tokenRecordSchema);
