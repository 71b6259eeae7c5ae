import type { ControlStateStore } from '../storage/control-state.store';
import { regionTarget, tombstoneOf } from '../../workflows/control';
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { SwitchyardConfig } from '../config/config.schema';
import { parseListing } from '../backup/artifact-io';
import { type ArtifactStore, isNotFound } from '../backup/artifact.store';
import { mapLimit } from '../backup/concurrency';
import type { RestorePointCatalog } from '../backup/catalog';
import type { RestorePointManifest } from '../backup/manifest';
import { describeS3Error } from '../storage/s3.client';
import { throttledHeartbeat } from './restore-point.activities';
import type { CopyCheck, ManifestCopy, ObjectCheck, VerificationRecord } from '../../workflows/verification';

/**
 * Activities of the verification workflow. The coordinator ones read the catalog and the
 * manifests of every region and write the verification records; the region ones run on the queue
 * of the region whose copy they read (hash every byte, streamed) or repair (copy in from a region
 * whose copy verified).
 */

export interface VerificationDeps {
  config: SwitchyardConfig;
  artifacts: ArtifactStore;
  catalog: RestorePointCatalog;
  logger: Logger;
  /** Read for the regions whose removal is final (region-remove purged): never checked nor repaired. */
  controlState?: ControlStateStore;
}

/** How many objects of one region's copy are read at once: memory stays a few stream buffers each. */
const READ_CONCURRENCY = 4;

/** SHA-256 of a manifest's JSON as this version writes it: equal manifests have equal digests. */
export function manifestDigest(m: RestorePointManifest): string {
  return createHash('sha256').update(JSON.stringify(m)).digest('hex');
}

export function createVerificationCoordinatorActivities(deps: VerificationDeps) {
  return {
    /** The newest `depth` restore points of the app and the regions whose buckets answered. */
    async planVerification(input: { app: string; depth?: number }): Promise<{
      regions: string[];
      depth: number;
      restorePointIds: string[];
      unreachable: { region: string; error: string }[];
      /** Whether a verification ends with a test restore unless its spec says: restorePoints.verification.testRestore. */
      testRestore: boolean;
    }> {
      const app = deps.config.apps[input.app];
      if (!app) throw ApplicationFailure.nonRetryable(`unknown app "${input.app}"`, 'unknown-app');
      const depth = input.depth ?? app.restorePoints.verification.depth;
      const listing = await deps.catalog.list(input.app);
      const state = deps.controlState ? (await deps.controlState.read(input.app)).state : undefined;
      return {
        regions: app.regions
          .map((r) => r.name)
          .filter((r) => !(state && tombstoneOf(state, regionTarget(r))?.purgedAt)),
        depth,
        restorePointIds: listing.items.slice(0, depth).map((i) => i.id),
        testRestore: app.restorePoints.verification.testRestore,
        unreachable: listing.regions
          .filter((r) => !r.ok)
          .map((r) => ({ region: r.region, error: r.error ?? 'unreachable' })),
      };
    },

    /** Every region's manifest of one restore point, read fresh, with the digest of each. */
    async readManifestCopies(input: {
      app: string;
      restorePointId: string;
    }): Promise<{ copies: ManifestCopy[]; manifests: Record<string, RestorePointManifest> }> {
      const manifests: Record<string, RestorePointManifest> = {};
      const copies = await Promise.all(
        deps.artifacts.regions(input.app).map(async (region): Promise<ManifestCopy> => {
          try {
            const m = await deps.artifacts.readManifest(input.app, region, input.restorePointId);
            if (!m) return { region, state: 'missing' };
            const sha256 = manifestDigest(m);
            manifests[sha256] = m;
            return { region, state: 'present', sha256 };
          } catch (err) {
            return { region, state: 'unreachable', error: describeS3Error(err) };
          }
        }),
      );
      return { copies, manifests };
    },

    async writeVerificationRecord(input: { region: string; record: VerificationRecord }): Promise<void> {
      await deps.artifacts.writeVerification(input.record.app, input.region, input.record);
    },

    /** The newest verification record of a restore point in any readable region, if any. */
    async readVerificationRecord(input: {
      app: string;
      restorePointId: string;
    }): Promise<VerificationRecord | null> {
      return deps.catalog.verificationOf(input.app, input.restorePointId);
    },
  };
}

