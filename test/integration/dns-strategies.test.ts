import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { promises as dnsp } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  DeleteHealthCheckCommand,
  DeleteHostedZoneCommand,
  GetHealthCheckCommand,
  ListHealthChecksCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { asyncLocalStorage, Context, type Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createDnsActivities, type DnsActivities } from '../../infra/activities/dns.activities';
import { configSchema, type SwitchyardConfig } from '../../infra/config/config.schema';
import { createDnsProviders } from '../../infra/dns/dns.registry';
import { localDnsProviders } from '../../infra/stack/app-config';
import { motoRoute53Client } from '../../infra/stack/moto.component';
import { runDnsSwitch, type DnsSwitchDeps, type DnsSwitchPlan } from '../../workflows/dns-switch';
import { stack } from '../support/stack';

/*
 * The DNS strategies against the real servers: weighted shifts and their rollback on moto (the
 * Route 53 API), failover routing record sets and health checks on moto, the resolver check with
 * real DNS queries to PowerDNS. The switch runs with the real activities; only the workflow's
 * clock (sleep) is a plain timer. Every test has its own zone.
 */

const EAST = '127.0.0.2'; // nothing listens here: an unhealthy target
const WEST = '127.0.0.3'; // the health server below listens here

const admin = motoRoute53Client(stack().moto);
const resolver = () => `${stack().powerdns.dnsHost}:${stack().powerdns.dnsPort}`;
let health: Server;
let healthPort = 0;

before(async () => {
  health = createServer((_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((resolve) => health.listen(0, WEST, resolve));
  healthPort = (health.address() as AddressInfo).port;
});
after(() => new Promise<void>((resolve) => health.close(() => resolve())));

const uniqueZone = () => `sy-${randomUUID().slice(0, 8)}.test`;

function appConfig(
  zone: string,
  dns: Record<string, unknown> & { records: { provider: string; name: string }[] },
): SwitchyardConfig {
  const region = (name: string, ip: string, role: string) => ({
    name,
    role,
    healthUrl: `http://${ip}:${healthPort}/healthz`,
    bucket: { name: `bucket-${name}` },
    dns: { target: ip },
  });
  return configSchema.parse({
    dnsProviders: localDnsProviders(stack()),
    apps: {
      shop: {
        regions: [region('east', EAST, 'active'), region('west', WEST, 'standby')],
        dns: { ttl: 1, ...dns, records: dns.records.map((r) => ({ ...r, zone })) },
        verify: { url: `http://www.${zone}:${healthPort}/healthz`, resolvers: [resolver()] },
      },
    },
  });
}

/** Runs `fn` inside an activity context (heartbeats dropped), as the worker would. */
function inActivity<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = new Context(
    {} as Info,
    new Promise<never>(() => {}),
    new AbortController().signal,
    () => {},
    undefined,
    {} as never,
    {} as never,
    {} as never,
  );
  return asyncLocalStorage.run(ctx, fn);
}

function activitiesFor(config: SwitchyardConfig): DnsActivities {
  const real = createDnsActivities({
    config,
    dns: createDnsProviders(config),
    logger: pino({ level: 'silent' }),
  });
  return Object.fromEntries(
    Object.entries(real).map(([name, fn]) => [
      name,
      (input: never) => inActivity(() => (fn as (i: never) => Promise<unknown>)(input)),
    ]),
  ) as DnsActivities;
}

/** A hosted zone on moto, with its record sets and the zone removed afterwards. */
async function motoZone(t: TestContext): Promise<{ zone: string; id: string }> {
  const zone = uniqueZone();
  const out = await admin.send(new CreateHostedZoneCommand({ Name: zone, CallerReference: randomUUID() }));
  const id = (out.HostedZone?.Id ?? assert.fail('no hosted zone id')).replace('/hostedzone/', '');
  t.after(async () => {
    for (const s of await motoSets(id)) {
      await admin.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: id,
          ChangeBatch: { Changes: [{ Action: 'DELETE', ResourceRecordSet: s }] },
        }),
      );
    }
    await admin.send(new DeleteHostedZoneCommand({ Id: id }));
  });
  return { zone, id };
}

