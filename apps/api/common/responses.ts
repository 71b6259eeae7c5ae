import { z } from 'zod';

/**
 * Building blocks of the response schemas (*.responses.ts). Objects are loose: an answer may carry
 * more fields than its schema names, but every field named is there with that type.
 */
export const looseObject = z.looseObject;
export const isoTimeString = z.string().min(1);

export const operationStartedSchema = looseObject({ operationId: z.string() });

/** The answer of every soft, undoable change (docs/soft-deletes.md). */
export const softChangeStartedSchema = looseObject({
  operationId: z.string(),
  undoableUntil: isoTimeString,
  awaitingApproval: z.boolean(),
});

export function itemsOf<T extends z.ZodType>(item: T) {
  return looseObject({ items: z.array(item) });
}
