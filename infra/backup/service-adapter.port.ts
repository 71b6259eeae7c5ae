import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BucketConfig, ServiceConfig } from '../config/config.schema';
import type { ObjectIo, Progress, StoredObject } from './artifact.store';
import type { ArtifactRef, ObjectSetEntry } from './manifest';

/**
 * The port every kind of service implements (PostgreSQL, S3 prefix, HTTP hook). The restore point
 * workflow drives it: quiesce every service (bounded window) → marker → snapshot → release; a
 * restore streams the artifact back. Each call is an activity: idempotent, and it heartbeats
 * through `ctx.heartbeat` while it streams, so a dead worker is noticed and the call retried.
 * Adapters stream: memory stays flat whatever the artifact size.
 */

export type ServiceOf<T extends ServiceConfig['type']> = Extract<ServiceConfig, { type: T }>;

export interface ServiceContext<S extends ServiceConfig = ServiceConfig> {
  app: string;
  /** The region whose instance of the service is acted on. */
  region: string;
  service: S;
  /** The service's place in that region (`service.regions[region]`). */
  target: S['regions'][string];
  restorePointId: string;
  /** Reports liveness (and progress) to Temporal; call it at least every few seconds while working. */
  heartbeat(details?: Record<string, unknown>): void;
  /** Aborted when the activity is cancelled or its worker is shutting down. */
  signal: AbortSignal;
  logger: Logger;
}

/** Where a snapshot writes: the source region's backup bucket, under the restore point's folder. */
export interface ArtifactSink {
  /** Streams the service's one artifact into the bucket; SHA-256 and size are computed on the way. */
  put(
    body: Readable,
    opts: { extension: string; contentType: string; size?: number; onProgress?: Progress },
  ): Promise<ArtifactRef>;
  /**
   * For object-set artifacts (S3 services): the bucket and key folder where the objects go, and
   * the ObjectIo to copy or stream them with. The listing is then written with `putListing`.
   */
  objectSet(): { bucket: BucketConfig; prefix: string; io: ObjectIo };
  /** Writes the JSON-lines listing of an object set as the artifact. */
  putListing(entries: ObjectSetEntry[]): Promise<ArtifactRef>;
}

/** Where a restore reads from: one region's copy, checked against the manifest before any use. */
export interface ArtifactSource {
  artifact: ArtifactRef;
  /** The artifact's bytes (the version whose checksum was verified). Hashed again while read; a mismatch aborts. */
  open(): Promise<Readable>;
  /** Object sets: the listing, then each object by its listing entry. */
  listing(): Promise<ObjectSetEntry[]>;
  openObject(entry: ObjectSetEntry): Promise<Readable>;
}

export interface SnapshotResult {
  artifact: ArtifactRef;
  /** Anything the snapshot learned about the cut (added to the marker). */
  marker?: Record<string, unknown>;
}

export interface RestoreResult {
  /** Human-readable account, e.g. "pg_restore into orders_west: 12 tables". */
  detail: string;
}

export interface ReleaseResult {
  /** The service's quiesce ended by its lease before this release: writes may have run since the cut. */
  leaseExpired?: boolean;
  detail?: string;
}

export interface VerifyResult {
  ok: boolean;
  detail: string;
}

export interface ServiceAdapter<S extends ServiceConfig = ServiceConfig> {
  /**
   * Prepare and quiesce: from now until `release` (or until `leaseSeconds` pass, whichever comes
   * first) the service holds its writes so that its state is a consistent cut. Idempotent.
   */
  quiesce(ctx: ServiceContext<S>, leaseSeconds: number): Promise<void>;
  /** The consistency marker of the quiesced state (e.g. WAL LSN, last sequence number). */
  marker(ctx: ServiceContext<S>): Promise<Record<string, unknown>>;
  /** Captures the quiesced state and streams it into the sink. Retried from scratch on failure. */
  snapshot(ctx: ServiceContext<S>, sink: ArtifactSink): Promise<SnapshotResult>;
  /**
   * Ends the quiesce. Idempotent; harmless when not quiesced. Says when the hold had already
   * ended by its lease: the cut is then not trusted and is taken again.
   */
  release(ctx: ServiceContext<S>): Promise<void | ReleaseResult>;
  /** Replaces the target's state in `ctx.region` with the artifact's. */
  restore(ctx: ServiceContext<S>, source: ArtifactSource): Promise<RestoreResult>;
  /** Checks the target answers sensibly after a restore. */
  verify(ctx: ServiceContext<S>): Promise<VerifyResult>;
  /**
   * Test restores and drills (docs/drills.md): `ctx.target` is a scratch place, never a live one.
   * Makes it empty and ready to be restored into (a scratch database is created). Idempotent.
   */
  prepareScratch(ctx: ServiceContext<S>): Promise<void>;
  /** Removes everything in the scratch place `ctx.target` (a scratch database is dropped). Idempotent. */
  discardScratch(ctx: ServiceContext<S>): Promise<{ detail: string }>;
}

export type { StoredObject };
