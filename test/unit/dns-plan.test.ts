import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../infra/config/config.loader';
import type { AppConfig } from '../../infra/config/config.schema';
import { buildDnsSwitchPlan, desiredRecordState, healthCheckSpecFor } from '../../infra/dns/dns-plan';
import { dnsTargets, type DnsSwitchPlan } from '../../workflows/dns-switch';

const EXAMPLE = path.resolve(__dirname, '../../../examples/switchyard.yaml');
const ENV = {
  PDNS_API_KEY: 'pdns-secret-key-value',
  EAST_S3_ACCESS_KEY: 'east-ak',
  EAST_S3_SECRET_KEY: 'east-secret-value',
  WEST_S3_ACCESS_KEY: 'west-ak',
  WEST_S3_SECRET_KEY: 'west-secret-value',
  ORDERS_DB_PASSWORD: 'orders-db-secret',
  LEDGER_HOOK_TOKEN: 'ledger-hook-secret',
};

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The shipped example with its DNS section changed by `edit`; only the Route 53 record unless asked. */
function exampleWith(edit: (dns: Doc) => void, keepPowerDns = false): Doc {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as Doc;
  const dns = doc.apps.shop.dns as Doc;
  if (!keepPowerDns) dns.records = (dns.records as Doc[]).filter((r) => r.provider === 'route53-local');
  edit(dns);
  return doc;
}

function load(doc: Doc): AppConfig {
  return parseConfig(stringify(doc), 'test.yaml', ENV).apps.shop!;
}

