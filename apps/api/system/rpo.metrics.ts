import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { RestorePointCatalog } from '../../../infra/backup/catalog';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { restorePointsStatus, type RestorePointsStatus } from '../apps/apps.service';
import { CONFIG } from '../tokens';
import { Metrics } from './metrics';

/** How long one reading of the catalogs serves scrapes (Prometheus scrapes every 15–60 s). */
const CACHE_MS = 10_000;

/**
 * The RPO truth as metrics, read from the restore point catalog when Prometheus scrapes:
 * `switchyard_restore_point_age_seconds{app, kind="committed"|"verified"}` (absent when there is
 * none), `switchyard_rpo_met{app, kind}` (1 or 0) and `switchyard_rpo_seconds{app}`.
 */
@Injectable()
export class RpoMetrics implements OnModuleInit {
  private cached: { at: number; value: Promise<Map<string, RestorePointsStatus | null>> } | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly catalog: RestorePointCatalog,
    private readonly metrics: Metrics,
  ) {}

  private read(): Promise<Map<string, RestorePointsStatus | null>> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.value;
    const value = (async () => {
      const out = new Map<string, RestorePointsStatus | null>();
      for (const [name, app] of Object.entries(this.config.apps)) {
        if (app.services.length === 0) continue;
        const listing = await this.catalog.list(name).catch(() => null);
        out.set(name, listing ? restorePointsStatus(listing.items, app.policies.rpoSeconds) : null);
      }
      return out;
    })();
    this.cached = { at: Date.now(), value };
    return value;
  }

  onModuleInit(): void {
    const read = () => this.read();
    const config = this.config;
    const registers = [this.metrics.registry];
    new Gauge({
      name: 'switchyard_restore_point_age_seconds',
      help: 'Age of the newest committed (kind="committed") and newest verified (kind="verified") restore point',
      labelNames: ['app', 'kind'] as const,
      registers,
      async collect() {
        this.reset();
        for (const [app, s] of await read()) {
          if (s?.newest) this.set({ app, kind: 'committed' }, s.newest.ageSeconds);
          if (s?.newestVerified) this.set({ app, kind: 'verified' }, s.newestVerified.ageSeconds);
        }
      },
    });
    new Gauge({
      name: 'switchyard_rpo_met',
      help: 'Whether the newest committed (kind="committed") or verified (kind="verified") restore point is within the RPO (1) or not (0)',
      labelNames: ['app', 'kind'] as const,
      registers,
      async collect() {
        this.reset();
        for (const [app, s] of await read()) {
          if (!s) continue;
          this.set({ app, kind: 'committed' }, s.rpoMet ? 1 : 0);
          this.set({ app, kind: 'verified' }, s.verifiedRpoMet ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'switchyard_rpo_seconds',
      help: "The app's configured recovery point objective",
      labelNames: ['app'] as const,
      registers,
      collect() {
        for (const [app, a] of Object.entries(config.apps)) this.set({ app }, a.policies.rpoSeconds);
      },
    });
  }
}
