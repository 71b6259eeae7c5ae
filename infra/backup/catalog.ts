import { describeS3Error } from '../storage/s3.client';
import type { ArtifactStore } from './artifact.store';
import type { VerificationRecord, VerificationStatus } from '../../workflows/verification';
import type { Tombstone } from '../../workflows/soft-delete';
import type { ObjectLockState } from '../../workflows/object-lock';
import { parseRestorePointId, type RestorePointManifest } from './manifest';

/**
 * The restore point catalog, read from the manifests in the regions' buckets: no other index
 * exists, so any region can rebuild it alone. A restore point is listed when its manifest is in at
 * least one readable region; `copies` says where. With a region unreachable, the others answer.
 */

export interface RegionReach {
  region: string;
  ok: boolean;
  error?: string;
}

export interface RestorePointCopy {
  region: string;
  /** The manifest is in this region's bucket (undefined: the bucket could not be read). */
  present?: boolean;
  /**
   * Its S3 Object Lock in this region, from the region's lock record (`GET /v1/restore-points/{id}`
   * only): `locked` until `lockedUntil` (in the past once the lock has run out), or `unsupported`
   * (the bucket has no Object Lock). Absent: never locked.
   */
  objectLock?: ObjectLockState;
  lockedUntil?: string;
}

export interface RestorePointView {
  id: string;
  app: string;
  cutAt: string;
  committedAt: string;
  ageSeconds: number;
  sourceRegion: string;
  epoch: number;
  operationId: string;
  requestedBy: string;
  reason: string;
  totalBytes: number;
  services: {
    name: string;
    type: string;
    dependsOn: string[];
    size: number;
    sha256: string;
    objects?: number;
    marker: Record<string, unknown>;
  }[];
  copies: RestorePointCopy[];
  /** In every region of the app (false also when a region could not be read). */
  complete: boolean;
  quiesceMs: number;
  /** The latest verification (absent: never verified). `unrecoverable` ones are never restored from. */
  verification?: VerificationSummary;
  /**
   * Soft-deleted (a tombstone in some region): never restored from, never counted, purged at
   * `undoableUntil` unless its operation is undone. Listed only with `include=deleted`.
   */
  deleted?: Omit<Tombstone, 'schema' | 'restorePointId'>;
}

export interface VerificationSummary {
  status: VerificationStatus;
  verifiedAt: string;
  operationId: string;
  /** How many findings it made, and how many of them were repaired. */
  findings: number;
  repaired: number;
}

export function summarizeVerification(r: VerificationRecord): VerificationSummary {
  return {
    status: r.status,
    verifiedAt: r.verifiedAt,
    operationId: r.operationId,
    findings: r.findings.length,
    repaired: r.findings.filter((f) => f.repaired).length,
  };
}

export interface CatalogListing {
  app: string;
  items: RestorePointView[];
  regions: RegionReach[];
}

function view(
  m: RestorePointManifest,
  copies: RestorePointCopy[],
  now: number,
  verification?: VerificationRecord | null,
  tombstone?: Tombstone | null,
): RestorePointView {
  return {
    id: m.id,
    app: m.app,
    cutAt: m.cutAt,
    committedAt: m.committedAt,
    ageSeconds: Math.max(0, Math.round((now - Date.parse(m.cutAt)) / 1000)),
    sourceRegion: m.sourceRegion,
    epoch: m.epoch,
    operationId: m.operationId,
    requestedBy: m.requestedBy,
    reason: m.reason,
    totalBytes: m.totalBytes,
    services: m.services.map((s) => ({
      name: s.name,
      type: s.type,
      dependsOn: s.dependsOn,
      size: s.artifact.size,
      sha256: s.artifact.sha256,
      ...(s.artifact.objects ? { objects: s.artifact.objects.count } : {}),
      marker: s.marker,
    })),
    copies,
    complete: copies.every((c) => c.present === true),
    quiesceMs: m.quiesce.durationMs,
    ...(verification ? { verification: summarizeVerification(verification) } : {}),
    ...(tombstone
      ? {
          deleted: {
            operationId: tombstone.operationId,
            deletedAt: tombstone.deletedAt,
            undoableUntil: tombstone.undoableUntil,
            by: tombstone.by,
            reason: tombstone.reason,
          },
        }
      : {}),
  };
}

export class RestorePointCatalog {
  /** Manifests never change once written: cached by region and id. */
  private readonly manifests = new Map<string, RestorePointManifest>();
  /** Verification records change with each verification: cached by region, id and stamp. */
  private readonly records = new Map<string, { stamp: string; record: VerificationRecord | null }>();

