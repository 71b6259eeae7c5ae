import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
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
import { reportEverySeconds, staleAfterSeconds } from '../../../infra/health/monitor-settings';
import { describeTarget } from '../../../infra/health/probes';
import { QuorumAggregator, type VantageSilence } from '../../../infra/health/quorum-aggregator';
import type { RegionState, RegionTransition, Votes } from '../../../infra/health/region-detector';
import type { NotificationEventName, NotificationSink } from '../../../infra/notify/notification.port';
import {
  RegionHealthRepository,
  RegionTransitionRefusedError,
} from '../../../infra/temporal/region-health.repository';
import type { RegionHealthTransition } from '../../../workflows/region-health';
import { backoffDelay } from '../../../infra/notify/webhook.notifier';
import { ApiError } from '../common/api-error';
import { AUDIT_STORE, CONFIG, NOTIFICATION_SINK } from '../tokens';
import { ControlViewService } from '../apps/control-view.service';
import type { ControlState } from '../../../infra/storage/control-state.store';
import type { MonitorReport } from './region-health.dto';
import type { Principal } from '../common/principal';

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

export interface VantagePointView {
  vantage: string;
  /** Its last report received by this API (any region); null before the first. */
  lastReportAt: string | null;
  /** Since when it is silent (no report for staleAfterSeconds); null while it reports. */
  silentSince: string | null;
}

