import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Gauge } from 'prom-client';
import type { RegionState } from '../../../infra/health/region-detector';
import { RegionHealthService } from '../regions/region-health.service';
import { Metrics } from './metrics';

const STATES: RegionState[] = ['unknown', 'healthy', 'degraded', 'down', 'halted'];

/**
 * `switchyard_region_state{app, region, state}`: 1 for each region's current state, 0 for the
 * others; `switchyard_monitor_silent{app, vantage}`: 1 while a vantage point is silent.
 */
@Injectable()
export class RegionMetrics implements OnModuleInit {
  constructor(
    private readonly health: RegionHealthService,
    private readonly metrics: Metrics,
  ) {}

  onModuleInit(): void {
    const health = this.health;
    new Gauge({
      name: 'switchyard_region_state',
      help: "Each region's health state from the monitors' quorum: 1 for the current state (unknown, healthy, degraded, down, halted), 0 for the others",
      labelNames: ['app', 'region', 'state'] as const,
      registers: [this.metrics.registry],
      collect() {
        for (const [app, regions] of health.states())
          for (const [region, current] of Object.entries(regions))
            for (const state of STATES) this.set({ app, region, state }, state === current ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_monitor_silent',
      help: 'Whether a vantage point is silent (no report for staleAfterSeconds; its votes count as unknown): 1 silent, 0 reporting',
      labelNames: ['app', 'vantage'] as const,
      registers: [this.metrics.registry],
      collect() {
        for (const [app, vantages] of health.silentVantages())
          for (const [vantage, silent] of Object.entries(vantages))
            this.set({ app, vantage }, silent ? 1 : 0);
      },
    });
  }
}
