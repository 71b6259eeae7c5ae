import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { ApplicationFailure } from '@temporalio/common';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { createDnsActivities } from '../../infra/activities/dns.activities';
import {
  normalizeRecordState,
  sameRecordState,
  type DnsChange,
  type DnsProvider,
  type DnsRecordRef,
  type DnsRecordState,
  type HealthCheckSpec,
} from '../../infra/dns/dns.port';
import {
  runDnsSwitch,
  type DnsSwitchDeps,
  type DnsSwitchOperation,
  type DnsSwitchPlan,
} from '../../workflows/dns-switch';

/*
 * The switch's logic (steps, waits, health between steps, rollback, compensation) with the real
 * DNS activities over an in-memory Route 53 port: the paths moto cannot show (health checks are
 * never evaluated there) and the ones a test should not wait for (TTL, step waits).
 */

/** A Route 53-like provider in memory: state per name, health checks by reference, every write logged. */
class FakeRoute53 implements DnsProvider {
  readonly type = 'route53' as const;
  readonly states = new Map<string, DnsRecordState>();
  readonly healthChecks = new Map<string, HealthCheckSpec & { id: string }>();
  readonly writes: { name: string; state: DnsRecordState }[] = [];
  private changes = 0;
  constructor(readonly name: string) {}
  get = async (ref: DnsRecordRef) => (await this.getState(ref)).simple;
  upsert = async (ref: DnsRecordRef, set: { ttl: number; values: string[] }) =>
    (await this.applyState(ref, { simple: set, routed: [] }))!;
  waitForSync = async () => {};
  async getState(ref: DnsRecordRef): Promise<DnsRecordState> {
    return structuredClone(this.states.get(ref.name) ?? { simple: null, routed: [] });
  }
  async applyState(ref: DnsRecordRef, desired: DnsRecordState): Promise<DnsChange | null> {
    if (sameRecordState(await this.getState(ref), desired)) return null;
    const state = normalizeRecordState(desired);
    this.states.set(ref.name, state);
    this.writes.push({ name: ref.name, state });
    return { id: `C${++this.changes}`, status: 'PENDING', submittedAt: '2026-11-22T10:00:00.000Z' };
  }
  async ensureHealthCheck(spec: HealthCheckSpec): Promise<string> {
    let hc = this.healthChecks.get(spec.reference);
    if (!hc) {
      hc = { ...spec, id: `hc-${this.healthChecks.size + 1}` };
      this.healthChecks.set(spec.reference, hc);
    }
    return hc.id;
  }
}

const WWW = 'www.shop.test';
const API = 'api.shop.test';

function config(strategy: 'simple' | 'weighted' | 'failover-routing'): SwitchyardConfig {
  const region = (name: string, ip: string) => ({
    name,
    role: name === 'east' ? 'active' : 'standby',
    healthUrl: `http://${ip}:8080/healthz`,
    dns: { target: ip },
  });
  return {
    dnsProviders: { r53: { type: 'route53', syncTimeoutSeconds: 30 } },
    apps: {
      shop: {
        regions: [region('east', '10.0.0.1'), region('west', '10.0.0.2')],
        dns: {
          ttl: 5,
          waitForTtl: true,
          strategy,
          resolverTimeoutSeconds: 5,
          records: [
            { provider: 'r53', zone: 'shop.test', name: WWW, type: 'A' },
            { provider: 'r53', zone: 'shop.test', name: API, type: 'A' },
          ],
          ...(strategy === 'failover-routing'
            ? { failoverRouting: { healthCheck: { requestIntervalSeconds: 30, failureThreshold: 3 } } }
            : {}),
        },
        verify: { url: `http://${WWW}:8080/healthz`, resolvers: [], timeoutSeconds: 10 },
      },
    },
  } as unknown as SwitchyardConfig;
}

function plan(strategy: DnsSwitchPlan['strategy'], over: Partial<DnsSwitchPlan> = {}): DnsSwitchPlan {
  return {
    strategy,
    ttl: 5,
    waitForTtl: true,
    targetAddress: '10.0.0.2',
    fromAddress: '10.0.0.1',
    weightedSteps: strategy === 'weighted' ? [10, 50, 100] : [100],
    stepWaitSeconds: strategy === 'weighted' ? 3 : 0,
    stepHealthTimeoutSeconds: 15,
    resolvers: ['127.0.0.1:5353'],
    fromRegion: 'east',
    targetRegion: 'west',
    resolverTimeoutSeconds: 5,
    ...over,
  };
}