/** Every A record set of the zone, as moto lists it, sorted by name then identifier. */
async function motoSets(id: string): Promise<ResourceRecordSet[]> {
  const out = await admin.send(new ListResourceRecordSetsCommand({ HostedZoneId: id, MaxItems: 300 }));
  return (out.ResourceRecordSets ?? [])
    .filter((s) => s.Type === 'A')
    .sort((a, b) => `${a.Name}|${a.SetIdentifier}`.localeCompare(`${b.Name}|${b.SetIdentifier}`));
}

/** `name id weight values` per set: what a weighted shift changes. */
const weights = (sets: ResourceRecordSet[]) =>
  sets.map(
    (s) =>
      `${s.Name} ${s.SetIdentifier ?? '-'} ${s.Weight ?? s.Failover ?? '-'} ${(s.ResourceRecords ?? []).map((r) => r.Value).join(',')}`,
  );

async function upsertRaw(id: string, sets: ResourceRecordSet[]): Promise<void> {
  await admin.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: id,
      ChangeBatch: { Changes: sets.map((ResourceRecordSet) => ({ Action: 'UPSERT', ResourceRecordSet })) },
    }),
  );
}

function basePlan(over: Partial<DnsSwitchPlan>): DnsSwitchPlan {
  return {
    strategy: 'weighted',
    ttl: 1,
    waitForTtl: false,
    targetAddress: WEST,
    fromAddress: EAST,
    weightedSteps: [10, 50, 100],
    stepWaitSeconds: 0,
    stepHealthTimeoutSeconds: 1,
    resolvers: [],
    fromRegion: 'east',
    targetRegion: 'west',
    resolverTimeoutSeconds: 5,
    ...over,
  };
}

/** The switch with real activities; `afterApply` sees the world after each write. */
function switcher(config: SwitchyardConfig, afterApply: () => Promise<void> = async () => {}) {
  const a = activitiesFor(config);
  const undo: (() => Promise<void>)[] = [];
  const deps: DnsSwitchDeps = {
    ...a,
    applyDnsTarget: async (input) => {
      const changes = await a.applyDnsTarget(input);
      await afterApply();
      return changes;
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
  const op = {
    status: { facts: {} as Record<string, unknown> },
    onFailureUndo: (_step: string, run: () => Promise<void>) => void undo.push(run),
    publish: () => {},
    audit: async () => {},
  };
  const step: { detail?: string } = {};
  return {
    op,
    step,
    undo,
    activities: a,
    run: (plan: DnsSwitchPlan) =>
      runDnsSwitch(deps, op, step, { app: 'shop', taskQueuePrefix: 'switchyard', plan }),
  };
}

describe('weighted strategy on moto', { timeout: 60_000 }, () => {
  it('shifts 10 → 50 → 100 from a simple record, the sets observed after each step; a second name sharing the identifiers is untouched', async (t) => {
    const { zone, id } = await motoZone(t);
    await upsertRaw(id, [
      { Name: `www.${zone}.`, Type: 'A', TTL: 1, ResourceRecords: [{ Value: EAST }] },
      // Not one of the app's records, same identifiers: moto's delete by SetIdentifier would hit it.
      {
        Name: `other.${zone}.`,
        Type: 'A',
        SetIdentifier: 'east',
        Weight: 7,
        TTL: 1,
        ResourceRecords: [{ Value: '10.7.7.7' }],
      },
    ]);
    const config = appConfig(zone, {
      strategy: 'weighted',
      weighted: { steps: [10, 50, 100], stepWaitSeconds: 0 },
      records: [{ provider: 'route53-local', name: `www.${zone}` }],
    });
    const seen: string[][] = [];
    const s = switcher(config, async () => void seen.push(weights(await motoSets(id))));
    await s.run(basePlan({ stepWaitSeconds: 1 }));
    const other = `other.${zone}. east 7 10.7.7.7`;
    assert.deepEqual(seen, [
      [other, `www.${zone}. east 90 ${EAST}`, `www.${zone}. west 10 ${WEST}`],
      [other, `www.${zone}. east 50 ${EAST}`, `www.${zone}. west 50 ${WEST}`],
      [other, `www.${zone}. east 0 ${EAST}`, `www.${zone}. west 100 ${WEST}`],
    ]);
    assert.match(s.step.detail!, /1 record\(s\) point at west 100%, east 0%/);

    // The compensation brings back exactly the simple record; the other name keeps its set.
    await s.undo[0]!();
    assert.deepEqual(weights(await motoSets(id)), [other, `www.${zone}. - - ${EAST}`]);
  });

  it('rolls back to the exact previous record sets when the target is unhealthy between steps', async (t) => {
    const { zone, id } = await motoZone(t);
    // Traffic on west, the shift goes to east, where nothing answers.
    await upsertRaw(id, [
      {
        Name: `www.${zone}.`,
        Type: 'A',
        SetIdentifier: 'west',
        Weight: 100,
        TTL: 1,
        ResourceRecords: [{ Value: WEST }],
      },
      {
        Name: `www.${zone}.`,
        Type: 'A',
        SetIdentifier: 'east',
        Weight: 0,
        TTL: 1,
        ResourceRecords: [{ Value: EAST }],
      },
      { Name: `api.${zone}.`, Type: 'A', TTL: 1, ResourceRecords: [{ Value: WEST }] },
    ]);
    const before = await motoSets(id);
    const config = appConfig(zone, {
      strategy: 'weighted',
      weighted: { steps: [25, 100], stepWaitSeconds: 0 },
      records: [
        { provider: 'route53-local', name: `www.${zone}` },
        { provider: 'route53-local', name: `api.${zone}` },
      ],
    });
    const seen: string[][] = [];
    const s = switcher(config, async () => void seen.push(weights(await motoSets(id))));
    const started = Date.now();
    await assert.rejects(
      s.run(
        basePlan({
          weightedSteps: [25, 100],
          targetAddress: EAST,
          fromAddress: WEST,
          targetRegion: 'east',
          fromRegion: 'west',
        }),
      ),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.type, 'dns-target-unhealthy');
        assert.match(
          err.message,
          /stopped at step 1\/2 \(east 25%, west 75%\): the target east \(127\.0\.0\.2\) is not healthy: .*ECONNREFUSED.*; records rolled back/,
        );
        return true;
      },
    );
    // Only the first step was applied, to both records.
    assert.deepEqual(seen, [
      [
        `api.${zone}. east 25 ${EAST}`,
        `api.${zone}. west 75 ${WEST}`,
        `www.${zone}. east 25 ${EAST}`,
        `www.${zone}. west 75 ${WEST}`,
      ],
    ]);
    assert.deepEqual(await motoSets(id), before);
    assert.ok(Date.now() - started >= 1000, 'the target was given the step health timeout (1 s)');
  });
});