  constructor(private readonly store: ArtifactStore) {}

  private async manifest(app: string, region: string, id: string): Promise<RestorePointManifest | null> {
    const key = `${app}/${region}/${id}`;
    const cached = this.manifests.get(key);
    if (cached) return cached;
    const m = await this.store.readManifest(app, region, id);
    if (m) {
      if (this.manifests.size > 5000) this.manifests.clear();
      this.manifests.set(key, m);
    }
    return m;
  }

  /**
   * Every restore point of the app, newest first; soft-deleted ones (a tombstone in any readable
   * region) only with `includeDeleted`, marked. Throws when no region's bucket can be read.
   */
  async list(
    app: string,
    now = Date.now(),
    opts: { includeDeleted?: boolean } = {},
  ): Promise<CatalogListing> {
    const regions = this.store.regions(app);
    const reads = await Promise.all(
      regions.map(async (region) => {
        try {
          return { region, ok: true as const, ids: await this.store.listManifestIds(app, region) };
        } catch (err) {
          return { region, ok: false as const, error: describeS3Error(err) };
        }
      }),
    );
    if (reads.every((r) => !r.ok)) {
      throw new CatalogUnavailableError(
        app,
        reads.map((r) => ({ region: r.region, ok: false, error: r.ok ? undefined : r.error })),
      );
    }
    // One listing per region says which records exist and whether they changed since last read.
    const stamps = await Promise.all(
      reads.map((r) =>
        r.ok ? this.store.listVerifications(app, r.region).catch(() => []) : Promise.resolve([]),
      ),
    );
    const ids = [...new Set(reads.flatMap((r) => (r.ok ? r.ids : [])))].filter(
      (id) => parseRestorePointId(id)?.app === app,
    );
    const tombstones = await this.tombstones(
      app,
      reads.filter((r) => r.ok).map((r) => r.region),
    );
    const items: RestorePointView[] = [];
    for (const id of ids) {
      const tombstone = tombstones.get(id);
      if (tombstone && !opts.includeDeleted) continue;
      const copies = reads.map((r) => ({ region: r.region, present: r.ok ? r.ids.includes(id) : undefined }));
      const from = copies.filter((c) => c.present).map((c) => c.region);
      let m: RestorePointManifest | null = null;
      for (const region of from) {
        m = await this.manifest(app, region, id).catch(() => null);
        if (m) break;
      }
      if (m) {
        items.push(view(m, copies, now, await this.cachedVerification(app, id, reads, stamps), tombstone));
      }
    }
    items.sort((a, b) => (a.cutAt < b.cutAt ? 1 : a.cutAt > b.cutAt ? -1 : a.id < b.id ? 1 : -1));
    return {
      app,
      items,
      regions: reads.map((r) =>
        r.ok ? { region: r.region, ok: true } : { region: r.region, ok: false, error: r.error },
      ),
    };
  }

  /**
   * The tombstones of the app in the given regions (one listing each), read from the first region
   * that lists each. A region that cannot be read is left out: the others still hide the point.
   */
  private async tombstones(app: string, regions: string[]): Promise<Map<string, Tombstone>> {
    const lists = await Promise.all(
      regions.map(async (region) => ({
        region,
        ids: await this.store.listTombstoneIds(app, region).catch(() => [] as string[]),
      })),
    );
    const out = new Map<string, Tombstone>();
    for (const { region, ids } of lists) {
      for (const id of ids) {
        if (out.has(id)) continue;
        const t = await this.store.readTombstone(app, region, id).catch(() => null);
        if (t) out.set(id, t);
      }
    }
    return out;
  }

  /** The tombstone of a restore point in any readable region, read fresh; null when none. */
  async tombstoneOf(app: string, id: string): Promise<Tombstone | null> {
    const found = await Promise.all(
      this.store
        .regions(app)
        .map((region) => this.store.readTombstone(app, region, id).catch((): Tombstone | null => null)),
    );
    return found.find((t): t is Tombstone => t !== null) ?? null;
  }

