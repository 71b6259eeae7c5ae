import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailoverTriggerService } from '../../apps/api/regions/failover-trigger.service';
import { ApiError } from '../../apps/api/common/api-error';
import type { AuditEventInput } from '../../infra/audit/audit.port';
import type { RegionState, RegionTransition } from '../../infra/health/region-detector';

/**
 * The failover trigger with its collaborators faked (immich-style service test): which down
 * transitions open a failover, to which standby, with what spec, and what is recorded when none opens.
 */

type Started = { app: string; req: Record<string, unknown>; principal: { name: string } };

function setup(
  options: {
    mode?: 'manual' | 'automatic';
    automatic?: Record<string, unknown>;
    states?: Record<string, RegionState>;
    halted?: string[];
    /** Regions removed by a region-remove operation (control-state tombstones). */
    removed?: string[];
    start?: (s: Started) => Promise<{ operationId: string }>;
    /** Regions restored as down after an API restart (their down transitions). */
    restoredDown?: RegionTransition[];
    /** Audit events from before the restart. */
    audited?: AuditEventInput[];
  } = {},
) {
  const events: AuditEventInput[] = [];
  const started: Started[] = [];
  let listener: ((app: string, t: RegionTransition) => void) | undefined;
  let states: Record<string, RegionState> = options.states ?? {
    east: 'down',
    west: 'healthy',
    north: 'healthy',
  };
  const config = {
    apps: {
      shop: {
        regions: [{ name: 'east' }, { name: 'west' }, { name: 'north' }],
        policies: { rpoSeconds: 600, approvals: { failover: { required: 1, expiresAfterSeconds: 3600 } } },
        failover: { steps: [], mode: options.mode ?? 'manual', automatic: options.automatic },
      },
    },
  };
  let downSince = '';
  const health = {
    subscribe: (fn: typeof listener) => {
      listener = fn;
      return () => (listener = undefined);
    },
    onRestoredDown: (fn: (app: string, t: RegionTransition) => void) => {
      for (const t of options.restoredDown ?? []) fn('shop', t);
      return () => undefined;
    },
    states: () => new Map([['shop', states]]),
    app: () => ({
      regions: Object.entries(states).map(([region, state]) => ({ region, state, since: downSince })),
    }),
  };
  const control = {
    read: async () => ({
      view: {
        state: {
          activeRegion: 'east',
          halted: options.halted ?? [],
          tombstones: (options.removed ?? []).map((r) => ({
            target: `region:${r}`,
            kind: 'region-remove',
            operationId: 'shop-rm1',
          })),
        },
      },
    }),
  };
  const operations = {
    startFailover: async (app: string, req: Record<string, unknown>, principal: { name: string }) => {
      const s = { app, req, principal };
      started.push(s);
      return options.start ? options.start(s) : { operationId: `op-${started.length}` };
    },
  };
  const audit = {
    append: async (e: AuditEventInput) => (events.push(e), e),
    list: async (q: { action: string; target: string; since: string }) => ({
      items: (options.audited ?? []).filter(
        (e) => e.action === q.action && e.target === q.target && (e.time ?? '') >= q.since,
      ),
      nextCursor: null,
    }),
  };
  for (const t of options.restoredDown ?? []) downSince = new Date(t.at).toISOString();
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const service = new FailoverTriggerService(
    config as any,
    audit as any,
    health as any,
    control as any,
    operations as any,
  );
  /* eslint-enable @typescript-eslint/no-explicit-any */
  service.onModuleInit();
  const transition = (region: string, to: RegionState, at = Date.now()): RegionTransition => {
    downSince = new Date(at).toISOString();
    const t: RegionTransition = {
      region,
      from: 'healthy',
      to,
      at,
      reason: 'third says down',
      votes: {
        up: 0,
        down: 2,
        unknown: 1,
        silent: 0,
        total: 3,
        byVantage: {
          east: { verdict: 'down', silentSince: null },
          west: { verdict: 'down', silentSince: null },
          third: { verdict: 'unknown', silentSince: null },
        },
      },
    };
    listener!('shop', t);
    return t;
  };
  return {
    service,
    events,
    started,
    transition,
    setStates: (s: Record<string, RegionState>) => (states = s),
  };
}

