import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import type { AuditStore } from '../../../infra/audit/audit.port';
import {
  monitoringTargets,
  monitoringVantagePoints,
  type SwitchyardConfig,
} from '../../../infra/config/config.schema';
import { describeTarget } from '../../../infra/health/probes';
import { QuorumAggregator } from '../../../infra/health/quorum-aggregator';
import type { RegionState, RegionTransition, Votes } from '../../../infra/health/region-detector';
import type { NotificationSink } from '../../../infra/notify/notification.port';
import { backoffDelay } from '../../../infra/notify/webhook.notifier';
import { ApiError } from '../common/api-error';
import { AUDIT_STORE, CONFIG, NOTIFICATION_SINK } from '../tokens';
import { ControlViewService } from '../apps/control-view.service';
import type { ControlState } from '../../../infra/storage/control-state.store';
import type { MonitorReport } from './region-health.dto';

export interface TransitionView {
  from: RegionState;
  to: RegionState;
  at: string;
  reason: string;
  votes: Votes;
}

export interface RegionHealthView {
  region: string;
  /** What the monitors probe (docs/health-monitoring.md). */
  target: string;
  state: RegionState;
  /** When the region entered its state; null while it is still `unknown`. */
  since: string | null;
  reason: string | null;
  votes: Votes;
  /** Newest first, at most HISTORY_LIMIT. */
  history: TransitionView[];
}

export interface AppRegionsView {
  app: string;
  vantagePoints: string[];
  recoverAfterSeconds: number;
  regions: RegionHealthView[];
}

/**
 * How old the halted regions /v1/regions shows may be (they come from the control state; GET
 * /v1/apps/{app} always reads them afresh). Reading the controller and the buckets is not free,
 * and the API shares its process with whatever else runs there: not more than once per 5 s.
 */
const HALTED_MAX_AGE_MS = 5_000;
/** Background re-read of the halted regions, so a returning halted region is noticed without a GET. */
const HALTED_SYNC_INTERVAL_MS = Number(process.env.SWITCHYARD_HALTED_SYNC_MS ?? 5_000);

/** How long the API's start waits for the first read of the halted regions. */
const WARM_UP_MS = 3_000;

/** Transitions kept per region (the detector's own bound). */
const HISTORY_LIMIT = 100;
const NOTIFY_ATTEMPTS = 5;

const view = (t: RegionTransition): TransitionView => ({
  from: t.from,
  to: t.to,
  at: new Date(t.at).toISOString(),
  reason: t.reason,
  votes: t.votes,
});

/**
 * Region health inside the API: one QuorumAggregator per app, fed by the monitors' reports
 * (POST /v1/monitor/reports). Only transitions leave it: each one is an audit event
 * `region.state-changed` and a `region.state-changed` notification. Probes and reports never
 * reach a workflow, and nothing here fails over. The state lives in memory: after a restart the
 * regions are `unknown` until the monitors report again.
 */
