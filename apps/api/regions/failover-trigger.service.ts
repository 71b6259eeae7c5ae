import { isRemoved, regionTarget } from '../../../workflows/control';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { AuditStore } from '../../../infra/audit/audit.port';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import { automaticPolicy } from '../../../infra/config/failover-mode';
import type { RegionState, RegionTransition } from '../../../infra/health/region-detector';
import type { FailoverTrigger } from '../../../workflows/automatic-decision';
import { ControlViewService } from '../apps/control-view.service';
import { ApiError } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { OperationsService } from '../operations/operations.service';
import { AUDIT_STORE, CONFIG } from '../tokens';
import { RegionHealthService } from './region-health.service';

/** Who a failover opened by the monitors is requested by (docs/health-monitoring.md). */
export const REGION_MONITOR_PRINCIPAL: Principal = {
  name: 'system:region-monitor',
  roles: ['operator'],
  credential: 'system',
};

/** Standbys in order of preference; `down` and `halted` are never chosen. */
const STANDBY_RANK: Partial<Record<RegionState, number>> = { healthy: 0, degraded: 1, unknown: 2 };

/**
 * Detection → operation: when the monitors' quorum declares an app's ACTIVE region `down`, opens
 * an unplanned failover to its best standby as `system:region-monitor`. In manual mode it waits
 * for approval (approvers are notified by the operation's `approval.requested`); in automatic mode
 * it opens once the region has been down for `failover.automatic.downForSeconds`, and the
 * workflow decides by the policy (workflows/automatic-decision.ts). Each trigger is an audit
 * event `failover.triggered` or `failover.not-triggered`; a 409 (an operation already running) is
 * recorded, never retried.
 */
@Injectable()
export class FailoverTriggerService implements OnModuleInit, OnModuleDestroy {
  private readonly log = new Logger('failover-trigger');
  private unsubscribe: (() => void) | undefined;
  private readonly waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private closed = false;
  /** Triggers still at work, so a shutdown or a test can wait for them. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    @Inject(AUDIT_STORE) private readonly audit: AuditStore,
    private readonly health: RegionHealthService,
    private readonly control: ControlViewService,
    private readonly operations: OperationsService,
  ) {}

  onModuleInit(): void {
    const unsubscribe = this.health.subscribe((app, t) => {
      if (t.to === 'down') this.track(this.onDown(app, t));
    });
    const unrestored = this.health.onRestoredDown((app, t) => this.track(this.resume(app, t)));
    this.unsubscribe = () => {
      unsubscribe();
      unrestored();
    };
  }

  /**
   * A region restored as `down` after an API restart (docs/health-monitoring.md): if no trigger
   * decided on that `down` before the restart (no failover.triggered or failover.not-triggered for
   * it in the audit log), it is handled now as if it had just happened: in automatic mode the
   * rest of `downForSeconds` from the original `downSince` is waited, none if it has passed.
   */
  private async resume(app: string, t: RegionTransition): Promise<void> {
    const target = `region:${app}/${t.region}`;
    const since = new Date(t.at).toISOString();
    try {
      for (const action of ['failover.triggered', 'failover.not-triggered']) {
        const page = await this.audit.list({ action, target, since, limit: 1 });
        if (page.items.length) return;
      }
    } catch (err) {
      this.log.error(`${target} restored down, trigger not resumed: ${(err as Error).message}`);
      return;
    }
    this.log.log(`${target} restored down since ${since}: no trigger decided on it yet, resuming`);
    await this.onDown(app, t);
  }

