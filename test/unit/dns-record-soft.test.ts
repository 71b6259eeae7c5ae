import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { ApplicationFailure } from '@temporalio/common';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { createDnsRecordActivities } from '../../infra/activities/dns-record.activities';
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
  ABSENT,
  changedDetails,
  describeRecordState,
  type DnsRecordSnapshot,
  planConditionalWrite,
} from '../../infra/dns/dns-record-state';

/*
 * The provider side of soft DNS changes (docs/soft-deletes.md, DNS records): exact record sets,
 * the "changed since" comparison, conditional writes, and the record as a failover would write it.
 * The providers themselves (moto's delete quirks, paging) are covered in route53.dns.test.ts and
 * against the real servers in test/e2e/dns-record-soft.e2e.test.ts.
 */

class FakeProvider implements DnsProvider {
  readonly states = new Map<string, DnsRecordState>();
  readonly writes: { name: string; state: DnsRecordState }[] = [];
  readonly healthChecks = new Map<string, string>();
  synced: string[] = [];
  constructor(
    readonly name: string,
    readonly type: 'route53' | 'powerdns' = 'route53',
  ) {}
  get = async (ref: DnsRecordRef) => (await this.getState(ref)).simple;
  upsert = async (ref: DnsRecordRef, set: { ttl: number; values: string[] }) =>
    (await this.applyState(ref, { simple: set, routed: [] }))!;
  waitForSync = async (change: DnsChange) => void this.synced.push(change.id);
  async getState(ref: DnsRecordRef): Promise<DnsRecordState> {
    return structuredClone(this.states.get(ref.name) ?? ABSENT);
  }
  async applyState(ref: DnsRecordRef, desired: DnsRecordState): Promise<DnsChange | null> {
    if (sameRecordState(await this.getState(ref), desired)) return null;
    const state = normalizeRecordState(desired);
    this.states.set(ref.name, state);
    this.writes.push({ name: ref.name, state });
    return {
      id: `${this.name}-${this.writes.length}`,
      status: 'PENDING',
      submittedAt: '2026-11-22T10:00:00Z',
    };
  }
  async ensureHealthCheck(spec: HealthCheckSpec): Promise<string> {
    const id = this.healthChecks.get(spec.reference) ?? `hc-${spec.ipAddress}`;
    this.healthChecks.set(spec.reference, id);
    return id;
  }
}

const WWW = 'www.shop.test';
const API = 'api.shop.test';