export function createVerificationRegionActivities(deps: VerificationDeps) {
  return {
    /**
     * Reads this region's copy of a restore point through, every artifact and every object of an
     * object set, and checks each against the reference manifest (size and SHA-256 of the full
     * content, streamed; several objects at once, each in bounded memory). Also says whether this
     * region's own manifest is the reference. Fails (retried, then an unreachable-region finding)
     * only when the bucket cannot be read.
     */
    async verifyRestorePointCopy(input: {
      app: string;
      region: string;
      manifest: RestorePointManifest;
    }): Promise<CopyCheck> {
      const { app, region, manifest } = input;
      const beat = throttledHeartbeat();
      const store = deps.artifacts;
      const place = store.place(app, region);
      const own = await store.readManifest(app, region, manifest.id);
      let checked = 0;
      const check = async (
        key: string,
        expected: ObjectCheck['expected'],
        versionId?: string,
      ): Promise<ObjectCheck & { versionId?: string }> => {
        try {
          const got = await store.io.hash(place.bucket, place.folder + key, { versionId });
          beat({ region, checked: ++checked });
          const ok = got.size === expected.size && got.sha256 === expected.sha256;
          return {
            key,
            status: ok ? 'ok' : 'corrupt',
            expected,
            actual: { size: got.size, sha256: got.sha256 },
            versionId: got.versionId,
          };
        } catch (err) {
          if (isNotFound(err)) return { key, status: 'missing', expected };
          throw err;
        }
      };
      const artifacts = manifest.services.map((s) => s.artifact);
      const results = await mapLimit(artifacts, READ_CONCURRENCY, (a) =>
        check(a.key, { size: a.size, sha256: a.sha256, contentType: a.contentType }),
      );
      const objects: ObjectCheck[] = results.map(({ versionId: _v, ...o }) => o);
      for (const [i, a] of artifacts.entries()) {
        if (!a.objects) continue;
        const listing = results[i]!;
        if (listing.status !== 'ok') {
          // Its objects are checked once the listing is repaired (the next round).
          continue;
        }
        const { body } = await store.open(app, region, a.key, listing.versionId);
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        const entries = parseListing(Buffer.concat(chunks).toString('utf8'));
        const prefix = a.objects.prefix;
        objects.push(
          ...(await mapLimit(entries, READ_CONCURRENCY, async (e) => {
            const { versionId: _v, ...o } = await check(prefix + e.key, {
              size: e.size,
              sha256: e.sha256,
              ...(e.contentType ? { contentType: e.contentType } : {}),
            });
            return o;
          })),
        );
      }
      return {
        region,
        manifest: !own ? 'missing' : manifestDigest(own) === manifestDigest(manifest) ? 'same' : 'different',
        objects,
      };
    },

    /**
     * Replaces this region's copy of one object with the copy in `from` (which verified), checked
     * against its SHA-256 on the way. The bad copy is removed first: a corrupt object may still
     * carry the right recorded SHA-256, and a copy "already present" must not be kept.
     */
    async repairObject(input: {
      app: string;
      from: string;
      to: string;
      key: string;
      expect: { size: number; sha256: string; contentType?: string };
    }): Promise<{ method: string; bytes: number }> {
      const store = deps.artifacts;
      const to = store.place(input.app, input.to);
      await store.io.deleteObject(to.bucket, to.folder + input.key);
      const beat = throttledHeartbeat();
      const r = await store.copy(input.app, input.from, input.to, input.key, input.expect, {
        onProgress: (bytes) => beat({ key: input.key, bytes }),
        signal: Context.current().cancellationSignal,
      });
      deps.logger.info(
        { app: input.app, from: input.from, to: input.to, key: input.key, method: r.method },
        'restore point copy repaired',
      );
      return r;
    },
  };
}

export type VerificationCoordinatorActivities = ReturnType<typeof createVerificationCoordinatorActivities>;
export type VerificationRegionActivities = ReturnType<typeof createVerificationRegionActivities>;
