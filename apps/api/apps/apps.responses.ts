import { z } from 'zod';
import { isoTimeString, itemsOf, looseObject } from '../common/responses';

const tombstoneSchema = looseObject({ operationId: z.string(), undoableUntil: isoTimeString });

export const appListSchema = itemsOf(
  looseObject({ name: z.string(), description: z.string().optional(), regions: z.array(z.string()) }),
);

/** `control` of GET /v1/apps/{app} (docs/api.md#app-control-state-get-v1appsapp--control). */
const controlViewSchema = looseObject({
  source: z.enum(['controller', 'buckets', 'config']),
  state: looseObject({ app: z.string(), activeRegion: z.string(), epoch: z.number() }),
  currentOperation: z.string().nullable(),
  transitions: z.array(looseObject({ revision: z.number(), at: isoTimeString })),
});

const regionViewSchema = looseObject({
  name: z.string(),
  role: z.enum(['active', 'standby']),
  dnsTarget: z.string(),
  healthUrl: z.string(),
  health: looseObject({}),
  state: z.enum(['unknown', 'healthy', 'degraded', 'down', 'halted']),
  bucket: looseObject({
    name: z.string(),
    controlState: looseObject({ ok: z.boolean() }),
  }),
  deleted: tombstoneSchema.optional(),
});

export const appViewSchema = looseObject({
  name: z.string(),
  description: z.string().optional(),
  activeRegion: z.string(),
  epoch: z.number(),
  controlStateSource: z.enum(['buckets', 'config', 'unreadable']),
  control: controlViewSchema,
  currentOperationId: z.string().nullable(),
  regions: z.array(regionViewSchema),
  removedRegions: z.array(looseObject({ region: z.string(), operationId: z.string() })),
  dns: looseObject({
    ttl: z.number(),
    records: z.array(
      looseObject({
        provider: z.string(),
        zone: z.string(),
        name: z.string(),
        type: z.string(),
        deleted: tombstoneSchema.optional(),
      }),
    ),
    removedRecords: z.array(looseObject({ name: z.string(), operationId: z.string() })),
  }),
  policies: looseObject({}),
  restorePoints: looseObject({
    rpoSeconds: z.number(),
    rpoMet: z.boolean(),
    verifiedRpoMet: z.boolean(),
    unrecoverable: z.array(z.string()),
  }).nullable(),
});