function config(strategy: 'simple' | 'weighted' | 'failover-routing' = 'simple'): SwitchyardConfig {
  const region = (name: string, ip: string) => ({
    name,
    role: name === 'east' ? 'active' : 'standby',
    healthUrl: `http://${ip}:8080/healthz`,
    dns: { target: ip },
  });
  return {
    dnsProviders: {
      r53: { type: 'route53', syncTimeoutSeconds: 30 },
      pdns: { type: 'powerdns', syncTimeoutSeconds: 30 },
    },
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
            { provider: 'pdns', zone: 'shop.test', name: WWW, type: 'A' },
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

function harness(strategy?: 'simple' | 'weighted' | 'failover-routing') {
  const r53 = new FakeProvider('r53');
  const pdns = new FakeProvider('pdns', 'powerdns');
  const activities = createDnsRecordActivities({
    config: config(strategy),
    dns: new Map<string, DnsProvider>([
      ['r53', r53],
      ['pdns', pdns],
    ]),
    logger: pino({ level: 'silent' }),
  });
  return { r53, pdns, activities };
}

const ref = (name = WWW): DnsRecordRef => ({ zone: 'shop.test', name, type: 'A' });
const simple = (ip: string, ttl = 5): DnsRecordState => ({ simple: { ttl, values: [ip] }, routed: [] });
const weighted: DnsRecordState = {
  simple: null,
  routed: [
    { setIdentifier: 'east', ttl: 60, values: ['10.0.0.1'], weight: 100 },
    { setIdentifier: 'west', ttl: 60, values: ['10.0.0.2'], weight: 0 },
  ],
};
const snap = (provider: string, state: DnsRecordState, name = WWW): DnsRecordSnapshot => ({
  provider,
  ref: ref(name),
  state,
});

async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail('expected a refusal');
}

describe('planConditionalWrite (changed since)', () => {
  it('writes an entry still at `from`, skips one already at `to`, and refuses anything else', () => {
    const from = [snap('r53', weighted), snap('pdns', simple('10.0.0.1'))];
    const to = [snap('r53', ABSENT), snap('pdns', ABSENT)];
    // r53 as Switchyard left it, pdns already removed (a retried write): only r53 is written.
    let plan = planConditionalWrite([snap('r53', weighted), snap('pdns', ABSENT)], from, to);
    assert.deepEqual(plan.mismatches, []);
    assert.deepEqual(
      plan.writes.map((w) => w.provider),
      ['r53'],
    );
    // Someone changed pdns: a mismatch naming both values and what would be written.
    plan = planConditionalWrite([snap('r53', weighted), snap('pdns', simple('192.0.2.9'))], from, to);
    assert.deepEqual(plan.mismatches, [
      {
        provider: 'pdns',
        ref: ref(),
        expected: simple('10.0.0.1'),
        current: simple('192.0.2.9'),
        wouldWrite: ABSENT,
      },
    ]);
  });

  it('compares every set exactly: a changed TTL, weight, identifier or health check is a change', () => {
    const from = [snap('r53', weighted)];
    const to = [snap('r53', ABSENT)];
    const variants: DnsRecordState[] = [
      { ...weighted, routed: [{ ...weighted.routed[0]!, ttl: 61 }, weighted.routed[1]!] },
      { ...weighted, routed: [{ ...weighted.routed[0]!, weight: 99 }, weighted.routed[1]!] },
      { ...weighted, routed: [{ ...weighted.routed[0]!, setIdentifier: 'east-2' }, weighted.routed[1]!] },
      { ...weighted, routed: [{ ...weighted.routed[0]!, healthCheckId: 'hc-9' }, weighted.routed[1]!] },
      { simple: { ttl: 60, values: ['10.0.0.1'] }, routed: [] },
    ];
    for (const v of variants) {
      assert.equal(
        planConditionalWrite([snap('r53', v)], from, to).mismatches.length,
        1,
        describeRecordState(v),
      );
    }
    // The order of values and of sets is not a change.
    const reordered: DnsRecordState = { simple: null, routed: [...weighted.routed].reverse() };
    assert.deepEqual(planConditionalWrite([snap('r53', reordered)], from, to).mismatches, []);
  });

  it('an entry missing from `from` is expected absent', () => {
    const plan = planConditionalWrite(
      [snap('r53', simple('10.0.0.3'))],
      [],
      [snap('r53', simple('10.0.0.1'))],
    );
    assert.equal(plan.mismatches[0]?.expected.simple, null);
  });

  it('describes states in one line and details the refusal per provider', () => {
    assert.equal(describeRecordState(ABSENT), 'absent');
    assert.equal(describeRecordState(simple('10.0.0.2', 30)), 'ttl 30 [10.0.0.2]');
    assert.equal(
      describeRecordState(weighted),
      'east (weight 100) ttl 60 [10.0.0.1]; west (weight 0) ttl 60 [10.0.0.2]',
    );
    const d = changedDetails('WWW.shop.test.', [
      { provider: 'r53', ref: ref(), expected: ABSENT, current: simple('1.2.3.4'), wouldWrite: weighted },
    ]);
    assert.deepEqual(d, {
      name: WWW,
      expected: { r53: ABSENT },
      current: { r53: simple('1.2.3.4') },
      wouldWrite: { r53: weighted },
    });
  });
});

describe('DNS record activities', () => {
  it('reads every provider entry of the name exactly (weighted sets, TTL, identifiers, health checks)', async () => {
    const { r53, pdns, activities } = harness();
    r53.states.set(WWW, weighted);
    pdns.states.set(WWW, simple('10.0.0.1', 7));
    const read = await activities.readDnsRecord({ app: 'shop', name: 'WWW.shop.test.' });
    assert.deepEqual(read, [snap('r53', weighted), snap('pdns', simple('10.0.0.1', 7))]);
  });

  it('an unknown record is dns-record-not-found naming the records there are', async () => {
    const { activities } = harness();
    const err = await refusal(activities.readDnsRecord({ app: 'shop', name: 'nope.shop.test' }));
    assert.equal(err.type, 'dns-record-not-found');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /no DNS record "nope.shop.test" \(records: www.shop.test, api.shop.test\)/);
  });

  it('removes and restores byte for byte, waiting for each change to be in sync; a retry writes nothing', async () => {
    const { r53, pdns, activities } = harness();
    r53.states.set(WWW, weighted);
    pdns.states.set(WWW, simple('10.0.0.1', 7));
    const saved = await activities.readDnsRecord({ app: 'shop', name: WWW });
    const gone = saved.map((s) => ({ ...s, state: ABSENT }));
    const removed = await activities.writeDnsRecord({
      app: 'shop',
      name: WWW,
      from: saved,
      to: gone,
      since: 'left',
    });
    assert.deepEqual(removed, { written: ['r53', 'pdns'], unchanged: [] });
    assert.deepEqual(r53.synced, ['r53-1']);
    assert.deepEqual(await r53.getState(ref()), ABSENT);
    // Retried (the first attempt's answer lost): nothing is written again.
    const again = await activities.writeDnsRecord({
      app: 'shop',
      name: WWW,
      from: saved,
      to: gone,
      since: 'left',
    });
    assert.deepEqual(again, { written: [], unchanged: ['r53', 'pdns'] });
    await activities.writeDnsRecord({ app: 'shop', name: WWW, from: gone, to: saved, since: 'left' });
    assert.deepEqual(await r53.getState(ref()), normalizeRecordState(weighted));
    assert.deepEqual(await pdns.getState(ref()), simple('10.0.0.1', 7));
    // The other record was never touched.
    assert.equal(r53.writes.filter((w) => w.name === API).length, 0);
  });

  it('refuses to overwrite a record someone changed, naming both values, and changes nothing anywhere', async () => {
    const { r53, pdns, activities } = harness();
    const saved = [snap('r53', simple('10.0.0.1')), snap('pdns', simple('10.0.0.1'))];
    const gone = saved.map((s) => ({ ...s, state: ABSENT }));
    // r53 is still absent as Switchyard left it, but someone created the record on PowerDNS.
    pdns.states.set(WWW, simple('192.0.2.7', 300));
    const before = pdns.writes.length;
    const err = await refusal(
      activities.writeDnsRecord({ app: 'shop', name: WWW, from: gone, to: saved, since: 'left' }),
    );
    assert.equal(err.type, 'dns-record-changed');
    assert.equal(err.nonRetryable, true);
    assert.match(
      err.message,
      /^DNS record www.shop.test was changed behind Switchyard: pdns holds ttl 300 \[192.0.2.7\], Switchyard left absent \(would write ttl 5 \[10.0.0.1\]\); nothing was changed$/,
    );
    assert.deepEqual(err.details?.[0], {
      name: WWW,
      expected: { pdns: ABSENT },
      current: { pdns: simple('192.0.2.7', 300) },
      wouldWrite: { pdns: simple('10.0.0.1') },
    });
    assert.equal(r53.writes.length, 0, 'r53 was not written either');
    assert.equal(pdns.writes.length, before);
    assert.deepEqual(
      (await activities.checkDnsRecord({ app: 'shop', name: WWW, from: gone, to: saved })).map(
        (m) => m.provider,
      ),
      ['pdns'],
    );
  });

  it('the record as a failover writes it for each strategy', async () => {
    const one = async (strategy: 'simple' | 'weighted' | 'failover-routing') =>
      (
        await harness(strategy).activities.dnsRecordAsFailoverWrites({
          app: 'shop',
          name: API,
          from: 'east',
          to: 'west',
        })
      ).map((s) => s.state);
    assert.deepEqual(await one('simple'), [simple('10.0.0.2')]);
    assert.deepEqual(await one('weighted'), [
      {
        simple: null,
        routed: [
          { setIdentifier: 'west', ttl: 5, values: ['10.0.0.2'], weight: 100 },
          { setIdentifier: 'east', ttl: 5, values: ['10.0.0.1'], weight: 0 },
        ],
      },
    ]);
    const fr = await one('failover-routing');
    assert.deepEqual(
      fr[0]!.routed.map((r) => [r.setIdentifier, r.failover, r.healthCheckId]),
      [
        ['west', 'PRIMARY', 'hc-10.0.0.2'],
        ['east', 'SECONDARY', 'hc-10.0.0.1'],
      ],
    );
  });
});
