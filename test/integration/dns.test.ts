import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { describe, it, type TestContext } from 'node:test';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  DeleteHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from '@aws-sdk/client-route-53';
import { dnsProviderSchema } from '../../infra/config/config.schema';
import { DnsProviderError, type DnsProvider, type DnsRecordRef } from '../../infra/dns/dns.port';
import { createDnsProviders, dnsProviderFor } from '../../infra/dns/dns.registry';
import { localDnsProviders } from '../../infra/stack/app-config';
import { readStackInfoFromEnv } from '../../infra/stack/stack-info';

/*
 * Both adapters against the real servers of the test stack: moto for the Route 53 API and PowerDNS
 * Authoritative. Every test works in its own zone and removes it afterwards.
 */

const stack = readStackInfoFromEnv();

// The stack's own provider definitions, through the real schema (defaults included).
const dnsProviders = Object.fromEntries(
  Object.entries(localDnsProviders(stack)).map(([name, p]) => [name, dnsProviderSchema.parse(p)]),
);
const providers = createDnsProviders({ dnsProviders });

const uniqueZone = () => `sy-${randomUUID().slice(0, 8)}.test`;

const nonRetryable = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof DnsProviderError, String(err));
  assert.equal(err.retryable, false, err.message);
  assert.match(err.message, pattern);
  return true;
};

/** The behaviour both providers must share, run against each. */
function portContract(provider: DnsProvider, createZone: (t: TestContext) => Promise<string>) {
  it('get is null for a record that does not exist', async (t) => {
    const zone = await createZone(t);
    assert.equal(await provider.get({ zone, name: `www.${zone}`, type: 'A' }), null);
  });

  it('upsert creates, get reads back, a second upsert replaces, waitForSync completes', async (t) => {
    const zone = await createZone(t);
    const ref: DnsRecordRef = { zone, name: `www.${zone}`, type: 'A' };
    const first = await provider.upsert(ref, { ttl: 60, values: ['10.0.0.1'] });
    await provider.waitForSync(first, { timeoutMs: 10_000, pollMs: 50 });
    assert.deepEqual(await provider.get(ref), { ttl: 60, values: ['10.0.0.1'] });

    const second = await provider.upsert(ref, { ttl: 30, values: ['10.0.0.3', '10.0.0.2'] });
    const polls: string[] = [];
    await provider.waitForSync(second, { timeoutMs: 10_000, pollMs: 50, onPoll: (s) => polls.push(s) });
    assert.ok(polls.every((s) => s === 'PENDING' || s === 'INSYNC'));
    assert.deepEqual(await provider.get(ref), { ttl: 30, values: ['10.0.0.2', '10.0.0.3'] });

    // Idempotent: the same value again changes nothing.
    await provider.waitForSync(await provider.upsert(ref, { ttl: 30, values: ['10.0.0.2', '10.0.0.3'] }), {
      timeoutMs: 10_000,
    });
    assert.deepEqual(await provider.get(ref), { ttl: 30, values: ['10.0.0.2', '10.0.0.3'] });
  });

  it('CNAME targets round-trip without a trailing dot', async (t) => {
    const zone = await createZone(t);
    const ref: DnsRecordRef = { zone, name: `app.${zone}`, type: 'CNAME' };
    await provider.upsert(ref, { ttl: 60, values: [`target.${zone}`] });
    assert.deepEqual(await provider.get(ref), { ttl: 60, values: [`target.${zone}`] });
  });

  it('an unknown zone is a non-retryable DnsProviderError naming the zone', async () => {
    const zone = `missing-${uniqueZone()}`;
    const ref: DnsRecordRef = { zone, name: `www.${zone}`, type: 'A' };
    const named = new RegExp(zone.replace(/\./g, '\\.'));
    await assert.rejects(provider.get(ref), nonRetryable(named));
    await assert.rejects(provider.upsert(ref, { ttl: 60, values: ['10.0.0.1'] }), nonRetryable(named));
  });
}