/** The switch with real activities over the fake provider; health and resolvers answer from `opts`. */
function harness(
  strategy: 'simple' | 'weighted' | 'failover-routing',
  opts: { unhealthyAtCheck?: number } = {},
) {
  const provider = new FakeRoute53('r53');
  const activities = createDnsActivities({
    config: config(strategy),
    dns: new Map([['r53', provider]]),
    logger: pino({ level: 'silent' }),
  });
  const events: string[] = [];
  let healthChecks = 0;
  const deps: DnsSwitchDeps = {
    captureDnsState: activities.captureDnsState,
    applyDnsTarget: async (input) => {
      const changes = await activities.applyDnsTarget(input);
      events.push(`apply ${changes.length}`);
      return changes;
    },
    restoreDnsState: async (input) => {
      const changes = await activities.restoreDnsState(input);
      events.push(`restore ${changes.length}`);
      return changes;
    },
    waitDnsChangesInSync: async (input) => {
      events.push(`sync ${input.changes.map((c) => c.change.id).join(',')}`);
    },
    checkDnsTargetHealth: async (input) => {
      healthChecks++;
      const healthy = healthChecks !== opts.unhealthyAtCheck;
      events.push(`health ${input.address} ${healthy ? 'ok' : 'down'}`);
      return { healthy, detail: healthy ? 'HTTP 200' : 'connect ECONNREFUSED' };
    },
    checkDnsResolvers: async (input) => {
      events.push(`resolvers ${input.resolvers.join(',')} ${input.expected}`);
      return input.resolvers.map((resolver) => ({ resolver, name: WWW, addresses: [input.expected] }));
    },
    sleep: async (ms) => {
      events.push(`sleep ${ms}`);
    },
  };
  const undo: { step: string; run: () => Promise<void> }[] = [];
  const audits: string[] = [];
  const op: DnsSwitchOperation = {
    status: { facts: {} },
    onFailureUndo: (step, run) => {
      undo.push({ step, run });
    },
    publish: () => {},
    audit: async (action, outcome, details = {}) => {
      audits.push(`${action} ${outcome} ${JSON.stringify(details)}`);
      events.push(action);
    },
  };
  const step: { detail?: string } = {};
  const run = (p: DnsSwitchPlan, skip?: { name: string; operationId: string }[]) =>
    runDnsSwitch(deps, op, step, {
      app: 'shop',
      taskQueuePrefix: 'switchyard',
      plan: p,
      ...(skip ? { skip } : {}),
    });
  return { provider, events, audits, undo, op, step, run };
}

const simpleAt = (ip: string, ttl = 5): DnsRecordState => ({ simple: { ttl, values: [ip] }, routed: [] });

