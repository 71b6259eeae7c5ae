import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { OperationsRepository } from '../../../infra/temporal/operations.repository';
import type { DrillReport } from '../../../workflows/drill.workflow';
import { isTerminal } from '../../../workflows/operation';
import { CONFIG } from '../tokens';
import { Metrics } from './metrics';

/** How long one reading of the latest drills serves scrapes. */
const CACHE_MS = 10_000;

interface LastDrill {
  endedAt: string;
  report: DrillReport;
}

/**
 * The latest finished drill of each app as metrics (docs/drills.md), read from Temporal when
 * Prometheus scrapes: `switchyard_drill_passed{app}` (1 or 0), `switchyard_drill_rto_seconds{app}`
 * and `switchyard_drill_rpo_seconds{app}` (what it measured; absent when it did not get that far)
 * and `switchyard_drill_age_seconds{app}` (since it ended: alert when drills stop happening).
 * Apps never drilled have none.
 */
@Injectable()
export class DrillMetrics implements OnModuleInit {
  private cached: { at: number; value: Promise<Map<string, LastDrill>> } | undefined;

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly operations: OperationsRepository,
    private readonly metrics: Metrics,
  ) {}

  private read(): Promise<Map<string, LastDrill>> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.value;
    const value = (async () => {
      const out = new Map<string, LastDrill>();
      for (const app of Object.keys(this.config.apps)) {
        const recent = await this.operations.list({ app, kind: 'drill', limit: 10 }).catch(() => []);
        const last = recent
          .filter((o) => isTerminal(o.phase) && o.endedAt)
          .sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1))[0];
        if (!last) continue;
        const op = await this.operations.get(last.operationId).catch(() => null);
        const report = op?.facts.report as DrillReport | undefined;
        if (op?.endedAt && report) out.set(app, { endedAt: op.endedAt, report });
      }
      return out;
    })();
    this.cached = { at: Date.now(), value };
    return value;
  }

  onModuleInit(): void {
    const read = () => this.read();
    const registers = [this.metrics.registry];
    const gauge = (name: string, help: string, value: (d: LastDrill) => number | null | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['app'] as const,
        registers,
        async collect() {
          this.reset();
          for (const [app, d] of await read()) {
            const v = value(d);
            if (typeof v === 'number') this.set({ app }, v);
          }
        },
      });
    gauge('switchyard_drill_passed', 'Whether the latest finished drill passed (1) or not (0)', (d) =>
      d.report.passed ? 1 : 0,
    );
    gauge(
      'switchyard_drill_rto_seconds',
      'RTO the latest finished drill achieved: drill start to the scratch instance answering healthy',
      (d) => d.report.rtoSeconds,
    );
    gauge(
      'switchyard_drill_rpo_seconds',
      'RPO of the latest finished drill: age of the data it restored at its start',
      (d) => d.report.rpoSeconds,
    );
    gauge('switchyard_drill_age_seconds', 'Seconds since the latest finished drill ended', (d) =>
      Math.max(0, Math.round((Date.now() - Date.parse(d.endedAt)) / 1000)),
    );
  }
}
