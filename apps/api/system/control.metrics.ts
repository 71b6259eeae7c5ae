import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { RegionHealthService } from '../regions/region-health.service';
import { Metrics } from './metrics';

/**
 * The app control state as metrics (docs/fencing.md), from the newest state the API has read (at
 * most a few seconds old): `switchyard_control_epoch{app}` and `switchyard_control_writer{app,
 * region}` (1 for the region allowed to accept writes, 0 for the others; all 0 while fenced).
 */
@Injectable()
export class ControlMetrics implements OnModuleInit {
  constructor(
    private readonly health: RegionHealthService,
    private readonly metrics: Metrics,
  ) {}

  onModuleInit(): void {
    const health = this.health;
    new Gauge({
      name: 'switchyard_control_epoch',
      help: "Each app's fencing epoch (raised by every fence and every compensation of one)",
      labelNames: ['app'] as const,
      registers: [this.metrics.registry],
      collect() {
        for (const [app, state] of health.controlStates()) this.set({ app }, state.epoch);
      },
    });
    const regionsOf = (app: string) => health.app(app).regions.map((r) => r.region);
    new Gauge({
      name: 'switchyard_control_writer',
      help: 'The region whose instances may accept writes: 1 for it, 0 for the others (all 0 while fenced)',
      labelNames: ['app', 'region'] as const,
      registers: [this.metrics.registry],
      collect() {
        for (const [app, state] of health.controlStates())
          for (const region of regionsOf(app)) this.set({ app, region }, state.writer === region ? 1 : 0);
      },
    });
  }
}
