import { Inject, Injectable } from '@nestjs/common';
import { RestorePointCatalog, type RestorePointView } from '../../../infra/backup/catalog';
import type { AppConfig, SwitchyardConfig } from '../../../infra/config/config.schema';
import { probeHttp, type ProbeResult } from '../../../infra/health/http-probe';
import { describeS3Error } from '../../../infra/storage/s3.client';
import type { RegionState } from '../../../infra/health/region-detector';
import {
  type ControlState,
  type ControlStateRead,
  ControlStateStore,
  type ControlTombstone,
} from '../../../infra/storage/control-state.store';
import { dnsRecordTarget, regionTarget, tombstoneOf } from '../../../workflows/control';
import { normalizeRecordName } from '../../../workflows/dns-record-soft';
import { OperationsRepository } from '../../../infra/temporal/operations.repository';
import { ApiError } from '../common/api-error';
import { RegionHealthService } from '../regions/region-health.service';
import { type ControlView, ControlViewService } from './control-view.service';
import { CONFIG } from '../tokens';

export interface RegionView {
  name: string;
  role: 'active' | 'standby';
  dnsTarget: string;
  healthUrl: string;
  /** This API's live probe of healthUrl, made for this answer. */
  health: ProbeResult;
  /** The monitors' quorum (GET /v1/regions has the votes and the history). */
  state: RegionState;
  bucket: { name: string; endpoint?: string; controlState: { ok: boolean; epoch?: number; error?: string } };
  /** Removed from the app (a region-remove operation); listed only with `include=deleted`. */
  deleted?: ControlTombstone;
}

export interface AppView {
  name: string;
  description?: string;
  /** From the controller when it answers (see `control.source`). */
  activeRegion: string;
  epoch: number;
  /** Where the buckets' copy came from: `buckets` once a state was recorded, `config` before that. */
  controlStateSource: ControlStateRead['source'] | 'unreadable';
  /** The app controller's state (docs/fencing.md): writer, halted regions, current operation, recent changes. */
  control: ControlView;
  currentOperationId: string | null;
  /** Without `include=deleted`, regions removed by a region-remove operation are not listed. */
  regions: RegionView[];
  /** Regions whose removal is final (purged): drop them from switchyard.yaml. */
  removedRegions: (ControlTombstone & { region: string; note: string })[];
  /**
   * The app's DNS records. A removed one (dns-record-delete) is listed only with `include=deleted`,
   * marked `deleted`; one removed for good (purged) is named in `removedRecords`, always:
   * switchyard.yaml should drop it (docs/soft-deletes.md).
   */
  dns: {
    ttl: number;
    records: DnsRecordView[];
    removedRecords: (ControlTombstone & { name: string; note: string })[];
  };
  policies: AppConfig['policies'];
  /** The RPO truth, from the catalog and the verification records; null when no bucket answered. */
  restorePoints: RestorePointsStatus | null;
}

export interface DnsRecordView {
  provider: string;
  zone: string;
  name: string;
  type: string;
  /** Removed (docs/soft-deletes.md): by which operation, until when it can be undone, whether purged. */
  deleted?: Omit<ControlTombstone, 'target' | 'kind'>;
}

export interface RestorePointRef {
  id: string;
  cutAt: string;
  ageSeconds: number;
}

export interface RestorePointsStatus {
  /** The newest restore point not marked unrecoverable. */
  newest: RestorePointRef | null;
  /** The newest whose latest verification found it whole (verified or repaired). */
  newestVerified: (RestorePointRef & { verifiedAt: string; status: string }) | null;
  rpoSeconds: number;
  rpoMet: boolean;
  verifiedRpoMet: boolean;
  unrecoverable: string[];
}

export function restorePointsStatus(items: RestorePointView[], rpoSeconds: number): RestorePointsStatus {
  const ref = (i: RestorePointView): RestorePointRef => ({
    id: i.id,
    cutAt: i.cutAt,
    ageSeconds: i.ageSeconds,
  });
  const newest = items.find((i) => i.verification?.status !== 'unrecoverable');
  const verified = items.find(
    (i) => i.verification?.status === 'verified' || i.verification?.status === 'repaired',
  );
  return {
    newest: newest ? ref(newest) : null,
    newestVerified: verified
      ? {
          ...ref(verified),
          verifiedAt: verified.verification!.verifiedAt,
          status: verified.verification!.status,
        }
      : null,
    rpoSeconds,
    rpoMet: newest !== undefined && newest.ageSeconds <= rpoSeconds,
    verifiedRpoMet: verified !== undefined && verified.ageSeconds <= rpoSeconds,
    unrecoverable: items.filter((i) => i.verification?.status === 'unrecoverable').map((i) => i.id),
  };
}