export interface AppRegionsView {
  app: string;
  vantagePoints: string[];
  recoverAfterSeconds: number;
  reportEverySeconds: number;
  staleAfterSeconds: number;
  /** Each vantage point's last report and silence. */
  vantages: VantagePointView[];
  /** Whether the regions' state and history were restored from the app's controller at the start. */
  restoredFromController: boolean;
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
/** Transitions waiting for the controller per app; beyond it the oldest are dropped (logged). */
const OUTBOX_LIMIT = 1_000;

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

const toRecord = (t: RegionTransition): RegionHealthTransition => ({
  region: t.region,
  from: t.from,
  to: t.to,
  at: new Date(t.at).toISOString(),
  reason: t.reason,
  votes: t.votes,
});

const fromRecord = (t: RegionHealthTransition): RegionTransition => ({
  region: t.region,
  from: t.from,
  to: t.to,
  at: Date.parse(t.at),
  reason: t.reason,
  votes: t.votes as Votes,
});

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
 * `region.state-changed`, a `region.state-changed` notification, and is recorded with the app's
 * controller workflow (recordRegionTransition), from which a restarted API restores each region's
 * state and history. Probes and reports never reach a workflow. A vantage point that stops
 * reporting is silent (`monitor.silent`, `monitor.resumed`). Nothing here fails over (the
 * failover trigger listens to the transitions).
 */
@Injectable()
export class RegionHealthService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
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
  /** Transitions on their way to each app's controller, oldest first, and whether one is being sent. */
  private readonly outbox = new Map<string, { queue: RegionHealthTransition[]; sending?: Promise<void> }>();
  /** Apps whose region health has been read from the controller (found or not). */
  private readonly restored = new Map<string, boolean>();
  private restoring: Promise<void> | undefined;
  /** Regions restored as `down` (their `down` transition), for listeners that join late. */
  private readonly restoredDown: { app: string; t: RegionTransition }[] = [];
  private readonly restoredListeners = new Set<(app: string, t: RegionTransition) => void>();
  private closed = false;

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    @Inject(AUDIT_STORE) private readonly audit: AuditStore,
    @Inject(NOTIFICATION_SINK) private readonly notifications: NotificationSink,
    @Optional() private readonly controlView?: ControlViewService,
    @Optional() private readonly store?: RegionHealthRepository,
  ) {
    if (controlView && HALTED_SYNC_INTERVAL_MS > 0) {
      this.syncTimer = setInterval(() => {
        void this.restore();
        void this.refreshHalted(HALTED_SYNC_INTERVAL_MS / 2);
      }, HALTED_SYNC_INTERVAL_MS);
      this.syncTimer.unref();
    }
    for (const [app, a] of Object.entries(config.apps)) {
      const agg = new QuorumAggregator({
        regions: a.regions.map((r) => r.name),
        vantagePoints: monitoringVantagePoints(a),
        recoverAfterSeconds: a.monitoring.recoverAfterSeconds,
        staleAfterSeconds: staleAfterSeconds(a.monitoring),
      });
      agg.onTransition((t) => this.onTransition(app, t));
      agg.onSilence((silence) => this.onSilence(app, silence));
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
    // The controller's region health first: a region that has a state of its own (halted, from
    // the control state) no longer takes the restored one.
    await Promise.race([
      this.restore().then(() => this.refreshHalted(0)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, WARM_UP_MS))),
    ]);
    clearTimeout(timer);
  }

  /** Reports can arrive from now on: a vantage point that sends none for staleAfterSeconds is silent. */
  onApplicationBootstrap(): void {
    for (const agg of this.aggregators.values()) agg.startSilenceClock();
  }

  onModuleDestroy(): void {
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    for (const agg of this.aggregators.values()) agg.close();
  }

  /**
   * Restores every app's region states and histories from its controller (once per app; retried
   * with the background sync while the controller cannot be read). A region that has had a
   * transition here since the start keeps its own state.
   */
  restore(): Promise<void> {
    const store = this.store;
    if (!store || this.restoring) return this.restoring ?? Promise.resolve();
    const apps = Object.keys(this.config.apps).filter((app) => !this.restored.has(app));
    if (!apps.length) return Promise.resolve();
    this.restoring = Promise.all(
      apps.map(async (app) => {
        try {
          const book = await store.load(app);
          const agg = this.aggregators.get(app)!;
          const taken: string[] = [];
          for (const [region, record] of Object.entries(book ?? {})) {
            if (!this.config.apps[app]!.regions.some((r) => r.name === region)) continue;
            const history = record.history.map(fromRecord);
            if (!agg.restore(region, { state: record.state, history })) continue;
            taken.push(`${region} ${record.state}`);
            const last = history[history.length - 1];
            if (record.state === 'down' && last) this.noteRestoredDown(app, last);
          }
          this.restored.set(app, taken.length > 0);
          if (taken.length)
            this.log.log(`${app}: region health restored from its controller (${taken.join(', ')})`);
        } catch (err) {
          this.log.warn(
            `${app}: region health not restored from its controller yet: ${(err as Error).message}`,
          );
        }
      }),
    ).then(() => {
      this.restoring = undefined;
    });
    return this.restoring;
  }

  /**
   * Calls `fn` for each region restored as `down` at the start, with the transition that made it
   * down (also for those restored before `fn` subscribed); the failover trigger resumes there.
   */
  onRestoredDown(fn: (app: string, t: RegionTransition) => void): () => void {
    this.restoredListeners.add(fn);
    for (const r of this.restoredDown) fn(r.app, r.t);
    return () => this.restoredListeners.delete(fn);
  }

  private noteRestoredDown(app: string, t: RegionTransition): void {
    this.restoredDown.push({ app, t });
    for (const fn of this.restoredListeners) fn(app, t);
  }

  /** Resolves once every transition so far is recorded with its controller (or given up). */
  async persisted(): Promise<void> {
    for (;;) {
      const sending = [...this.outbox.values()].map((o) => o.sending).filter(Boolean);
      if (!sending.length) return;
      await Promise.all(sending);
    }
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
   * Whether `principal` may send this report (docs/security.md): its token names the report's
   * vantage point (403 otherwise), and the report's `at` lies within api.maxReportClockSkewSeconds
   * of this API's clock (422 otherwise). The quorum orders reports by their receive time, not by
   * `at`; the bound keeps a report's own date believable in the audit log and the monitors' clocks honest.
   */
  checkReporter(report: MonitorReport, principal: Principal, now = Date.now()): void {
    if (!principal.vantage) {
      throw new ApiError(
        403,
        'vantage-not-bound',
        `${principal.name}'s token names no vantage point: reports need a monitor token bound to one (auth.tokens[].vantage, or POST /v1/tokens with a vantage)`,
      );
    }
    if (principal.vantage !== report.vantage) {
      throw new ApiError(
        403,
        'vantage-mismatch',
        `${principal.name}'s token reports for vantage point ${principal.vantage}, not ${report.vantage}`,
        { vantage: principal.vantage },
      );
    }
    const maxSkew = this.config.api.maxReportClockSkewSeconds;
    const skewMs = Date.parse(report.at) - now;
    if (Math.abs(skewMs) > maxSkew * 1000) {
      throw ApiError.unprocessable(
        'report-clock-skew',
        `the report's at (${report.at}) is ${Math.round(Math.abs(skewMs) / 1000)} s ${skewMs > 0 ? 'ahead of' : 'behind'} the API's clock (${new Date(now).toISOString()}); at most ${maxSkew} s is accepted (api.maxReportClockSkewSeconds)`,
        { at: report.at, serverTime: new Date(now).toISOString(), maxSkewSeconds: maxSkew },
      );
    }
  }

  /**
   * Applies one monitor report; resolves once the transition it caused, if any, is in the audit
   * log. 422 for an app, region or vantage point outside the configuration.
   */
  async receive(
    report: MonitorReport,
  ): Promise<{ state: RegionState; transition: TransitionView | null; changed: boolean }> {
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
    let out: ReturnType<QuorumAggregator['receiveReport']>;
    try {
      out = agg.receiveReport(verdict);
    } finally {
      this.reporting = undefined;
    }
    if (agg.state(verdict.region) === 'halted') this.watchHalted(app, verdict.region, verdict.vantage);
    await this.recorded;
    const t = out.transition;
    return { state: agg.state(verdict.region), transition: t ? view(t) : null, changed: out.changed };
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
      reportEverySeconds: reportEverySeconds(a.monitoring),
      staleAfterSeconds: staleAfterSeconds(a.monitoring),
      vantages: Object.entries(agg.vantageStatus()).map(([vantage, s]) => ({
        vantage,
        lastReportAt: iso(s.lastReportAt),
        silentSince: iso(s.silentSince),
      })),
      restoredFromController: this.restored.get(app) ?? false,
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

  /** Whether each vantage point is silent now, by app (for the metrics). */
  silentVantages(): Map<string, Record<string, boolean>> {
    return new Map(
      [...this.aggregators].map(([app, agg]) => [
        app,
        Object.fromEntries(
          Object.entries(agg.vantageStatus()).map(([v, s]) => [v, s.silentSince !== undefined]),
        ),
      ]),
    );
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
    this.persist(app, t);
    for (const fn of this.subscribers) {
      try {
        fn(app, t);
      } catch (err) {
        this.log.error(`transition subscriber failed for ${target}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * A vantage point fell silent or reports again: audit event and notification `monitor.silent` /
   * `monitor.resumed` (target `vantage:<app>/<vantage>`). Heartbeats themselves are never audited.
   */
  private onSilence(app: string, s: VantageSilence): void {
    const action = s.silent ? 'monitor.silent' : 'monitor.resumed';
    const target = `vantage:${app}/${s.vantage}`;
    const at = new Date(s.at).toISOString();
    const stale = staleAfterSeconds(this.config.apps[app]!.monitoring);
    const lastReportAt = iso(s.lastReportAt);
    const silentSince = iso(s.silentSince);
    const reason = s.silent
      ? `no report from ${s.vantage} for ${stale} s (last: ${lastReportAt ?? 'none since the API started'}); its votes count as unknown`
      : `${s.vantage} reports again (silent since ${silentSince})`;
    (s.silent ? this.log.warn : this.log.log).call(this.log, `${target}: ${reason}`);
    const details = s.silent
      ? { lastReportAt, staleAfterSeconds: stale }
      : { silentSince, silentForSeconds: s.silentSince === undefined ? null : (s.at - s.silentSince) / 1000 };
    this.recorded = this.recorded.then(async () => {
      try {
        await this.audit.append({
          actor: s.silent ? 'system' : `monitor:${s.vantage}`,
          action,
          target,
          reason,
          outcome: 'info',
          time: at,
          details,
          idempotencyKey: `${action}:${app}/${s.vantage}/${s.at}`,
        });
      } catch (err) {
        this.log.error(`audit event ${action} not recorded for ${target}: ${(err as Error).message}`);
      }
    });
    void this.notify(action, { app, vantage: s.vantage, at, reason, ...details });
  }

  /**
   * Queues the transition for the app's controller and sends the queue in order, retrying with
   * backoff while Temporal or the worker does not answer. Never blocks a report.
   */
  private persist(app: string, t: RegionTransition): void {
    if (!this.store) return;
    let box = this.outbox.get(app);
    if (!box) this.outbox.set(app, (box = { queue: [] }));
    box.queue.push(toRecord(t));
    if (box.queue.length > OUTBOX_LIMIT) {
      const dropped = box.queue.splice(0, box.queue.length - OUTBOX_LIMIT);
      this.log.error(`${app}: ${dropped.length} region transitions dropped before reaching its controller`);
    }
    if (!box.sending) box.sending = this.sendOutbox(app, box);
  }

  private async sendOutbox(app: string, box: { queue: RegionHealthTransition[]; sending?: Promise<void> }) {
    let attempt = 0;
    try {
      while (box.queue.length && !this.closed) {
        const next = box.queue[0]!;
        try {
          await this.store!.record(app, next);
          box.queue.shift();
          attempt = 0;
        } catch (err) {
          if (err instanceof RegionTransitionRefusedError) {
            this.log.error(`${app}/${next.region}: controller refused the transition: ${err.message}`);
            box.queue.shift();
            continue;
          }
          attempt++;
          const waitMs = backoffDelay(attempt, { initialDelayMs: 500, maxDelayMs: 10_000 });
          if (attempt === 1 || attempt % 10 === 0)
            this.log.warn(
              `${app}: region transition not recorded with its controller (attempt ${attempt}, next in ${waitMs} ms): ${(err as Error).message}`,
            );
          await new Promise((r) => setTimeout(r, waitMs).unref());
        }
      }
    } finally {
      box.sending = undefined;
    }
  }

  /** At least once to each subscribed webhook, retried with backoff; never blocks a report. */
  private async notify(event: NotificationEventName, payload: Record<string, unknown>): Promise<void> {
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
