import { z } from 'zod';
import { OPERATION_KINDS, OPERATION_PHASES } from '../../../workflows/operation';
import { isoTimeString, itemsOf, looseObject } from '../common/responses';

const operationErrorSchema = looseObject({ message: z.string() });

const approvalStateSchema = looseObject({
  policy: looseObject({}),
  status: z.string(),
  requestedBy: z.string(),
  round: z.number(),
  decisions: z.array(looseObject({ principal: z.string(), decision: z.enum(['approve', 'reject']) })),
  approvedBy: z.array(z.string()),
  stillNeeded: z.number(),
  voided: z.array(looseObject({ round: z.number(), reason: z.string() })),
});

/** GET /v1/operations/{id} (docs/api.md#operation). */
export const operationSchema = looseObject({
  operationId: z.string(),
  kind: z.enum(OPERATION_KINDS),
  app: z.string(),
  spec: looseObject({}),
  requestedBy: z.string(),
  phase: z.enum(OPERATION_PHASES),
  steps: z.array(
    looseObject({
      name: z.string(),
      status: z.string(),
      startedAt: isoTimeString.optional(),
      endedAt: isoTimeString.optional(),
      detail: z.string().optional(),
    }),
  ),
  startedAt: isoTimeString,
  endedAt: isoTimeString.optional(),
  error: operationErrorSchema.optional(),
  approval: approvalStateSchema.optional(),
  facts: looseObject({}),
});

/** An item of GET /v1/operations and GET /v1/approvals: read from Temporal's visibility, no steps. */
export const operationSummarySchema = looseObject({
  operationId: z.string(),
  kind: z.enum(OPERATION_KINDS),
  app: z.string(),
  phase: z.enum(OPERATION_PHASES),
  startedAt: isoTimeString,
  endedAt: isoTimeString.optional(),
  requestedBy: z.string().optional(),
  spec: looseObject({}).optional(),
  approval: approvalStateSchema.optional(),
  undoableUntil: isoTimeString.optional(),
});

export const operationListSchema = itemsOf(operationSummarySchema);

export const failbackStartedSchema = looseObject({ operationId: z.string(), to: z.string() });

export const cancelResultSchema = looseObject({
  operationId: z.string(),
  cancelledAt: isoTimeString,
  by: z.string(),
  step: z.string().optional(),
});

export const approvalAnswerSchema = looseObject({ operationId: z.string(), approval: approvalStateSchema });

export const undoResultSchema = looseObject({
  operationId: z.string(),
  kind: z.string(),
  target: z.string(),
  undoneAt: isoTimeString,
  by: z.string(),
});

export const checkpointConfirmationSchema = looseObject({
  operationId: z.string(),
  step: z.string(),
  confirmedBy: z.string(),
  reason: z.string(),
  confirmedAt: isoTimeString,
});
