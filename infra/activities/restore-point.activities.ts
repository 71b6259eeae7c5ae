import { regionTarget, tombstoneOf } from '../../workflows/control';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import {
  type AppConfig,
  objectLockRetainSeconds,
  type ServiceConfig,
  softDeleteWindowSeconds,
  type SwitchyardConfig,
} from '../config/config.schema';
import { artifactSink, artifactSource, parseListing } from '../backup/artifact-io';
import { ArtifactMismatchError, type ArtifactStore } from '../backup/artifact.store';
import type { RestorePointCatalog } from '../backup/catalog';
import type { ArtifactRef, RestorePointManifest } from '../backup/manifest';
import type {
  ReleaseResult,
  ServiceAdapter,
  ServiceContext,
  VerifyResult,
} from '../backup/service-adapter.port';
import { scratchPlaceOf } from '../config/scratch';
import type { ControlStateStore } from '../storage/control-state.store';
import { describeS3Error } from '../storage/s3.client';

/**
 * Activities of the restore point and restore workflows. Region activities run on the queue of
 * the region they act on (its services, its bucket); coordinator activities read configuration
 * and the catalog. Each is idempotent: a snapshot retried after a crash overwrites its own
 * artifact, a copy already in place is kept, a manifest write rewrites the same bytes.
 */

export interface BackupDeps {
  config: SwitchyardConfig;
  artifacts: ArtifactStore;
  catalog: RestorePointCatalog;
  controlState: ControlStateStore;
  adapters: (type: ServiceConfig['type']) => ServiceAdapter;
  logger: Logger;
}

/** What the workflow needs to know about a service; connection details stay in the worker. */
export interface ServicePlan {
  name: string;
  type: ServiceConfig['type'];
  dependsOn: string[];
}

export interface RestorePointPlan {
  services: ServicePlan[];
  regions: string[];
  sourceRegion: string;
  epoch: number;
  quiesceTimeoutSeconds: number;
  snapshotTimeoutSeconds: number;
  replicateTimeoutSeconds: number;
  retention: AppConfig['restorePoints']['retention'];
  /** The undo window of the soft deletes retention starts. */
  softDeleteWindowSeconds: number;
  /** restorePoints.objectLock, its retainSeconds resolved; absent: nothing is locked. */
  objectLock?: { keepNewest: number; retainSeconds: number };
}

export interface ServiceCall {
  app: string;
  region: string;
  service: string;
  restorePointId: string;
  /**
   * `scratch`: act on the service's scratch place in the region (test restores and drills,
   * docs/drills.md), never its live one. Default: the live place.
   */
  place?: 'live' | 'scratch';
}

function appOf(config: SwitchyardConfig, app: string): AppConfig {
  const a = config.apps[app];
  if (!a) throw ApplicationFailure.nonRetryable(`unknown app "${app}"`, 'unknown-app');
  return a;
}

function serviceOf(config: SwitchyardConfig, app: string, name: string): ServiceConfig {
  const s = appOf(config, app).services.find((x) => x.name === name);
  if (!s) throw ApplicationFailure.nonRetryable(`app "${app}" has no service "${name}"`, 'unknown-service');
  return s;
}

/** Heartbeats at most once a second; the details carry progress for `describe`. */
export function throttledHeartbeat(): (details?: Record<string, unknown>) => void {
  let last = 0;
  return (details) => {
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    Context.current().heartbeat(details);
  };
}