@Injectable()
export class RegionHealthService implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('region-health');
  private readonly aggregators = new Map<string, QuorumAggregator>();
  /** The vantage point whose report is being applied, for the transitions it causes (synchronous). */
  private reporting: string | undefined;
  /** Audit appends in the order of the transitions. */
  private recorded: Promise<void> = Promise.resolve();
  /** Per `app/region` while halted: whether a majority of vantage points said up at the last report. */
  private readonly haltedUp = new Map<string, boolean>();
  private readonly haltedReadAt = new Map<string, { at: number; pending?: Promise<void> }>();
  /** The newest control state seen per app (for the metrics), with where it came from. */
  private readonly control = new Map<string, ControlState>();
  private readonly syncTimer: NodeJS.Timeout | undefined;
  private readonly subscribers = new Set<(app: string, t: RegionTransition) => void>();

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    @Inject(AUDIT_STORE) private readonly audit: AuditStore,
    @Inject(NOTIFICATION_SINK) private readonly notifications: NotificationSink,
    @Optional() private readonly controlView?: ControlViewService,
  ) {
    if (controlView && HALTED_SYNC_INTERVAL_MS > 0) {
      this.syncTimer = setInterval(
        () => void this.refreshHalted(HALTED_SYNC_INTERVAL_MS / 2),
        HALTED_SYNC_INTERVAL_MS,
      );
      this.syncTimer.unref();
    }
    for (const [app, a] of Object.entries(config.apps)) {
      const agg = new QuorumAggregator({
        regions: a.regions.map((r) => r.name),
        vantagePoints: monitoringVantagePoints(a),
        recoverAfterSeconds: a.monitoring.recoverAfterSeconds,
      });
      agg.onTransition((t) => this.onTransition(app, t));
      this.aggregators.set(app, agg);
    }
  }

  /**
   * The first read of the control state opens the Temporal connection and the bucket clients,
   * which holds the event loop for a moment: done while the API starts (bounded), not in the
   * middle of its first answers.
   */
  async onModuleInit(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.refreshHalted(0),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, WARM_UP_MS))),
    ]);
    clearTimeout(timer);
  }

  onModuleDestroy(): void {
    if (this.syncTimer) clearInterval(this.syncTimer);
    for (const agg of this.aggregators.values()) agg.close();
  }

  /**
   * Marks the regions the control state lists as halted (and only those) `halted`. A fenced region
   * stays halted whatever its probes say until a failback unfences it (docs/fencing.md).
   */
  syncHalted(app: string, state: ControlState, source: string): void {
    const agg = this.aggregators.get(app);
    const a = this.config.apps[app];
    if (!agg || !a) return;
    this.control.set(app, state);
    const halted = state.halted;
    for (const r of a.regions) {
      const want = halted.includes(r.name);
      const key = `${app}/${r.name}`;
      if (want === (agg.state(r.name) === 'halted')) continue;
      if (want) this.haltedUp.set(key, majorityUp(agg.votes(r.name)));
      else this.haltedUp.delete(key);
      agg.setHalted(
        r.name,
        want,
        want
          ? `fenced: the ${source} lists it as halted`
          : `unfenced: the ${source} no longer lists it as halted`,
      );
    }
  }

  /** Re-reads the halted regions of every app from the control state unless read within `maxAgeMs`. */
  async refreshHalted(maxAgeMs = HALTED_MAX_AGE_MS): Promise<void> {
    const control = this.controlView;
    if (!control) return;
    await Promise.all(
      Object.keys(this.config.apps).map(async (app) => {
        const last = this.haltedReadAt.get(app);
        if (last?.pending) return last.pending;
        if (last && Date.now() - last.at < maxAgeMs) return;
        const pending = control
          .read(app)
          .then(({ view }) => this.syncHalted(app, view.state, `control state from the ${view.source}`))
          .catch((err: unknown) =>
            this.log.warn(`halted regions of ${app} not refreshed: ${(err as Error).message}`),
          )
          .finally(() => this.haltedReadAt.set(app, { at: Date.now() }));
        this.haltedReadAt.set(app, { at: last?.at ?? 0, pending });
        return pending;
      }),
    );
  }

  /**
   * Applies one monitor report; resolves once the transition it caused, if any, is in the audit
   * log. 422 for an app, region or vantage point outside the configuration.
   */
  async receive(report: MonitorReport): Promise<{ state: RegionState; transition: TransitionView | null }> {
    const { app, ...verdict } = report;
    const agg = this.aggregators.get(app);
    const appConfig = this.config.apps[app];
    if (!agg || !appConfig)
      throw ApiError.unprocessable('unknown-app', `no app named "${app}"`, {
        apps: Object.keys(this.config.apps),
      });
    const regions = appConfig.regions.map((r) => r.name);
    if (!regions.includes(verdict.region))
      throw ApiError.unprocessable('unknown-region', `app ${app} has no region "${verdict.region}"`, {
        regions,
      });
    const vantagePoints = monitoringVantagePoints(appConfig);
    if (!vantagePoints.includes(verdict.vantage))
      throw ApiError.unprocessable(
        'unknown-vantage-point',
        `"${verdict.vantage}" is not one of app ${app}'s vantage points (monitoring.vantagePoints)`,
        { vantagePoints },
      );
    this.reporting = verdict.vantage;
    let t: RegionTransition | undefined;
    try {
      t = agg.receive(verdict);
    } finally {
      this.reporting = undefined;
    }
    if (agg.state(verdict.region) === 'halted') this.watchHalted(app, verdict.region, verdict.vantage);
    await this.recorded;
    return { state: agg.state(verdict.region), transition: t ? view(t) : null };
  }

  list(): AppRegionsView[] {
    return Object.keys(this.config.apps).map((app) => this.app(app));
  }

  app(app: string): AppRegionsView {
    const a = this.config.apps[app]!;
    const agg = this.aggregators.get(app)!;
    const targets = monitoringTargets(a);
    return {
      app,
      vantagePoints: monitoringVantagePoints(a),
      recoverAfterSeconds: a.monitoring.recoverAfterSeconds,
      regions: a.regions.map((r) => {
        const history = agg.history(r.name);
        const last = history[history.length - 1];
        return {
          region: r.name,
          target: describeTarget(targets[r.name]!),
          state: agg.state(r.name),
          since: last ? new Date(last.at).toISOString() : null,
          reason: last?.reason ?? null,
          votes: agg.votes(r.name),
          history: history.slice(-HISTORY_LIMIT).reverse().map(view),
        };
      }),
    };
  }

  /** The newest control state this API has read, by app (refreshed with the halted regions). */
  controlStates(): ReadonlyMap<string, ControlState> {
    return this.control;
  }

  /**
   * Calls `fn` after each transition is applied (the failover trigger listens here); returns a
   * function that unsubscribes. A subscriber's error is logged, never passed to the report.
   */
  subscribe(fn: (app: string, t: RegionTransition) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** The current state of every region, by app. */
  states(): Map<string, Record<string, RegionState>> {
    return new Map([...this.aggregators].map(([app, agg]) => [app, agg.states()]));
  }

  /**
   * A halted region whose probes turn healthy again (a majority of vantage points says up) is an
   * old primary coming back: it stays halted; the audit log and the subscribers hear about it.
   */
  private watchHalted(app: string, region: string, vantage: string): void {
    const key = `${app}/${region}`;
    const votes = this.aggregators.get(app)!.votes(region);
    const up = majorityUp(votes);
    const was = this.haltedUp.get(key) ?? false;
    this.haltedUp.set(key, up);
    if (!up || was) return;
    const at = new Date().toISOString();
    const target = `region:${app}/${region}`;
    const reason = `${region} answers healthy again but stays halted until a failback`;
    this.log.warn(`${target}: ${reason}`);
    this.recorded = this.recorded.then(async () => {
      try {
        await this.audit.append({
          actor: `monitor:${vantage}`,
          action: 'region.halted-returned',
          target,
          reason,
          outcome: 'info',
          time: at,
          details: { state: 'halted', votes },
          idempotencyKey: `region.halted-returned:${app}/${region}/${at}`,
        });
      } catch (err) {
        this.log.error(`audit event not recorded for ${target} halted-returned: ${(err as Error).message}`);
      }
    });
    void this.notify('region.halted-returned', { app, region, state: 'halted', at, reason, votes });
  }

  private onTransition(app: string, t: RegionTransition): void {
    const actor = this.reporting ? `monitor:${this.reporting}` : 'system';
    const target = `region:${app}/${t.region}`;
    const at = new Date(t.at).toISOString();
    this.log.log(`${target}: ${t.from} -> ${t.to} (${t.reason})`);
    this.recorded = this.recorded.then(async () => {
      try {
        await this.audit.append({
          actor,
          action: 'region.state-changed',
          target,
          reason: t.reason,
          outcome: 'info',
          time: at,
          details: { from: t.from, to: t.to, reason: t.reason, votes: t.votes },
          idempotencyKey: `region.state-changed:${app}/${t.region}/${t.at}/${t.to}`,
        });
      } catch (err) {
        this.log.error(
          `audit event not recorded for ${target} ${t.from} -> ${t.to}: ${(err as Error).message}`,
        );
      }
    });
    void this.notify('region.state-changed', {
      app,
      region: t.region,
      from: t.from,
      to: t.to,
      at,
      reason: t.reason,
      votes: t.votes,
    });
    for (const fn of this.subscribers) {
      try {
        fn(app, t);
      } catch (err) {
        this.log.error(`transition subscriber failed for ${target}: ${(err as Error).message}`);
      }
    }
  }

  /** At least once to each subscribed webhook, retried with backoff; never blocks a report. */
  private async notify(
    event: 'region.state-changed' | 'region.halted-returned',
    payload: Record<string, unknown>,
  ): Promise<void> {
    const delivery = { id: randomUUID(), event, payload };
    await Promise.all(
      this.notifications.targets(delivery.event).map(async (target) => {
        for (let attempt = 1; ; attempt++) {
          try {
            await this.notifications.deliver(target, delivery);
            return;
          } catch (err) {
            const final = (err as { retryable?: boolean }).retryable === false;
            if (final || attempt >= NOTIFY_ATTEMPTS) {
              this.log.error(`${event} not delivered to ${target}: ${(err as Error).message}`);
              return;
            }
            await new Promise((r) =>
              setTimeout(r, backoffDelay(attempt, { initialDelayMs: 500, maxDelayMs: 10_000 })),
            );
          }
        }
      }),
    );
  }
}

function majorityUp(v: Votes): boolean {
  return v.up >= Math.floor(v.total / 2) + 1;
}