describe('failover-routing strategy on moto', { timeout: 60_000 }, () => {
  it('writes PRIMARY (target) and SECONDARY records with a health check per region, reused by the next switch', async (t) => {
    const { zone, id } = await motoZone(t);
    await upsertRaw(id, [{ Name: `www.${zone}.`, Type: 'A', TTL: 1, ResourceRecords: [{ Value: EAST }] }]);
    const config = appConfig(zone, {
      strategy: 'failover-routing',
      failoverRouting: { healthCheck: { failureThreshold: 2, requestIntervalSeconds: 10 } },
      records: [{ provider: 'route53-local', name: `www.${zone}` }],
    });
    const checksBefore = new Set(
      ((await admin.send(new ListHealthChecksCommand({}))).HealthChecks ?? []).map((h) => h.Id),
    );
    const s = switcher(config);
    await s.run(basePlan({ strategy: 'failover-routing', weightedSteps: [100] }));
    const sets = await motoSets(id);
    assert.deepEqual(weights(sets), [
      `www.${zone}. east SECONDARY ${EAST}`,
      `www.${zone}. west PRIMARY ${WEST}`,
    ]);
    const created = ((await admin.send(new ListHealthChecksCommand({}))).HealthChecks ?? []).filter(
      (h) => !checksBefore.has(h.Id),
    );
    t.after(async () => {
      for (const h of created) await admin.send(new DeleteHealthCheckCommand({ HealthCheckId: h.Id }));
    });
    assert.equal(created.length, 2);
    for (const set of sets) {
      const hc = await admin.send(new GetHealthCheckCommand({ HealthCheckId: set.HealthCheckId }));
      const ip = set.SetIdentifier === 'west' ? WEST : EAST;
      assert.deepEqual(
        {
          type: hc.HealthCheck?.HealthCheckConfig?.Type,
          ip: hc.HealthCheck?.HealthCheckConfig?.IPAddress,
          port: hc.HealthCheck?.HealthCheckConfig?.Port,
          path: hc.HealthCheck?.HealthCheckConfig?.ResourcePath,
          threshold: hc.HealthCheck?.HealthCheckConfig?.FailureThreshold,
          reference: hc.HealthCheck?.CallerReference,
        },
        {
          type: 'HTTP',
          ip,
          port: healthPort,
          path: '/healthz',
          threshold: 2,
          reference: hc.HealthCheck?.CallerReference?.startsWith(`sy-shop-${set.SetIdentifier}-`)
            ? hc.HealthCheck.CallerReference
            : 'a reference naming app and region',
        },
      );
    }

    // Back to east: roles swap, no new health check (moto would happily create duplicates).
    const back = switcher(config);
    await back.run(
      basePlan({
        strategy: 'failover-routing',
        weightedSteps: [100],
        targetAddress: EAST,
        fromAddress: WEST,
        targetRegion: 'east',
        fromRegion: 'west',
      }),
    );
    assert.deepEqual(weights(await motoSets(id)), [
      `www.${zone}. east PRIMARY ${EAST}`,
      `www.${zone}. west SECONDARY ${WEST}`,
    ]);
    const after = ((await admin.send(new ListHealthChecksCommand({}))).HealthChecks ?? []).filter(
      (h) => !checksBefore.has(h.Id),
    );
    assert.equal(after.length, 2);

    // Compensations in reverse: the first switch's state, then the simple record of the start.
    await back.undo[0]!();
    assert.deepEqual(weights(await motoSets(id)), [
      `www.${zone}. east SECONDARY ${EAST}`,
      `www.${zone}. west PRIMARY ${WEST}`,
    ]);
    await s.undo[0]!();
    assert.deepEqual(weights(await motoSets(id)), [`www.${zone}. - - ${EAST}`]);
  });
});