describe('switchDns: simple', () => {
  it('captures, switches every record, waits in sync and the old TTL, then asks the resolvers', async () => {
    const h = harness('simple');
    h.provider.states.set(WWW, simpleAt('10.0.0.1', 20));
    h.provider.states.set(API, simpleAt('10.0.0.1'));
    await h.run(plan('simple'));
    assert.deepEqual(h.provider.states.get(WWW), simpleAt('10.0.0.2'));
    assert.deepEqual(h.provider.states.get(API), simpleAt('10.0.0.2'));
    assert.deepEqual(h.events, ['apply 2', 'sync C1,C2', 'sleep 20000', 'resolvers 127.0.0.1:5353 10.0.0.2']);
    assert.equal(h.undo.length, 1);
    assert.equal(h.undo[0]!.step, 'dns');
    assert.deepEqual(
      (h.op.status.facts.previousDns as { previous: unknown }[]).map((c) => c.previous),
      [
        { ttl: 20, values: ['10.0.0.1'] },
        { ttl: 5, values: ['10.0.0.1'] },
      ],
    );
    assert.match(h.step.detail!, /2 record\(s\) point at 10\.0\.0\.2/);

    // The compensation puts back exactly what was captured, once; again it changes nothing.
    await h.undo[0]!.run();
    assert.deepEqual(h.provider.states.get(WWW), simpleAt('10.0.0.1', 20));
    assert.deepEqual(h.provider.states.get(API), simpleAt('10.0.0.1'));
    const writes = h.provider.writes.length;
    await h.undo[0]!.run();
    assert.equal(h.provider.writes.length, writes);
  });

  it('a removed record (dns-record-delete) is never read nor written, and is named on the step', async () => {
    const h = harness('simple');
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    await h.run(plan('simple', { resolvers: [], waitForTtl: false }), [
      { name: API, operationId: 'shop-op-1' },
    ]);
    assert.deepEqual(h.provider.states.get(WWW), simpleAt('10.0.0.2'));
    assert.equal(h.provider.states.has(API), false, 'the removed record stays absent');
    assert.deepEqual(
      (h.op.status.facts.previousDns as { ref: { name: string } }[]).map((c) => c.ref.name),
      [WWW],
    );
    assert.equal(h.step.detail, `1 record(s) point at 10.0.0.2; skipped ${API} (removed by shop-op-1)`);
  });

  it('with every record removed the switch refuses before changing anything (dns-records-removed)', async () => {
    const h = harness('simple');
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    const removed = [
      { name: WWW, operationId: 'shop-op-1' },
      { name: API, operationId: 'shop-op-2' },
    ];
    await assert.rejects(h.run(plan('simple'), removed), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'dns-records-removed');
      assert.match(
        err.message,
        /every DNS record of app "shop" is removed: www\.shop\.test \(removed by shop-op-1\)/,
      );
      return true;
    });
    assert.equal(h.provider.writes.length, 0);
    assert.equal(h.undo.length, 0);
  });

  it('a retried apply (same target) submits nothing: no change twice', async () => {
    const h = harness('simple');
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    h.provider.states.set(API, simpleAt('10.0.0.1'));
    await h.run(plan('simple', { resolvers: [], waitForTtl: false }));
    await h.run(plan('simple', { resolvers: [], waitForTtl: false }));
    assert.equal(h.provider.writes.length, 2);
    assert.deepEqual(h.events, ['apply 2', 'sync C1,C2', 'apply 0', 'sync ']);
  });

  it('compensation of a record that did not exist removes it', async () => {
    const h = harness('simple');
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    await h.run(plan('simple', { resolvers: [] }));
    assert.deepEqual(h.provider.states.get(API), simpleAt('10.0.0.2'));
    await h.undo[0]!.run();
    assert.deepEqual(h.provider.states.get(API), { simple: null, routed: [] });
  });
});