export function contextFor(
  deps: Pick<BackupDeps, 'config' | 'adapters' | 'logger'>,
  call: ServiceCall,
): { ctx: ServiceContext; adapter: ServiceAdapter } {
  const service = serviceOf(deps.config, call.app, call.service);
  if (!(call.region in service.regions)) {
    throw ApplicationFailure.nonRetryable(
      `service "${call.service}" has no place in region "${call.region}"`,
      'unknown-region',
    );
  }
  const target =
    call.place === 'scratch' ? scratchPlaceOf(service, call.region) : service.regions[call.region];
  if (!target) {
    throw ApplicationFailure.nonRetryable(
      `service "${call.service}" has no scratch place in region "${call.region}": declare ` +
        `apps.${call.app}.services[].regions.${call.region}.scratch`,
      'no-scratch-place',
    );
  }
  const activity = Context.current();
  const ctx: ServiceContext = {
    app: call.app,
    region: call.region,
    service,
    target: target as ServiceContext['target'],
    restorePointId: call.restorePointId,
    heartbeat: throttledHeartbeat(),
    signal: activity.cancellationSignal,
    logger: deps.logger.child({ app: call.app, region: call.region, service: call.service }),
  };
  return { ctx, adapter: deps.adapters(service.type) };
}

/** Checksum mismatches are facts about the data, not transient: never retried. */
function classify(err: unknown): never {
  if (err instanceof ArtifactMismatchError)
    throw ApplicationFailure.nonRetryable(err.message, 'checksum-mismatch');
  throw err;
}

export function createBackupCoordinatorActivities(deps: BackupDeps) {
  return {
    async planRestorePoint(input: { app: string }): Promise<RestorePointPlan> {
      const app = appOf(deps.config, input.app);
      if (app.services.length === 0) {
        throw ApplicationFailure.nonRetryable(
          `app "${input.app}" declares no services: nothing to take a restore point of (apps.${input.app}.services)`,
          'no-services',
        );
      }
      const state = (await deps.controlState.read(input.app)).state;
      return {
        services: app.services.map((s) => ({ name: s.name, type: s.type, dependsOn: s.dependsOn })),
        // A region whose removal is final (purged) gets no more copies; during the window it does.
        regions: app.regions.map((r) => r.name).filter((r) => !tombstoneOf(state, regionTarget(r))?.purgedAt),
        sourceRegion: state.activeRegion,
        epoch: state.epoch,
        quiesceTimeoutSeconds: app.restorePoints.quiesceTimeoutSeconds,
        snapshotTimeoutSeconds: app.restorePoints.snapshotTimeoutSeconds,
        replicateTimeoutSeconds: app.restorePoints.replicateTimeoutSeconds,
        retention: app.restorePoints.retention,
        softDeleteWindowSeconds: softDeleteWindowSeconds(app, 'restore-point-delete'),
        ...(app.restorePoints.objectLock
          ? {
              objectLock: {
                keepNewest: app.restorePoints.objectLock.keepNewest,
                retainSeconds: objectLockRetainSeconds(app),
              },
            }
          : {}),
      };
    },

    async writeManifest(input: { region: string; manifest: RestorePointManifest }): Promise<void> {
      await deps.artifacts.writeManifest(input.manifest.app, input.region, input.manifest);
    },

    /** Removes what an attempt wrote, region by region; reports instead of failing on the first. */
    async purgeRestorePoint(input: {
      app: string;
      restorePointId: string;
      regions: string[];
    }): Promise<{ region: string; removed?: number; error?: string }[]> {
      const results = await Promise.all(
        input.regions.map(async (region) => {
          try {
            return { region, removed: await deps.artifacts.purge(input.app, region, input.restorePointId) };
          } catch (err) {
            return { region, error: describeS3Error(err) };
          }
        }),
      );
      const failed = results.filter((r) => r.error);
      if (failed.length > 0) {
        // Retried by the activity's policy; the last attempt's report is what the operation keeps.
        const info = Context.current().info;
        if (info.attempt < 5) {
          throw new Error(`cleanup incomplete: ${failed.map((f) => `${f.region}: ${f.error}`).join('; ')}`);
        }
      }
      return results;
    },

    /**
     * Removes what earlier failed attempts left behind: artifact folders whose restore point has a
     * manifest in no region (a cleanup that could not reach a region at the time). Never touches
     * `exclude` (the attempt running now) or anything with a manifest somewhere.
     */
    async sweepLeftovers(input: {
      app: string;
      exclude: string;
    }): Promise<{ removed: string[]; unreachable: string[] }> {
      const regions = deps.artifacts.regions(input.app);
      const reads = await Promise.all(
        regions.map(async (region) => {
          try {
            const [attempts, manifests] = await Promise.all([
              deps.artifacts.listAttemptIds(input.app, region),
              deps.artifacts.listManifestIds(input.app, region),
            ]);
            return { region, attempts, manifests };
          } catch {
            return { region, attempts: null, manifests: null };
          }
        }),
      );
      const unreachable = reads.filter((r) => r.attempts === null).map((r) => r.region);
      // With a region unreadable, a manifest may exist there: sweep nothing rather than guess.
      if (unreachable.length > 0) return { removed: [], unreachable };
      const committed = new Set(reads.flatMap((r) => r.manifests ?? []));
      const removed: string[] = [];
      for (const r of reads) {
        for (const id of r.attempts ?? []) {
          if (id === input.exclude || committed.has(id)) continue;
          await deps.artifacts.purge(input.app, r.region, id);
          removed.push(`${r.region}:${id}`);
          Context.current().heartbeat({ removed: removed.length });
        }
      }
      if (removed.length)
        deps.logger.info({ app: input.app, removed }, 'leftovers of failed restore points removed');
      return { removed, unreachable };
    },

    /** Committed restore points of the app (as the catalog sees them), for retention. */
    async listRestorePoints(input: {
      app: string;
    }): Promise<{ id: string; committedAt: string; complete: boolean }[]> {
      const listing = await deps.catalog.list(input.app);
      return listing.items.map((i) => ({ id: i.id, committedAt: i.committedAt, complete: i.complete }));
    },

    /** The manifest as the target region holds it; null when the region has none. */
    async readManifest(input: {
      app: string;
      region: string;
      restorePointId: string;
    }): Promise<RestorePointManifest | null> {
      return deps.artifacts.readManifest(input.app, input.region, input.restorePointId);
    },
  };
}