describe('resolver check through PowerDNS', { timeout: 60_000 }, () => {
  const pdns = () => stack().powerdns;
  const zonesUrl = () => `${pdns().apiUrl}/api/v1/servers/${pdns().serverId}/zones`;
  const headers = () => ({ 'X-API-Key': pdns().apiKey, 'Content-Type': 'application/json' });

  async function pdnsZone(t: TestContext): Promise<string> {
    const zone = uniqueZone();
    const res = await fetch(zonesUrl(), {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify({ name: `${zone}.`, kind: 'Native', nameservers: [`ns1.${zone}.`] }),
    });
    assert.equal(res.status, 201, await res.text());
    t.after(async () => {
      await fetch(`${zonesUrl()}/${zone}.`, { method: 'DELETE', headers: headers() });
    });
    return zone;
  }

  it('simple switch on PowerDNS: after sync and the TTL the resolver answers the target; compensation of a missing record deletes it', async (t) => {
    const zone = await pdnsZone(t);
    const config = appConfig(zone, {
      records: [
        { provider: 'powerdns-local', name: `www.${zone}` },
        { provider: 'powerdns-local', name: `api.${zone}` },
      ],
    });
    const s = switcher(config);
    await s.activities.applyDnsTarget({ app: 'shop', target: { strategy: 'simple', ttl: 1, address: EAST } });
    const started = Date.now();
    await s.run(
      basePlan({ strategy: 'simple', weightedSteps: [100], waitForTtl: true, resolvers: [resolver()] }),
    );
    assert.ok(Date.now() - started >= 1000, 'waited the old TTL (1 s) before asking');
    assert.deepEqual(s.op.status.facts.dnsResolverAnswers, [
      { resolver: resolver(), name: `www.${zone}`, addresses: [WEST] },
      { resolver: resolver(), name: `api.${zone}`, addresses: [WEST] },
    ]);
    await s.undo[0]!();
    const r = new dnsp.Resolver({ timeout: 2000, tries: 1 });
    r.setServers([resolver()]);
    assert.deepEqual(await r.resolve4(`www.${zone}`), [EAST]);

    // A record that did not exist before a switch is removed by its compensation.
    const fresh = appConfig(zone, { records: [{ provider: 'powerdns-local', name: `new.${zone}` }] });
    const n = switcher(fresh);
    await n.run(basePlan({ strategy: 'simple', weightedSteps: [100], resolvers: [resolver()] }));
    assert.deepEqual(await r.resolve4(`new.${zone}`), [WEST]);
    await n.undo[0]!();
    await assert.rejects(r.resolve4(`new.${zone}`), { code: 'ENOTFOUND' });
  });

  it('weighted on PowerDNS: a LUA record answers both regions at 50/50 and only the target at 100; compensation brings the A record back', async (t) => {
    const zone = await pdnsZone(t);
    const config = appConfig(zone, {
      strategy: 'weighted',
      weighted: { steps: [50, 100], stepWaitSeconds: 0, healthTimeoutSeconds: 1 },
      records: [{ provider: 'powerdns-local', name: `www.${zone}` }],
    });
    const r = new dnsp.Resolver({ timeout: 2000, tries: 1 });
    r.setServers([resolver()]);
    /** The distinct answers to 40 real queries. */
    const answers = async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) for (const a of await r.resolve4(`www.${zone}`)) seen.add(a);
      return [...seen].sort();
    };
    const perStep: string[][] = [];
    const s = switcher(config, async () => void perStep.push(await answers()));
    await s.activities.applyDnsTarget({ app: 'shop', target: { strategy: 'simple', ttl: 1, address: EAST } });
    await s.run(basePlan({ weightedSteps: [50, 100], resolvers: [resolver()] }));
    // 40 draws of a fair coin all alike: 2 in 10^12.
    assert.deepEqual(perStep, [[EAST, WEST], [WEST]]);
    assert.deepEqual(s.op.status.facts.dnsResolverAnswers, [
      { resolver: resolver(), name: `www.${zone}`, addresses: [WEST] },
    ]);
    const provider = createDnsProviders(config).get('powerdns-local')!;
    assert.deepEqual(await provider.getState({ zone, name: `www.${zone}`, type: 'A' }), {
      simple: null,
      routed: [
        { setIdentifier: 'east', ttl: 1, values: [EAST], weight: 0 },
        { setIdentifier: 'west', ttl: 1, values: [WEST], weight: 100 },
      ],
    });
    await s.undo[0]!();
    assert.deepEqual(await provider.getState({ zone, name: `www.${zone}`, type: 'A' }), {
      simple: { ttl: 1, values: [EAST] },
      routed: [],
    });
    assert.deepEqual(await answers(), [EAST]);
  });

  it('a resolver that keeps another answer fails the check, naming resolver, name and answer', async (t) => {
    const zone = await pdnsZone(t);
    const config = appConfig(zone, { records: [{ provider: 'powerdns-local', name: `www.${zone}` }] });
    const s = switcher(config);
    await s.activities.applyDnsTarget({ app: 'shop', target: { strategy: 'simple', ttl: 1, address: EAST } });
    const started = Date.now();
    await assert.rejects(
      s.activities.checkDnsResolvers({
        app: 'shop',
        expected: WEST,
        resolvers: [resolver()],
        timeoutSeconds: 1,
      }),
      (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, String(err));
        assert.equal(err.type, 'dns-resolver-stale');
        assert.equal(err.nonRetryable, true);
        assert.equal(
          err.message.replace(/after \d+s/, 'after Ns'),
          `resolver ${resolver()} answered [${EAST}] for www.${zone} after Ns, expected [${WEST}]`,
        );
        return true;
      },
    );
    const took = Date.now() - started;
    assert.ok(took >= 1000 && took < 5000, `gave up after its timeout (${took} ms)`);
    await assert.rejects(
      s.activities.checkDnsResolvers({
        app: 'shop',
        expected: WEST,
        resolvers: [resolver()],
        timeoutSeconds: 1,
      }),
      /answered \[127\.0\.0\.2\]/,
    );
    await assert.rejects(
      activitiesFor(
        appConfig(zone, { records: [{ provider: 'powerdns-local', name: `gone.${zone}` }] }),
      ).checkDnsResolvers({
        app: 'shop',
        expected: WEST,
        resolvers: [resolver()],
        timeoutSeconds: 1,
      }),
      new RegExp(
        `resolver ${resolver().replace(/\./g, '\\.')} answered ENOTFOUND for gone\\.${zone.replace(/\./g, '\\.')}`,
      ),
    );
  });
});
