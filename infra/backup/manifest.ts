import type { ServiceConfig } from '../config/config.schema';
import type { MANIFEST_SCHEMA } from '../../workflows/definitions';

export { MANIFEST_SCHEMA, parseRestorePointId, restorePointIdOf } from '../../workflows/definitions';

/**
 * The restore point manifest and where a restore point's objects live in a region's bucket.
 * Keys in a manifest are relative to the app's folder (`<bucket prefix>apps/<app>/`), so the same
 * manifest is valid in every region whatever each bucket's prefix. Pure: types and key arithmetic.
 *
 *   <prefix>apps/<app>/manifests/<id>.json                 the manifest; written last, in every region
 *   <prefix>apps/<app>/restore-points/<id>/<service>.<ext> one artifact per service
 *   <prefix>apps/<app>/restore-points/<id>/<service>/...   objects of an object-set artifact (S3 services)
 *   <prefix>apps/<app>/verifications/<id>.json             the latest verification of the restore point
 *   <prefix>apps/<app>/tombstones/<id>.json                a soft delete: hidden, purged when its window ends
 *   <prefix>apps/<app>/locks/<id>.json                     its Object Lock in this region: until when (object-lock.ts)
 *
 * A restore point exists in a region exactly when its manifest is there; readers ignore
 * everything else (leftovers of failed attempts are removed by the attempt's own cleanup).
 */

/** Object metadata key holding the SHA-256 (hex) of every object Switchyard writes. */
export const SHA256_METADATA = 'switchyard-sha256';

export interface ArtifactRef {
  /** Relative to the app's folder, e.g. `restore-points/<id>/orders.pgdump`. */
  key: string;
  size: number;
  /** Hex SHA-256 of the artifact's bytes. */
  sha256: string;
  contentType: string;
  /**
   * Object-set artifacts (S3 services): the artifact is a JSON-lines listing and the objects
   * themselves lie under `objectsPrefix`; counted here so a copy can be checked without reading it.
   */
  objects?: { prefix: string; count: number; bytes: number };
}

/** One line of an object-set listing. `key` is relative to the service's prefix. */
export interface ObjectSetEntry {
  key: string;
  size: number;
  sha256: string;
  /** Version of the source object captured at the cut, when the bucket is versioned. */
  sourceVersionId?: string;
  contentType?: string;
}

export interface ServiceCut {
  name: string;
  type: ServiceConfig['type'];
  dependsOn: string[];
  /** What the service said about its state at the cut (e.g. WAL position, last sequence number). */
  marker: Record<string, unknown>;
  artifact: ArtifactRef;
}

export interface RestorePointManifest {
  schema: typeof MANIFEST_SCHEMA;
  id: string;
  app: string;
  /** The operation that took it. */
  operationId: string;
  requestedBy: string;
  reason: string;
  /** The region whose services were captured (the active region at the time). */
  sourceRegion: string;
  /** The app's fencing epoch when it was taken. */
  epoch: number;
  /** When every service was quiesced: the moment the restore point represents. */
  cutAt: string;
  quiesce: { startedAt: string; releasedAt: string; durationMs: number };
  /** When the manifest was written: the restore point exists from then on. */
  committedAt: string;
  services: ServiceCut[];
  /** Every region the artifacts were copied to (and the manifest written to). */
  regions: string[];
  totalBytes: number;
}

export const layout = {
  appFolder: (bucketPrefix: string, app: string) => `${bucketPrefix}apps/${app}/`,
  manifestsFolder: () => 'manifests/',
  manifest: (id: string) => `manifests/${id}.json`,
  attemptFolder: (id: string) => `restore-points/${id}/`,
  artifact: (id: string, service: string, extension: string) =>
    `restore-points/${id}/${service}.${extension}`,
  objectsFolder: (id: string, service: string) => `restore-points/${id}/${service}/`,
  verificationsFolder: () => 'verifications/',
  /** The latest verification of a restore point (see workflows/verification.ts). */
  verification: (id: string) => `verifications/${id}.json`,
  tombstonesFolder: () => 'tombstones/',
  /** The restore point is soft-deleted (docs/soft-deletes.md): hidden, never restored from. */
  tombstone: (id: string) => `tombstones/${id}.json`,
  /** The restore point's Object Lock in this region (see workflows/object-lock.ts). */
  lock: (id: string) => `locks/${id}.json`,
};