  /** The newest record among the regions listing one (by stamp), read once per change. */
  private async cachedVerification(
    app: string,
    id: string,
    reads: { region: string }[],
    stamps: { id: string; stamp: string }[][],
  ): Promise<VerificationRecord | null> {
    const found = reads
      .map((r, i) => ({ region: r.region, stamp: stamps[i]!.find((s) => s.id === id)?.stamp }))
      .filter((x): x is { region: string; stamp: string } => x.stamp !== undefined)
      .sort((a, b) => (a.stamp < b.stamp ? 1 : -1));
    for (const f of found) {
      const key = `${app}/${f.region}/${id}`;
      const cached = this.records.get(key);
      if (cached?.stamp === f.stamp) return cached.record;
      const record = await this.store.readVerification(app, f.region, id).catch(() => undefined);
      if (record === undefined) continue;
      if (this.records.size > 5000) this.records.clear();
      this.records.set(key, { stamp: f.stamp, record });
      return record;
    }
    return null;
  }

  /** The newest verification of a restore point in any readable region, read fresh; null when none. */
  async verificationOf(app: string, id: string): Promise<VerificationRecord | null> {
    const records = await Promise.all(
      this.store.regions(app).map((region) => this.store.readVerification(app, region, id).catch(() => null)),
    );
    return (
      records
        .filter((r): r is VerificationRecord => r !== null)
        .sort((a, b) => (a.verifiedAt < b.verifiedAt ? 1 : -1))[0] ?? null
    );
  }

  /**
   * One restore point, its manifest read fresh from every region (so `copies` is current).
   * Null when no readable region holds it.
   */
  async get(
    id: string,
    now = Date.now(),
  ): Promise<{ view: RestorePointView; manifest: RestorePointManifest } | null> {
    const parsed = parseRestorePointId(id);
    if (!parsed || !this.store.knowsApp(parsed.app)) return null;
    const app = parsed.app;
    const reads = await Promise.all(
      this.store.regions(app).map(async (region) => {
        try {
          return { region, manifest: await this.store.readManifest(app, region, id) };
        } catch (err) {
          return { region, manifest: undefined, error: describeS3Error(err) };
        }
      }),
    );
    const found = reads.find((r) => r.manifest);
    if (!found?.manifest) {
      if (reads.every((r) => r.manifest === undefined)) {
        throw new CatalogUnavailableError(
          app,
          reads.map((r) => ({ region: r.region, ok: false, error: r.error })),
        );
      }
      return null;
    }
    const [verification, tombstone, copies] = await Promise.all([
      this.verificationOf(app, id),
      this.tombstoneOf(app, id),
      Promise.all(
        reads.map(async (r): Promise<RestorePointCopy> => {
          const copy = {
            region: r.region,
            present: r.manifest === undefined ? undefined : r.manifest !== null,
          };
          if (!r.manifest) return copy;
          // The lock record is a detail: a region that cannot give it still counts as present.
          const lock = await this.store.readLock(app, r.region, id).catch(() => null);
          if (!lock) return copy;
          return {
            ...copy,
            objectLock: lock.objectLock,
            ...(lock.lockedUntil ? { lockedUntil: lock.lockedUntil } : {}),
          };
        }),
      ),
    ]);
    return { view: view(found.manifest, copies, now, verification, tombstone), manifest: found.manifest };
  }

  /** The newest restore point whose manifest is in `region`, if any. */
  async newestIn(app: string, region: string): Promise<RestorePointView | undefined> {
    const listing = await this.list(app);
    return listing.items.find((i) => i.copies.some((c) => c.region === region && c.present));
  }

  /**
   * The newest restore point whose latest verification found it whole (`verified` or `repaired`),
   * not soft-deleted, and (with `region`) whose manifest is in that region: what drills restore and
   * what a failover's preflight should use by default (`GET /v1/apps/{app}` shows it as
   * `restorePoints.newestVerified`).
   */
  async newestVerified(app: string, opts: { region?: string } = {}): Promise<RestorePointView | undefined> {
    const listing = await this.list(app);
    return listing.items.find(
      (i) =>
        isWhole(i) &&
        (opts.region === undefined || i.copies.some((c) => c.region === opts.region && c.present)),
    );
  }
}

/** The latest verification found every copy (after repairs): restorable with confidence. */
export function isWhole(i: Pick<RestorePointView, 'verification'>): boolean {
  return i.verification?.status === 'verified' || i.verification?.status === 'repaired';
}

export class CatalogUnavailableError extends Error {
  constructor(
    readonly app: string,
    readonly regions: RegionReach[],
  ) {
    super(
      `no region's bucket could be read for app "${app}": ${regions.map((r) => `${r.region}: ${r.error ?? 'unreachable'}`).join('; ')}`,
    );
    this.name = 'CatalogUnavailableError';
  }
}
