import { z } from 'zod';
import { isoTimeString, looseObject } from '../common/responses';

export const auditEventSchema = looseObject({
  sequence: z.number(),
  time: isoTimeString,
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  reason: z.string().nullable(),
  requestId: z.string().nullable(),
  outcome: z.string(),
  details: looseObject({}),
  idempotencyKey: z.string().nullable(),
  previousHash: z.string(),
  hash: z.string(),
});

export const auditPageSchema = looseObject({
  items: z.array(auditEventSchema),
  nextCursor: z.string().nullable(),
});

/** GET /v1/audit/verify (docs/approvals-and-audit.md). */
export const auditVerificationSchema = looseObject({
  ok: z.boolean(),
  checked: z.number(),
  lastSequence: z.number(),
  sealedThrough: z.number(),
  firstBreak: looseObject({ sequence: z.number(), reason: z.string(), message: z.string() }).nullable(),
  unreadableRegions: z.array(z.string()),
});
