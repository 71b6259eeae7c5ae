import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DnsProviderError, type DnsRecordRef, type RoutedRecordSet } from '../../infra/dns/dns.port';
import { parseWeightedLua, PowerDnsProvider, weightedLua } from '../../infra/dns/powerdns.dns';

/*
 * Weighted sets on PowerDNS as one LUA record: the record's form, and the PATCH bodies a change
 * sends (the real server's answers to queries are in test/integration/dns-strategies.test.ts).
 */

const www: DnsRecordRef = { zone: 'example.com', name: 'www.example.com', type: 'A' };
const sets: RoutedRecordSet[] = [
  { setIdentifier: 'east', ttl: 5, values: ['10.0.0.1'], weight: 90 },
  { setIdentifier: 'west', ttl: 5, values: ['10.0.0.2'], weight: 10 },
];

/** A PowerDNS API holding `rrsets` for the name; every PATCH body is logged and applied. */
function fakePdns(rrsets: { type: string; ttl: number; records: { content: string }[] }[]) {
  const patches: unknown[] = [];
  let held = rrsets.map((r) => ({ name: 'www.example.com.', ...r }));
  const fetch = (async (url: string | URL, init?: RequestInit) => {
    if (init?.method === 'PATCH') {
      const body = JSON.parse(String(init.body)) as {
        rrsets: { type: string; changetype: string; ttl?: number; records?: { content: string }[] }[];
      };
      patches.push(body.rrsets.map((r) => ({ ...r, name: undefined })));
      for (const r of body.rrsets) {
        held = held.filter((h) => h.type !== r.type);
        if (r.changetype === 'REPLACE')
          held.push({ name: 'www.example.com.', type: r.type, ttl: r.ttl!, records: r.records! });
      }
      return new Response(null, { status: 204 });
    }
    assert.match(String(url), /rrset_name=www\.example\.com\./);
    return Response.json({ rrsets: held });
  }) as typeof globalThis.fetch;
  const provider = new PowerDnsProvider(
    'pdns',
    {
      type: 'powerdns',
      apiUrl: 'http://pdns.invalid',
      apiKey: 'unit-test-pdns-key',
      serverId: 'localhost',
      syncTimeoutSeconds: 60,
    },
    { fetch },
  );
  return { provider, patches };
}

describe('PowerDNS weighted sets as a LUA record', () => {
  it('writes pickwrandom with weight, address and identifier per set, and reads it back', () => {
    const content = weightedLua(sets);
    assert.equal(content, `A "pickwrandom({{90,'10.0.0.1' --[[east]]},{10,'10.0.0.2' --[[west]]}})"`);
    assert.deepEqual(parseWeightedLua(content, 5), sets);
  });

  it('does not read LUA records of another form', () => {
    for (const foreign of [
      `A "pickrandom({'10.0.0.1','10.0.0.2'})"`,
      `A "pickwrandom({{90,'10.0.0.1'},{10,'10.0.0.2'}})"`,
      `A "pickwrandom({{90,'10.0.0.1' --[[east]]};{10,'10.0.0.2' --[[west]]}})"`,
      `A "pickwrandom({})"`,
    ]) {
      assert.equal(parseWeightedLua(foreign, 5), null, foreign);
    }
  });

  it('simple to weighted: one PATCH deleting the A record and writing the LUA record; the same state again sends nothing', async () => {
    const pdns = fakePdns([{ type: 'A', ttl: 30, records: [{ content: '10.0.0.1' }] }]);
    const change = await pdns.provider.applyState(www, { simple: null, routed: sets });
    assert.equal(change?.status, 'INSYNC');
    assert.deepEqual(pdns.patches, [
      [
        { name: undefined, type: 'A', changetype: 'DELETE' },
        {
          name: undefined,
          type: 'LUA',
          ttl: 5,
          changetype: 'REPLACE',
          records: [{ content: weightedLua(sets), disabled: false }],
        },
      ],
    ]);
    assert.deepEqual(await pdns.provider.getState(www), { simple: null, routed: sets });
    assert.equal(await pdns.provider.applyState(www, { simple: null, routed: [...sets].reverse() }), null);
    assert.equal(pdns.patches.length, 1);

    // And back: the A record again, the LUA record deleted, in one PATCH.
    await pdns.provider.applyState(www, { simple: { ttl: 30, values: ['10.0.0.1'] }, routed: [] });
    assert.deepEqual(
      (pdns.patches[1] as { type: string; changetype: string }[]).map((r) => `${r.changetype} ${r.type}`),
      ['REPLACE A', 'DELETE LUA'],
    );
    assert.deepEqual(await pdns.provider.getState(www), {
      simple: { ttl: 30, values: ['10.0.0.1'] },
      routed: [],
    });
  });

  it('refuses failover sets and a LUA record it did not write, without writing', async () => {
    const pdns = fakePdns([{ type: 'LUA', ttl: 5, records: [{ content: `A "pickrandom({'10.0.0.9'})"` }] }]);
    await assert.rejects(
      pdns.provider.applyState(www, {
        simple: null,
        routed: [{ setIdentifier: 'east', ttl: 5, values: ['10.0.0.1'], failover: 'PRIMARY' }],
      }),
      /failover record sets need Route 53/,
    );
    await assert.rejects(pdns.provider.getState(www), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /has a LUA record Switchyard did not write \(A "pickrandom/);
      return true;
    });
    await assert.rejects(
      pdns.provider.ensureHealthCheck({ reference: 'x' } as never),
      /PowerDNS has no health checks/,
    );
    assert.equal(pdns.patches.length, 0);
  });
});
