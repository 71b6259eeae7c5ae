import { z } from 'zod';
import { isoTimeString, looseObject, softChangeStartedSchema } from '../common/responses';

/** One restore point (docs/restore-points.md): the manifest's facts and where its copies are. */
export const restorePointSchema = looseObject({
  id: z.string(),
  app: z.string(),
  cutAt: isoTimeString,
  committedAt: isoTimeString,
  ageSeconds: z.number(),
  sourceRegion: z.string(),
  epoch: z.number(),
  operationId: z.string(),
  requestedBy: z.string(),
  reason: z.string(),
  totalBytes: z.number(),
  services: z.array(
    looseObject({
      name: z.string(),
      type: z.string(),
      dependsOn: z.array(z.string()),
      size: z.number(),
      sha256: z.string(),
      objects: z.number().optional(),
      marker: looseObject({}),
    }),
  ),
  copies: z.array(looseObject({ region: z.string(), present: z.boolean().optional() })),
  complete: z.boolean(),
  quiesceMs: z.number(),
  verification: looseObject({ status: z.string() }).optional(),
  deleted: looseObject({ operationId: z.string(), undoableUntil: isoTimeString }).optional(),
});

export const restorePointListingSchema = looseObject({
  app: z.string(),
  items: z.array(restorePointSchema),
  regions: z.array(looseObject({ region: z.string(), ok: z.boolean(), error: z.string().optional() })),
});

export const restorePointStartedSchema = looseObject({ operationId: z.string(), restorePointId: z.string() });

export const restorePointDeleteStartedSchema = softChangeStartedSchema.extend({
  restorePointIds: z.array(z.string()).optional(),
});