@Injectable()
export class AppsService {
  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly controlState: ControlStateStore,
    private readonly operations: OperationsRepository,
    private readonly catalog: RestorePointCatalog,
    private readonly regionHealth: RegionHealthService,
    private readonly controlView: ControlViewService,
  ) {}

  appConfig(app: string): AppConfig {
    // Own keys only: `constructor` or `toString` from a path is an unknown app, not Object's.
    const a = Object.hasOwn(this.config.apps, app) ? this.config.apps[app] : undefined;
    if (!a) {
      throw ApiError.notFound('app-not-found', `no app named "${app}"`, {
        apps: Object.keys(this.config.apps),
      });
    }
    return a;
  }

  list(): { name: string; description?: string; regions: string[] }[] {
    return Object.entries(this.config.apps).map(([name, a]) => ({
      name,
      description: a.description,
      regions: a.regions.map((r) => r.name),
    }));
  }

  async readControlState(app: string): Promise<ControlStateRead> {
    try {
      return await this.controlState.read(app);
    } catch (err) {
      throw new ApiError(503, 'control-state-unavailable', describeS3Error(err));
    }
  }

  async get(name: string, opts: { includeDeleted?: boolean } = {}): Promise<AppView> {
    const app = this.appConfig(name);
    const [read, health, currentOperationId, catalog] = await Promise.all([
      this.controlView.read(name, { buckets: true }).catch((err: unknown) => {
        throw new ApiError(503, 'control-state-unavailable', (err as Error).message);
      }),
      // Built inside a promise: a throw while building it must reject Promise.all, not leave the
      // promises before it without a handler (an unhandled rejection ends the process).
      Promise.resolve().then(() =>
        Promise.all(
          app.regions.map((r) =>
            probeHttp(r.healthUrl, Math.min(2000, app.policies.healthTimeoutSeconds * 1000)),
          ),
        ),
      ),
      this.operations.activeOperationId(name).catch(() => undefined),
      app.services.length === 0 ? null : this.catalog.list(name).catch(() => null),
    ]);
    const control = read.view;
    const buckets = read.buckets && 'state' in read.buckets ? read.buckets : null;
    // A region the control state lists as halted is reported halted, whatever its probes say.
    this.regionHealth.syncHalted(name, control.state, `control state from the ${control.source}`);
    const states = this.regionHealth.states().get(name) ?? {};
    const bucketsError = read.buckets && 'error' in read.buckets ? read.buckets.error : undefined;
    return {
      name,
      description: app.description,
      activeRegion: control.state.activeRegion,
      epoch: control.state.epoch,
      controlStateSource: buckets?.source ?? 'unreadable',
      control,
      currentOperationId: currentOperationId ?? control.currentOperation ?? null,
      regions: app.regions.flatMap((r, i) => {
        const bucketRead = buckets?.regions.find((x) => x.region === r.name);
        const deleted = tombstoneOf(control.state, regionTarget(r.name));
        if (deleted && !opts.includeDeleted) return [];
        const view: RegionView = {
          name: r.name,
          role: r.name === control.state.activeRegion ? 'active' : 'standby',
          dnsTarget: r.dns.target,
          healthUrl: r.healthUrl,
          health: health[i]!,
          state: states[r.name] ?? 'unknown',
          bucket: {
            name: r.bucket.name,
            endpoint: r.bucket.endpoint,
            controlState: {
              ok: bucketRead?.ok ?? false,
              epoch: bucketRead?.epoch,
              error: bucketRead?.error ?? bucketsError,
            },
          },
          ...(deleted ? { deleted } : {}),
        };
        return [view];
      }),
      removedRegions: (control.state.tombstones ?? [])
        .filter((t) => t.kind === 'region-remove' && t.purgedAt)
        .map((t) => ({
          ...t,
          region: t.target.slice(regionTarget('').length),
          note: 'removed for good: drop it from switchyard.yaml',
        })),
      dns: dnsView(name, app, control.state, opts.includeDeleted === true),
      policies: app.policies,
      restorePoints: catalog ? restorePointsStatus(catalog.items, app.policies.rpoSeconds) : null,
    };
  }
}

/** The app's DNS records as GET /v1/apps/{app} shows them: removed ones hidden unless asked for. */
export function dnsView(
  appName: string,
  app: AppConfig,
  state: ControlState,
  includeDeleted: boolean,
): AppView['dns'] {
  const records: DnsRecordView[] = [];
  const removedRecords = new Map<string, AppView['dns']['removedRecords'][number]>();
  for (const r of app.dns.records) {
    const t = tombstoneOf(state, dnsRecordTarget(normalizeRecordName(r.name)));
    if (t?.purgedAt) {
      removedRecords.set(t.target, {
        ...t,
        name: normalizeRecordName(r.name),
        note: `removed for good: drop it from apps.${appName}.dns.records in switchyard.yaml`,
      });
    }
    if (t && !includeDeleted) continue;
    const { target: _target, kind: _kind, ...deleted } = t ?? ({} as ControlTombstone);
    records.push({
      provider: r.provider,
      zone: r.zone,
      name: r.name,
      type: r.type,
      ...(t ? { deleted } : {}),
    });
  }
  return { ttl: app.dns.ttl, records, removedRecords: [...removedRecords.values()] };
}