  async onModuleDestroy(): Promise<void> {
    this.unsubscribe?.();
    this.closed = true;
    for (const w of this.waits) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waits.clear();
    await this.idle();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const w = {
        timer: setTimeout(() => {
          this.waits.delete(w);
          resolve();
        }, ms),
        resolve,
      };
      this.waits.add(w);
    });
  }

  /** Resolves once every trigger at work has opened its failover or recorded why not. */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async onDown(app: string, t: RegionTransition): Promise<void> {
    const appConfig = this.config.apps[app];
    if (!appConfig) return;
    const target = `region:${app}/${t.region}`;
    try {
      const { view } = await this.control.read(app);
      const { activeRegion, halted } = view.state;
      if (activeRegion !== t.region) {
        this.log.log(`${target} down, but ${activeRegion} is the active region: no failover`);
        return;
      }
      const policy = automaticPolicy(appConfig);
      const waitMs = policy ? policy.downForSeconds * 1000 - (Date.now() - t.at) : 0;
      if (waitMs > 0) {
        this.log.log(`${target} down: automatic failover once it has been down ${policy!.downForSeconds}s`);
        await this.sleep(waitMs);
        if (this.closed) return;
        if (!this.stillDown(app, t)) {
          await this.record(app, t, 'failover.not-triggered', {
            code: 'recovered',
            message: `${t.region} left down before the ${policy!.downForSeconds}s automatic.downForSeconds`,
          });
          return;
        }
      }
      const states = this.health.states().get(app) ?? {};
      const standby = appConfig.regions
        .map((r) => r.name)
        .filter(
          (r) =>
            r !== activeRegion &&
            !halted.includes(r) &&
            // A removed region (region-remove) is never a target.
            !isRemoved(view.state, regionTarget(r)) &&
            STANDBY_RANK[states[r]!] !== undefined,
        )
        .sort((a, b) => STANDBY_RANK[states[a]!]! - STANDBY_RANK[states[b]!]!)[0];
      if (!standby) {
        await this.record(app, t, 'failover.not-triggered', {
          code: 'no-standby',
          message: `no standby region fit to take ${app}: ${JSON.stringify(states)} (halted: ${halted.join(', ') || 'none'})`,
        });
        return;
      }
      const trigger: FailoverTrigger = {
        type: 'region-down',
        failoverMode: appConfig.failover.mode,
        region: t.region,
        downSince: new Date(t.at).toISOString(),
        from: t.from,
        transition: t.reason,
        votes: t.votes,
        targetState: states[standby]!,
        ...(policy ? { automatic: policy } : {}),
      };
      const reason =
        `${appConfig.failover.mode} failover: active region ${t.region} down since ${trigger.downSince} ` +
        `(${t.votes.down}/${t.votes.total} vantage points: ${t.reason})`;
      const { operationId } = await this.operations.startFailover(
        app,
        { to: standby, mode: 'unplanned', reason: reason.slice(0, 1000), trigger },
        REGION_MONITOR_PRINCIPAL,
      );
      this.log.warn(
        `${target} down: unplanned failover ${operationId} to ${standby} (${trigger.failoverMode})`,
      );
      await this.record(app, t, 'failover.triggered', {
        operationId,
        to: standby,
        failoverMode: trigger.failoverMode,
      });
    } catch (err) {
      const status = err instanceof ApiError ? err.getStatus() : undefined;
      const body =
        err instanceof ApiError ? (err.getResponse() as { error?: string; details?: unknown }) : {};
      const message = (err as Error).message;
      if (status === 409) this.log.warn(`${target} down, no failover opened: ${message}`);
      else this.log.error(`${target} down, failover not opened: ${message}`);
      await this.record(app, t, 'failover.not-triggered', {
        code: body.error ?? 'error',
        message,
        ...(body.details === undefined ? {} : { details: body.details }),
      });
    }
  }

  /** Whether the transition `t` is still the region's latest one (it has not left `down` since). */
  private stillDown(app: string, t: RegionTransition): boolean {
    const view = this.health.app(app).regions.find((r) => r.region === t.region);
    return view?.state === 'down' && view.since === new Date(t.at).toISOString();
  }

  private async record(
    app: string,
    t: RegionTransition,
    action: 'failover.triggered' | 'failover.not-triggered',
    details: Record<string, unknown>,
  ): Promise<void> {
    const at = new Date(t.at).toISOString();
    try {
      await this.audit.append({
        actor: REGION_MONITOR_PRINCIPAL.name,
        action,
        target: `region:${app}/${t.region}`,
        reason: `active region ${t.region} down since ${at}: ${t.reason}`,
        outcome: action === 'failover.triggered' ? 'accepted' : 'refused',
        details: { downSince: at, votes: t.votes, ...details },
        idempotencyKey: `${action}:${app}/${t.region}/${t.at}`,
      });
    } catch (err) {
      this.log.error(`audit event ${action} not recorded for ${app}/${t.region}: ${(err as Error).message}`);
    }
  }
}
