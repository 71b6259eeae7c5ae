import { z } from 'zod';
import { OPERATION_KINDS, OPERATION_PHASES } from '../../../workflows/operation';
import { FREE_TEXT_MAX, safeName, safeText } from '../../../workflows/safe-text';

/** Every mutating request says why: the reason is kept with the operation (and, later, the audit log). */
export const reasonSchema = safeText({
  required: 'required: say why (it is recorded with the operation)',
  min: 3,
  minMessage: 'too short: say why in a few words',
  max: FREE_TEXT_MAX,
});

export const failoverRequestSchema = z
  .object({
    to: safeName('required: the region to move the app to'),
    mode: z.enum(['planned', 'unplanned'], { error: 'expected "planned" or "unplanned"' }),
    reason: reasonSchema,
  })
  .strict();

export type FailoverRequest = z.output<typeof failoverRequestSchema>;

export const approvalDecisionSchema = z
  .object({
    decision: z.enum(['approve', 'reject'], { error: 'expected "approve" or "reject"' }),
    comment: safeText({ max: FREE_TEXT_MAX }).default(''),
    /** The round the approver looked at (`approval.round`); refused with 409 when another is open. */
    round: z.number({ error: 'expected the approval round, a number' }).int().min(1).optional(),
  })
  .strict();

export type ApprovalDecisionRequest = z.output<typeof approvalDecisionSchema>;

export const approvalListQuerySchema = z.object({ app: safeName().optional() }).strict();

export const operationListQuerySchema = z
  .object({
    app: safeName().optional(),
    kind: z.enum(OPERATION_KINDS).optional(),
    phase: z.enum(OPERATION_PHASES).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  })
  .strict();

export const undoRequestSchema = z.object({ reason: reasonSchema }).strict();
export type UndoRequestBody = z.output<typeof undoRequestSchema>;

export const cancelRequestSchema = z.object({ reason: reasonSchema }).strict();
export type CancelRequestBody = z.output<typeof cancelRequestSchema>;

export const failbackRequestSchema = z
  .object({
    /** The halted region to go back to; by default the app's only halted region. */
    to: safeName('the region to fail back to').optional(),
    reason: reasonSchema,
  })
  .strict();
export type FailbackRequest = z.output<typeof failbackRequestSchema>;