describe('Route53DnsProvider against moto', { timeout: 60_000 }, () => {
  const provider = dnsProviderFor(providers, 'route53-local');
  const admin = new Route53Client({
    region: stack.moto.region,
    endpoint: stack.moto.endpoint,
    credentials: { accessKeyId: stack.moto.accessKeyId, secretAccessKey: stack.moto.secretAccessKey },
  });

  const zoneIds = new Map<string, string>();

  /** A fresh hosted zone; afterwards its record sets (all but SOA and NS at the apex) and the zone are deleted. */
  async function createZone(t: TestContext): Promise<string> {
    const zone = uniqueZone();
    const out = await admin.send(new CreateHostedZoneCommand({ Name: zone, CallerReference: randomUUID() }));
    const id = out.HostedZone?.Id ?? assert.fail('no hosted zone id');
    zoneIds.set(zone, id);
    t.after(async () => {
      const sets = await admin.send(new ListResourceRecordSetsCommand({ HostedZoneId: id, MaxItems: 300 }));
      const extra = (sets.ResourceRecordSets ?? []).filter(
        (s) => !(s.Name === `${zone}.` && (s.Type === 'SOA' || s.Type === 'NS')),
      );
      if (extra.length > 0) {
        await admin.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: id,
            ChangeBatch: { Changes: extra.map((s) => ({ Action: 'DELETE', ResourceRecordSet: s })) },
          }),
        );
      }
      await admin.send(new DeleteHostedZoneCommand({ Id: id }));
    });
    return zone;
  }

  portContract(provider, createZone);

  it('a replaced record stays one record set (UPSERT, not CREATE)', async (t) => {
    const zone = await createZone(t);
    const ref: DnsRecordRef = { zone, name: `www.${zone}`, type: 'A' };
    await provider.upsert(ref, { ttl: 60, values: ['10.0.0.1'] });
    await provider.upsert(ref, { ttl: 60, values: ['10.0.0.2'] });
    const sets = await admin.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: zoneIds.get(zone),
        MaxItems: 300,
      }),
    );
    const www = (sets.ResourceRecordSets ?? []).filter((s) => s.Name === `www.${zone}.` && s.Type === 'A');
    assert.equal(www.length, 1);
    assert.deepEqual(www[0]?.ResourceRecords, [{ Value: '10.0.0.2' }]);
  });

  it('weighted sets of the same name are not the simple record', async (t) => {
    const zone = await createZone(t);
    const ref: DnsRecordRef = { zone, name: `www.${zone}`, type: 'A' };
    await admin.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneIds.get(zone),
        ChangeBatch: {
          Changes: ['blue', 'green'].map((id, i) => ({
            Action: 'CREATE' as const,
            ResourceRecordSet: {
              Name: `www.${zone}`,
              Type: 'A' as const,
              SetIdentifier: id,
              Weight: 1,
              TTL: 60,
              ResourceRecords: [{ Value: `10.0.1.${i + 1}` }],
            },
          })),
        },
      }),
    );
    assert.equal(await provider.get(ref), null);
  });
});

describe('PowerDnsProvider against PowerDNS', { timeout: 60_000 }, () => {
  const provider = dnsProviderFor(providers, 'powerdns-local');
  const zonesUrl = `${stack.powerdns.apiUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1/servers/${stack.powerdns.serverId}/zones`;
  const headers = { 'X-API-Key': stack.powerdns.apiKey, 'Content-Type': 'application/json' };

  /** A fresh Native zone with an NS record; deleted afterwards. */
  async function createZone(t: TestContext): Promise<string> {
    const zone = uniqueZone();
    const res = await fetch(zonesUrl, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: `${zone}.`, kind: 'Native', nameservers: [`ns1.${zone}.`] }),
    });
    assert.equal(res.status, 201, await res.text());
    t.after(async () => {
      const del = await fetch(`${zonesUrl}/${zone}.`, { method: 'DELETE', headers });
      assert.equal(del.status, 204);
    });
    return zone;
  }

  portContract(provider, createZone);

  it('a real DNS query sees the new answer right after upsert', async (t) => {
    const zone = await createZone(t);
    const ref: DnsRecordRef = { zone, name: `www.${zone}`, type: 'A' };
    const resolver = new dns.Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`${stack.powerdns.dnsHost}:${stack.powerdns.dnsPort}`]);

    await provider.waitForSync(await provider.upsert(ref, { ttl: 60, values: ['10.0.0.1'] }), {
      timeoutMs: 1000,
    });
    assert.deepEqual(await resolver.resolve4(ref.name), ['10.0.0.1']);

    // PowerDNS purges its packet cache for the zone on an API change, so no stale answer.
    await provider.waitForSync(await provider.upsert(ref, { ttl: 60, values: ['10.0.0.2'] }), {
      timeoutMs: 1000,
    });
    assert.deepEqual(await resolver.resolve4(ref.name), ['10.0.0.2']);
  });

  it('a value PowerDNS cannot parse is refused with its own error text (422)', async (t) => {
    const zone = await createZone(t);
    await assert.rejects(
      provider.upsert({ zone, name: `www.${zone}`, type: 'A' }, { ttl: 60, values: ['10.0'] }),
      nonRetryable(/HTTP 422: .*unable to parse IP address/),
    );
  });
});

describe('dnsProviderFor', () => {
  it('names the known providers when asked for an unknown one', () => {
    assert.throws(
      () => dnsProviderFor(providers, 'nope'),
      nonRetryable(/unknown DNS provider "nope" \(defined: powerdns-local, route53-local\)/),
    );
  });
});