function issuesOf(doc: Doc): string[] {
  try {
    parseConfig(stringify(doc), 'test.yaml', ENV);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('DNS strategy configuration', () => {
  it('defaults to simple with the verify resolvers', () => {
    const app = load(exampleWith(() => {}, true));
    assert.equal(app.dns.strategy, 'simple');
    const plan = buildDnsSwitchPlan(app, 'east', 'west');
    assert.deepEqual(plan, {
      strategy: 'simple',
      ttl: 5,
      waitForTtl: true,
      targetAddress: '127.0.1.2',
      fromAddress: '127.0.1.1',
      weightedSteps: [100],
      stepWaitSeconds: 0,
      stepHealthTimeoutSeconds: 15,
      resolvers: ['127.0.0.1:8053'],
      fromRegion: 'east',
      targetRegion: 'west',
      resolverTimeoutSeconds: 60,
    });
  });

  it('weighted: default steps 10, 50, 100 and 30 s; explicit resolvers [] turn the resolver check off', () => {
    const app = load(
      exampleWith((dns) => {
        dns.strategy = 'weighted';
        dns.weighted = {};
        dns.resolvers = [];
      }),
    );
    const plan = buildDnsSwitchPlan(app, 'west', 'east');
    assert.deepEqual(plan.weightedSteps, [10, 50, 100]);
    assert.equal(plan.stepWaitSeconds, 30);
    assert.equal(plan.stepHealthTimeoutSeconds, 15);
    assert.deepEqual(plan.resolvers, []);
    assert.equal(plan.targetAddress, '127.0.1.1');
    assert.equal(plan.fromRegion, 'west');
  });

  it('refuses steps that do not rise or do not end at 100, naming the path', () => {
    const issues = issuesOf(
      exampleWith((dns) => {
        dns.strategy = 'weighted';
        dns.weighted = { steps: [10, 10, 60], stepWaitSeconds: 1 };
      }),
    );
    assert.deepEqual(issues, [
      'apps.shop.dns.weighted.steps[1]: steps must rise: 10 follows 10',
      'apps.shop.dns.weighted.steps: the last step must be 100 (all traffic on the target), not 60',
    ]);
    assert.match(
      issuesOf(
        exampleWith((dns) => Object.assign(dns, { strategy: 'weighted', weighted: { steps: [0, 100] } })),
      )[0]!,
      /^apps\.shop\.dns\.weighted\.steps\[0\]: a step sends at least 1%/,
    );
  });

  it('refuses failover routing on a PowerDNS record, naming the record; weighted is accepted there', () => {
    assert.deepEqual(issuesOf(exampleWith((dns) => (dns.strategy = 'failover-routing'), true)), [
      'apps.shop.dns.records[1].provider: strategy "failover-routing" needs Route 53 failover record sets and health checks; provider "powerdns-local" is powerdns (use strategy "simple" or "weighted", or a route53 provider)',
    ]);
    assert.deepEqual(issuesOf(exampleWith((dns) => (dns.strategy = 'weighted'), true)), []);
  });

  it('refuses a strategy section that does not match the strategy, and unknown strategies', () => {
    assert.deepEqual(issuesOf(exampleWith((dns) => (dns.weighted = { steps: [100] }))), [
      'apps.shop.dns.weighted: applies only with strategy "weighted" (strategy is "simple")',
    ]);
    assert.deepEqual(
      issuesOf(exampleWith((dns) => Object.assign(dns, { strategy: 'weighted', failoverRouting: {} }))),
      [
        'apps.shop.dns.failoverRouting: applies only with strategy "failover-routing" (strategy is "weighted")',
      ],
    );
    assert.match(
      issuesOf(exampleWith((dns) => (dns.strategy = 'latency')))[0]!,
      /^apps\.shop\.dns\.strategy: /,
    );
  });

  it('failover-routing: health check from the region healthUrl, settings override, stable reference', () => {
    const app = load(
      exampleWith((dns) => {
        dns.strategy = 'failover-routing';
        dns.failoverRouting = { healthCheck: { failureThreshold: 2, requestIntervalSeconds: 10 } };
      }),
    );
    const settings = app.dns.failoverRouting!.healthCheck;
    const east = app.regions[0]!;
    const spec = healthCheckSpecFor('shop', east, settings);
    assert.deepEqual(
      { ...spec, reference: undefined },
      {
        reference: undefined,
        type: 'HTTP',
        ipAddress: '127.0.1.1',
        port: 18080,
        resourcePath: '/healthz',
        requestIntervalSeconds: 10,
        failureThreshold: 2,
      },
    );
    assert.match(spec.reference, /^sy-shop-east-[0-9a-f]{32}$/);
    assert.equal(healthCheckSpecFor('shop', east, settings).reference, spec.reference);
    assert.notEqual(
      healthCheckSpecFor('shop', east, { ...settings, failureThreshold: 3 }).reference,
      spec.reference,
    );
    assert.notEqual(healthCheckSpecFor('shop', app.regions[1]!, settings).reference, spec.reference);
    const tcp = healthCheckSpecFor('shop', east, { ...settings, type: 'TCP', port: 5432 });
    assert.equal(tcp.resourcePath, undefined);
    assert.equal(tcp.port, 5432);
  });
});

const plan: DnsSwitchPlan = {
  strategy: 'weighted',
  ttl: 5,
  waitForTtl: true,
  targetAddress: '10.0.0.2',
  fromAddress: '10.0.0.1',
  weightedSteps: [10, 50, 100],
  stepWaitSeconds: 3,
  stepHealthTimeoutSeconds: 15,
  resolvers: [],
  fromRegion: 'east',
  targetRegion: 'west',
  resolverTimeoutSeconds: 10,
};

describe('dnsTargets and desiredRecordState', () => {
  it('weighted: one target per step, the old region keeping a weight-0 set at the end', () => {
    const targets = dnsTargets(plan);
    assert.deepEqual(
      targets.map((t) => (t.strategy === 'weighted' ? t.weights.map((w) => `${w.region}=${w.weight}`) : [])),
      [
        ['west=10', 'east=90'],
        ['west=50', 'east=50'],
        ['west=100', 'east=0'],
      ],
    );
    assert.deepEqual(desiredRecordState(targets[0]!), {
      simple: null,
      routed: [
        { setIdentifier: 'west', ttl: 5, values: ['10.0.0.2'], weight: 10 },
        { setIdentifier: 'east', ttl: 5, values: ['10.0.0.1'], weight: 90 },
      ],
    });
  });

  it('simple: one simple set at the target', () => {
    const [t] = dnsTargets({ ...plan, strategy: 'simple', weightedSteps: [100] });
    assert.deepEqual(desiredRecordState(t!), { simple: { ttl: 5, values: ['10.0.0.2'] }, routed: [] });
  });

  it('failover-routing: the target PRIMARY, the old region SECONDARY, each with its health check', () => {
    const targets = dnsTargets({ ...plan, strategy: 'failover-routing' });
    assert.equal(targets.length, 1);
    assert.deepEqual(desiredRecordState(targets[0]!, { west: 'hc-west', east: 'hc-east' }).routed, [
      { setIdentifier: 'west', ttl: 5, values: ['10.0.0.2'], failover: 'PRIMARY', healthCheckId: 'hc-west' },
      {
        setIdentifier: 'east',
        ttl: 5,
        values: ['10.0.0.1'],
        failover: 'SECONDARY',
        healthCheckId: 'hc-east',
      },
    ]);
    assert.throws(
      () => desiredRecordState(targets[0]!, { west: 'hc-west' }),
      /no health check id for region "east"/,
    );
  });
});