export function createBackupRegionActivities(deps: BackupDeps) {
  return {
    async quiesceService(input: ServiceCall & { leaseSeconds: number }): Promise<void> {
      const { ctx, adapter } = contextFor(deps, input);
      await adapter.quiesce(ctx, input.leaseSeconds);
    },

    async markService(input: ServiceCall): Promise<Record<string, unknown>> {
      const { ctx, adapter } = contextFor(deps, input);
      return adapter.marker(ctx);
    },

    async snapshotService(
      input: ServiceCall,
    ): Promise<{ artifact: ArtifactRef; marker?: Record<string, unknown> }> {
      const { ctx, adapter } = contextFor(deps, input);
      const sink = artifactSink(
        deps.artifacts,
        {
          app: input.app,
          region: input.region,
          restorePointId: input.restorePointId,
          service: input.service,
        },
        ctx.signal,
      );
      const result = await adapter.snapshot(ctx, sink);
      deps.logger.info(
        {
          app: input.app,
          service: input.service,
          bytes: result.artifact.size,
          restorePointId: input.restorePointId,
        },
        'service snapshot stored',
      );
      return result;
    },

    async releaseService(input: ServiceCall): Promise<ReleaseResult> {
      const { ctx, adapter } = contextFor(deps, input);
      return (await adapter.release(ctx)) ?? {};
    },

    /**
     * Copies every artifact of a restore point from `from` into this region's bucket (object sets
     * object by object), each checked against its SHA-256. Runs on the destination region's queue.
     */
    async replicateArtifacts(input: {
      app: string;
      from: string;
      to: string;
      artifacts: ArtifactRef[];
    }): Promise<{ bytes: number; objects: number; methods: Record<string, number> }> {
      const heartbeat = throttledHeartbeat();
      const methods: Record<string, number> = {};
      let bytes = 0;
      let objects = 0;
      const store = deps.artifacts;
      const from = store.place(input.app, input.from);
      const to = store.place(input.app, input.to);
      for (const a of input.artifacts) {
        const r = await store
          .copy(input.app, input.from, input.to, a.key, a, {
            onProgress: (n) => heartbeat({ artifact: a.key, bytes: bytes + n }),
            signal: Context.current().cancellationSignal,
          })
          .catch(classify);
        methods[r.method] = (methods[r.method] ?? 0) + 1;
        bytes += r.bytes;
        objects++;
        if (a.objects) {
          const listing = await artifactSource(store, { app: input.app, region: input.from }, a).listing();
          for (const e of listing) {
            const key = a.objects.prefix + e.key;
            const c = await store.io
              .copy(from.bucket, from.folder + key, to.bucket, to.folder + key, e, {
                onProgress: (n) => heartbeat({ artifact: key, bytes: bytes + n }),
              })
              .catch(classify);
            methods[c.method] = (methods[c.method] ?? 0) + 1;
            bytes += c.bytes;
            objects++;
            heartbeat({ artifact: key, bytes });
          }
        }
      }
      return { bytes, objects, methods };
    },

    /**
     * Reads a region's copy of an artifact through and checks size and SHA-256 against the
     * manifest before anything uses it. Returns the version that verified, so the restore reads
     * exactly those bytes.
     */
    async verifyArtifact(input: {
      app: string;
      region: string;
      artifact: ArtifactRef;
    }): Promise<{ versionId?: string; objects: number }> {
      const heartbeat = throttledHeartbeat();
      const a = input.artifact;
      let got;
      try {
        got = await deps.artifacts.hash(input.app, input.region, a.key, {
          onProgress: (bytes) => heartbeat({ artifact: a.key, bytes }),
        });
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') {
          throw ApplicationFailure.nonRetryable(
            `artifact ${a.key} is missing in region ${input.region}`,
            'artifact-missing',
          );
        }
        throw err;
      }
      if (got.size !== a.size || got.sha256 !== a.sha256) {
        throw ApplicationFailure.nonRetryable(
          new ArtifactMismatchError(`${a.key} in region ${input.region}`, a, got).message,
          'checksum-mismatch',
        );
      }
      let objects = 0;
      if (a.objects) {
        const place = deps.artifacts.place(input.app, input.region);
        const { body } = await deps.artifacts.open(input.app, input.region, a.key, got.versionId);
        const text = await new Promise<string>((resolve, reject) => {
          const chunks: Buffer[] = [];
          body.on('data', (c: Buffer) => chunks.push(c));
          body.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          body.on('error', reject);
        });
        for (const e of parseListing(text)) {
          const h = await deps.artifacts.io.hash(place.bucket, place.folder + a.objects.prefix + e.key);
          if (h.size !== e.size || h.sha256 !== e.sha256) {
            throw ApplicationFailure.nonRetryable(
              new ArtifactMismatchError(`${a.objects.prefix}${e.key} in region ${input.region}`, e, h)
                .message,
              'checksum-mismatch',
            );
          }
          objects++;
          heartbeat({ artifact: a.key, objects });
        }
      }
      return { versionId: got.versionId, objects };
    },

    async restoreService(
      input: ServiceCall & { artifact: ArtifactRef; versionId?: string },
    ): Promise<{ detail: string }> {
      const { ctx, adapter } = contextFor(deps, input);
      const source = artifactSource(
        deps.artifacts,
        { app: input.app, region: input.region },
        input.artifact,
        input.versionId,
      );
      return adapter.restore(ctx, source).catch(classify);
    },

    async verifyService(input: ServiceCall): Promise<VerifyResult> {
      const { ctx, adapter } = contextFor(deps, input);
      return adapter.verify(ctx);
    },
  };
}

export type BackupCoordinatorActivities = ReturnType<typeof createBackupCoordinatorActivities>;
export type BackupRegionActivities = ReturnType<typeof createBackupRegionActivities>;