describe('switchDns: weighted', () => {
  const weighted = (west: number, east: number): DnsRecordState => ({
    simple: null,
    routed: [
      { setIdentifier: 'east', ttl: 5, values: ['10.0.0.1'], weight: east },
      { setIdentifier: 'west', ttl: 5, values: ['10.0.0.2'], weight: west },
    ],
  });

  it('shifts in steps, waiting and checking the target between steps, from a simple record', async () => {
    const h = harness('weighted');
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    h.provider.states.set(API, weighted(0, 100));
    await h.run(plan('weighted'));
    assert.deepEqual(
      h.provider.writes.filter((w) => w.name === WWW).map((w) => w.state),
      [weighted(10, 90), weighted(50, 50), weighted(100, 0)],
    );
    assert.deepEqual(h.events, [
      'apply 2',
      'sync C1,C2',
      'dns.weights-shifted',
      'sleep 3000',
      'health 10.0.0.2 ok',
      'apply 2',
      'sync C3,C4',
      'dns.weights-shifted',
      'sleep 3000',
      'health 10.0.0.2 ok',
      'apply 2',
      'sync C5,C6',
      'dns.weights-shifted',
      'sleep 5000',
      'resolvers 127.0.0.1:5353 10.0.0.2',
    ]);
    assert.equal((h.op.status.facts.dnsChanges as unknown[]).length, 6);
    assert.equal(
      h.audits[0],
      'dns.weights-shifted info {"step":1,"steps":3,"weights":[{"region":"west","address":"10.0.0.2","weight":10},{"region":"east","address":"10.0.0.1","weight":90}],"changed":2}',
    );
  });

  it('rolls back to the captured record sets when the target is unhealthy between steps', async () => {
    const h = harness('weighted', { unhealthyAtCheck: 2 });
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    h.provider.states.set(API, weighted(0, 100));
    await assert.rejects(h.run(plan('weighted')), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'dns-target-unhealthy');
      assert.equal(err.nonRetryable, true);
      assert.match(
        err.message,
        /stopped at step 2\/3 \(west 50%, east 50%\): the target west \(10\.0\.0\.2\) is not healthy: connect ECONNREFUSED; records rolled back/,
      );
      return true;
    });
    assert.deepEqual(h.provider.states.get(WWW), simpleAt('10.0.0.1'));
    assert.deepEqual(h.provider.states.get(API), weighted(0, 100));
    assert.deepEqual(h.events.slice(-4), [
      'health 10.0.0.2 down',
      'restore 2',
      'sync C5,C6',
      'dns.shift-rolled-back',
    ]);
    assert.equal(
      h.audits.at(-1),
      'dns.shift-rolled-back failed {"step":2,"steps":3,"target":"west","reason":"connect ECONNREFUSED"}',
    );
    assert.match(h.step.detail!, /target unhealthy at step 2\/3/);
    // The operation's compensation after the rollback finds nothing left to change.
    await h.undo[0]!.run();
    assert.equal(h.events.at(-1), 'restore 0');
  });

  it('a single step of 100 checks no health and does not wait between steps', async () => {
    const h = harness('weighted');
    await h.run(plan('weighted', { weightedSteps: [100], resolvers: [] }));
    assert.deepEqual(h.events, ['apply 2', 'sync C1,C2', 'dns.weights-shifted']);
    assert.deepEqual(h.provider.states.get(WWW), weighted(100, 0));
  });
});

describe('switchDns: failover-routing', () => {
  it('makes the target PRIMARY and the old region SECONDARY, each with its own health check, reused', async () => {
    const h = harness('failover-routing');
    h.provider.states.set(WWW, simpleAt('10.0.0.1'));
    await h.run(plan('failover-routing', { resolvers: [] }));
    assert.equal(h.provider.healthChecks.size, 2, 'one health check per region, shared by both records');
    const byRef = [...h.provider.healthChecks.values()];
    const west = byRef.find((x) => x.ipAddress === '10.0.0.2')!;
    const east = byRef.find((x) => x.ipAddress === '10.0.0.1')!;
    assert.deepEqual(
      { type: west.type, port: west.port, path: west.resourcePath },
      { type: 'HTTP', port: 8080, path: '/healthz' },
    );
    for (const name of [WWW, API]) {
      assert.deepEqual(h.provider.states.get(name), {
        simple: null,
        routed: [
          {
            setIdentifier: 'east',
            ttl: 5,
            values: ['10.0.0.1'],
            failover: 'SECONDARY',
            healthCheckId: east.id,
          },
          {
            setIdentifier: 'west',
            ttl: 5,
            values: ['10.0.0.2'],
            failover: 'PRIMARY',
            healthCheckId: west.id,
          },
        ],
      });
    }

    // Switching back: roles swap, the same health checks are reused.
    const back = harness('failover-routing');
    back.provider.states.set(WWW, h.provider.states.get(WWW)!);
    for (const [k, v] of h.provider.healthChecks) back.provider.healthChecks.set(k, v);
    await back.run(
      plan('failover-routing', {
        resolvers: [],
        targetAddress: '10.0.0.1',
        fromAddress: '10.0.0.2',
        targetRegion: 'east',
        fromRegion: 'west',
      }),
    );
    assert.equal(back.provider.healthChecks.size, 2);
    assert.deepEqual(
      back.provider.states.get(WWW)!.routed.map((r) => `${r.setIdentifier} ${r.failover} ${r.healthCheckId}`),
      [`east PRIMARY ${east.id}`, `west SECONDARY ${west.id}`],
    );
    // Compensation restores the previous roles exactly.
    await back.undo[0]!.run();
    assert.deepEqual(back.provider.states.get(WWW), h.provider.states.get(WWW));
  });
});