describe('failover trigger', () => {
  it('opens an unplanned failover of the active region as system:region-monitor, trigger in the spec', async () => {
    const s = setup({ states: { east: 'down', west: 'degraded', north: 'healthy' } });
    const t = s.transition('east', 'down');
    await s.service.idle();
    assert.equal(s.started.length, 1);
    const { req, principal } = s.started[0]!;
    assert.equal(principal.name, 'system:region-monitor');
    assert.equal(req.mode, 'unplanned');
    assert.equal(req.to, 'north', 'a healthy standby before a degraded one');
    assert.match(
      String(req.reason),
      /^manual failover: active region east down since .* \(2\/3 vantage points: third says down\)$/,
    );
    assert.deepEqual(req.trigger, {
      type: 'region-down',
      failoverMode: 'manual',
      region: 'east',
      downSince: new Date(t.at).toISOString(),
      from: 'healthy',
      transition: 'third says down',
      votes: t.votes,
      targetState: 'healthy',
    });
    assert.deepEqual(
      s.events.map((e) => [e.action, e.actor, e.target, e.details?.operationId]),
      [['failover.triggered', 'system:region-monitor', 'region:shop/east', 'op-1']],
    );
  });

  it('ignores a standby going down and transitions other than down', async () => {
    const s = setup();
    s.transition('west', 'down');
    s.transition('east', 'degraded');
    await s.service.idle();
    assert.equal(s.started.length, 0);
    assert.equal(s.events.length, 0);
  });

  it('never picks a down or halted standby, and records when none is left', async () => {
    const s = setup({ states: { east: 'down', west: 'down', north: 'healthy' }, halted: ['north'] });
    s.transition('east', 'down');
    await s.service.idle();
    assert.equal(s.started.length, 0);
    assert.equal(s.events[0]!.action, 'failover.not-triggered');
    assert.equal(s.events[0]!.details?.code, 'no-standby');
  });

  it('never picks a removed region (region-remove), however healthy', async () => {
    const s = setup({ states: { east: 'down', west: 'degraded', north: 'healthy' }, removed: ['north'] });
    s.transition('east', 'down');
    await s.service.idle();
    assert.equal(s.started.length, 1);
    assert.equal(s.started[0]!.req.to, 'west', 'the healthy north is removed: the degraded west is chosen');
  });

  it('records a 409 (an operation already running) once, without retrying', async () => {
    const s = setup({
      start: async () => {
        throw ApiError.conflict('operation-in-progress', 'an operation is already running for app "shop"', {
          operationId: 'op-running',
        });
      },
    });
    s.transition('east', 'down');
    await s.service.idle();
    assert.equal(s.started.length, 1);
    assert.equal(s.events.length, 1);
    assert.equal(s.events[0]!.action, 'failover.not-triggered');
    assert.equal(s.events[0]!.outcome, 'refused');
    assert.equal(s.events[0]!.details?.code, 'operation-in-progress');
    assert.deepEqual(s.events[0]!.details?.details, { operationId: 'op-running' });
  });

  it('automatic mode: waits downForSeconds, then opens with the resolved policy', async () => {
    const s = setup({ mode: 'automatic', automatic: { downForSeconds: 0.2 } });
    const begun = Date.now();
    s.transition('east', 'down');
    await s.service.idle();
    assert.ok(Date.now() - begun >= 190, `opened after ${Date.now() - begun} ms`);
    const trigger = s.started[0]!.req.trigger as Record<string, unknown>;
    assert.equal(trigger.failoverMode, 'automatic');
    assert.deepEqual(trigger.automatic, {
      downForSeconds: 0.2,
      requireStandbyHealthy: true,
      maxRestorePointAgeSeconds: 600,
      approvalWaitSeconds: 0,
    });
  });

  it('automatic mode: a region that leaves down during downForSeconds opens nothing', async () => {
    const s = setup({ mode: 'automatic', automatic: { downForSeconds: 0.2 } });
    s.transition('east', 'down');
    s.setStates({ east: 'degraded', west: 'healthy', north: 'healthy' });
    await s.service.idle();
    assert.equal(s.started.length, 0);
    assert.equal(s.events[0]!.details?.code, 'recovered');
  });

  const restoredDown = (at: number): RegionTransition => ({
    region: 'east',
    from: 'healthy',
    to: 'down',
    at,
    reason: 'b says down',
    votes: { up: 0, down: 3, unknown: 0, silent: 0, total: 3, byVantage: {} },
  });

  it('after an API restart, a restored down nobody decided on resumes: automatic waits only the rest of downForSeconds', async () => {
    const downAt = Date.now() - 300;
    const begun = Date.now();
    const s = setup({
      mode: 'automatic',
      automatic: { downForSeconds: 0.5 },
      restoredDown: [restoredDown(downAt)],
    });
    await s.service.idle();
    const took = Date.now() - begun;
    assert.equal(s.started.length, 1);
    assert.ok(
      took >= 150 && took < 450,
      `opened ${took} ms after the restart (down 300 ms before it, downForSeconds 0.5)`,
    );
    assert.equal(
      (s.started[0]!.req.trigger as { downSince: string }).downSince,
      new Date(downAt).toISOString(),
    );
    assert.equal(s.events[0]!.action, 'failover.triggered');
  });

  it('after an API restart, a restored down already decided on before (audited) opens nothing', async () => {
    const downAt = Date.now() - 60_000;
    const s = setup({
      restoredDown: [restoredDown(downAt)],
      audited: [
        {
          actor: 'system:region-monitor',
          action: 'failover.not-triggered',
          target: 'region:shop/east',
          outcome: 'refused',
          time: new Date(downAt + 5).toISOString(),
        },
      ],
    });
    await s.service.idle();
    assert.equal(s.started.length, 0);
    assert.equal(s.events.length, 0);
  });
});
