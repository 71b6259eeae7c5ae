import { Inject, Injectable } from '@nestjs/common';
import type { AppConfig, SwitchyardConfig } from '../../../infra/config/config.schema';
import { probeHttp, type ProbeResult } from '../../../infra/health/http-probe';
import { describeS3Error } from '../../../infra/storage/s3.client';
import { ControlStateStore, type ControlStateRead } from '../../../infra/storage/control-state.store';
import { OperationsRepository } from '../../../infra/temporal/operations.repository';
import { ApiError } from '../common/api-error';
import { CONFIG } from '../tokens';

export interface RegionView {
  name: string;
  role: 'active' | 'standby';
  dnsTarget: string;
  healthUrl: string;
  health: ProbeResult;
  bucket: { name: string; endpoint?: string; controlState: { ok: boolean; epoch?: number; error?: string } };
}

export interface AppView {
  name: string;
  description?: string;
  activeRegion: string;
  epoch: number;
  /** `buckets` once a failover has recorded a state; `config` before that. */
  controlStateSource: ControlStateRead['source'];
  currentOperationId: string | null;
  regions: RegionView[];
  dns: { ttl: number; records: { provider: string; zone: string; name: string; type: string }[] };
  policies: AppConfig['policies'];
}

@Injectable()
export class AppsService {
  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly controlState: ControlStateStore,
    private readonly operations: OperationsRepository,
  ) {}

  appConfig(app: string): AppConfig {
    const a = this.config.apps[app];
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

  async get(name: string): Promise<AppView> {
    const app = this.appConfig(name);
    const [control, health, currentOperationId] = await Promise.all([
      this.readControlState(name),
      Promise.all(
        app.regions.map((r) =>
          probeHttp(r.healthUrl, Math.min(2000, app.policies.healthTimeoutSeconds * 1000)),
        ),
      ),
      this.operations.activeOperationId(name).catch(() => undefined),
    ]);
    return {
      name,
      description: app.description,
      activeRegion: control.state.activeRegion,
      epoch: control.state.epoch,
      controlStateSource: control.source,
      currentOperationId: currentOperationId ?? null,
      regions: app.regions.map((r, i) => {
        const read = control.regions.find((x) => x.region === r.name);
        return {
          name: r.name,
          role: r.name === control.state.activeRegion ? 'active' : 'standby',
          dnsTarget: r.dns.target,
          healthUrl: r.healthUrl,
          health: health[i]!,
          bucket: {
            name: r.bucket.name,
            endpoint: r.bucket.endpoint,
            controlState: { ok: read?.ok ?? false, epoch: read?.epoch, error: read?.error },
          },
        };
      }),
      dns: {
        ttl: app.dns.ttl,
        records: app.dns.records.map((r) => ({
          provider: r.provider,
          zone: r.zone,
          name: r.name,
          type: r.type,
        })),
      },
      policies: app.policies,
    };
  }
}
