import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer } from 'node:http';
import { type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Route53Client } from '@aws-sdk/client-route-53';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { HttpResponse, type HttpRequest } from '@smithy/core/protocols';
import { type Route53ProviderConfig } from '../../infra/config/config.schema';
import {
  DnsProviderError,
  DnsSyncTimeoutError,
  type DnsChange,
  type DnsRecordRef,
} from '../../infra/dns/dns.port';
import { Route53DnsProvider, route53ClientConfig, type Route53Clock } from '../../infra/dns/route53.dns';

/*
 * What moto cannot show: changes that stay PENDING, throttling, odd paging. The fake is only the
 * transport; the SDK's real serialisation, XML parsing and retry strategy run.
 */

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const ACCESS_KEY = 'AKIDFAKEFORTESTS0001';
const SECRET_KEY = 'fake/secret+key/for/tests/only/0123456789';

const config: Route53ProviderConfig = {
  type: 'route53',
  endpoint: 'http://127.0.0.1:1',
  region: 'us-east-1',
  accessKeyId: ACCESS_KEY,
  secretAccessKey: SECRET_KEY,
  syncTimeoutSeconds: 300,
  maxAttempts: 3,
};

const www: DnsRecordRef = { zone: 'example.com', name: 'www.example.com', type: 'A' };

interface Reply {
  status?: number;
  xml: string;
}

/** A Route 53 transport answering from `answer`; it records each request's method and path. */
function fakeRoute53(answer: (req: HttpRequest) => Reply, cfg: Route53ProviderConfig = config) {
  const seen: { method: string; path: string; query: HttpRequest['query'] }[] = [];
  const client = new Route53Client({
    ...route53ClientConfig(cfg),
    retryStrategy: new ConfiguredRetryStrategy(cfg.maxAttempts, () => 1),
    requestHandler: {
      handle: async (request: HttpRequest) => {
        seen.push({ method: request.method, path: request.path, query: request.query });
        const reply = answer(request);
        return {
          response: new HttpResponse({
            statusCode: reply.status ?? 200,
            headers: { 'content-type': 'text/xml' },
            body: Readable.from([Buffer.from(`<?xml version="1.0"?>\n${reply.xml}`)]),
          }),
        };
      },
    },
  });
  return { client, seen, count: (path: RegExp) => seen.filter((r) => path.test(r.path)).length };
}

function fakeClock(): Route53Clock & { sleeps: number[] } {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

const zonesXml = (...zones: { id: string; name: string; private?: boolean }[]) =>
  `<ListHostedZonesByNameResponse xmlns="${NS}"><HostedZones>${zones
    .map(
      (z) =>
        `<HostedZone><Id>/hostedzone/${z.id}</Id><Name>${z.name}</Name><CallerReference>r</CallerReference>` +
        `<Config><PrivateZone>${z.private ?? false}</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>`,
    )
    .join(
      '',
    )}</HostedZones><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesByNameResponse>`;

const changeXml = (root: string, status: 'PENDING' | 'INSYNC', id = 'C0001') =>
  `<${root} xmlns="${NS}"><ChangeInfo><Id>/change/${id}</Id><Status>${status}</Status>` +
  `<SubmittedAt>2026-11-22T10:00:00.000Z</SubmittedAt></ChangeInfo></${root}>`;

const errorXml = (code: string, message: string) =>
  `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`;

interface FakeSet {
  name: string;
  type?: string;
  ttl?: number;
  values: string[];
  setIdentifier?: string;
}

const recordsXml = (sets: FakeSet[], next?: { name: string; type: string; identifier?: string }) =>
  `<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${sets
    .map(
      (s) =>
        `<ResourceRecordSet><Name>${s.name}</Name><Type>${s.type ?? 'A'}</Type>` +
        (s.setIdentifier ? `<SetIdentifier>${s.setIdentifier}</SetIdentifier><Weight>1</Weight>` : '') +
        `<TTL>${s.ttl ?? 60}</TTL><ResourceRecords>${s.values
          .map((v) => `<ResourceRecord><Value>${v}</Value></ResourceRecord>`)
          .join('')}</ResourceRecords></ResourceRecordSet>`,
    )
    .join('')}</ResourceRecordSets><IsTruncated>${next !== undefined}</IsTruncated>` +
  (next
    ? `<NextRecordName>${next.name}</NextRecordName><NextRecordType>${next.type}</NextRecordType>` +
      (next.identifier ? `<NextRecordIdentifier>${next.identifier}</NextRecordIdentifier>` : '')
    : '') +
  `<MaxItems>300</MaxItems></ListResourceRecordSetsResponse>`;

const isZoneLookup = (req: HttpRequest) => req.path.endsWith('/hostedzonesbyname');
const isGetChange = (req: HttpRequest) => /\/change\/[^/]+$/.test(req.path);
const isChangeBatch = (req: HttpRequest) => req.method === 'POST' && req.path.endsWith('/rrset');

const pending: DnsChange = { id: 'C0001', status: 'PENDING', submittedAt: '2026-11-22T10:00:00.000Z' };

/** GetChange answers PENDING `pendingPolls` times, then INSYNC. */
function changeGoingInSync(pendingPolls: number) {
  let polls = 0;
  return fakeRoute53((req) => {
    assert.ok(isGetChange(req), `unexpected request ${req.method} ${req.path}`);
    polls++;
    return { xml: changeXml('GetChangeResponse', polls > pendingPolls ? 'INSYNC' : 'PENDING') };
  });
}

describe('Route53DnsProvider.waitForSync', () => {
  it('polls a PENDING change until INSYNC, backing off x1.5 from pollMs up to maxPollMs', async () => {
    const fake = changeGoingInSync(8);
    const clock = fakeClock();
    const provider = new Route53DnsProvider('aws', config, { client: fake.client, clock });
    const polls: string[] = [];
    await provider.waitForSync(pending, { timeoutMs: 300_000, onPoll: (s) => polls.push(s) });
    assert.deepEqual(polls, [...Array<string>(8).fill('PENDING'), 'INSYNC']);
    assert.deepEqual(clock.sleeps, [1000, 1500, 2250, 3375, 5063, 7594, 10000, 10000]);
    assert.equal(fake.count(/\/change\/C0001$/), 9);
  });

  it('honours pollMs and maxPollMs', async () => {
    const fake = changeGoingInSync(4);
    const clock = fakeClock();
    const provider = new Route53DnsProvider('aws', config, { client: fake.client, clock });
    let polls = 0;
    await provider.waitForSync(pending, {
      timeoutMs: 60_000,
      pollMs: 100,
      maxPollMs: 200,
      onPoll: () => polls++,
    });
    assert.equal(polls, 5);
    assert.deepEqual(clock.sleeps, [100, 150, 200, 200]);
  });

  it('returns at once for a change already INSYNC', async () => {
    const fake = changeGoingInSync(0);
    const provider = new Route53DnsProvider('aws', config, { client: fake.client, clock: fakeClock() });
    await provider.waitForSync({ ...pending, status: 'INSYNC' }, { timeoutMs: 1000 });
    assert.equal(fake.seen.length, 0);
  });

  it('throws DnsSyncTimeoutError when the change is still PENDING at the timeout, polling once at the deadline', async () => {
    const fake = changeGoingInSync(Infinity);
    const clock = fakeClock();
    const provider = new Route53DnsProvider('aws', config, { client: fake.client, clock });
    let polls = 0;
    await assert.rejects(
      provider.waitForSync(pending, { timeoutMs: 5000, onPoll: () => polls++ }),
      (err: unknown) => {
        assert.ok(err instanceof DnsSyncTimeoutError);
        assert.equal(err.changeId, 'C0001');
        assert.equal(err.waitedMs, 5000);
        return true;
      },
    );
    assert.deepEqual(clock.sleeps, [1000, 1500, 2250, 250]);
    assert.equal(polls, 5);
  });

  it('keeps waiting when GetChange is throttled beyond the SDK retries', async () => {
    const answers: Reply[] = [
      { status: 400, xml: errorXml('Throttling', 'Rate exceeded') },
      { status: 400, xml: errorXml('Throttling', 'Rate exceeded') },
      { status: 400, xml: errorXml('Throttling', 'Rate exceeded') }, // first poll gives up here (3 attempts)
      { status: 400, xml: errorXml('PriorRequestNotComplete', 'The request was rejected') },
      { xml: changeXml('GetChangeResponse', 'INSYNC') },
    ];
    const fake = fakeRoute53(() => answers.shift() ?? assert.fail('too many requests'));
    const clock = fakeClock();
    const provider = new Route53DnsProvider('aws', config, { client: fake.client, clock });
    const polls: string[] = [];
    await provider.waitForSync(pending, { timeoutMs: 60_000, onPoll: (s) => polls.push(s) });
    assert.deepEqual(polls, ['PENDING', 'INSYNC']);
    assert.equal(fake.seen.length, 5);
  });

  it('stops with the signal reason when aborted', async () => {
    const fake = changeGoingInSync(Infinity);
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('activity cancelled')), 30);
    await assert.rejects(
      provider.waitForSync(pending, { timeoutMs: 60_000, pollMs: 5, signal: controller.signal }),
      /activity cancelled/,
    );
  });

  it('bounds a GetChange that never answers by the timeout (real HTTP handler)', async (t) => {
    const sockets = new Set<Socket>();
    const server = createServer(() => undefined); // accepts the request, never answers
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      sockets.forEach((s) => s.destroy());
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const provider = new Route53DnsProvider('aws', { ...config, endpoint: `http://127.0.0.1:${port}` });
    const started = Date.now();
    await assert.rejects(provider.waitForSync(pending, { timeoutMs: 300 }), DnsSyncTimeoutError);
    assert.ok(Date.now() - started < 5000);
  });

  it('fails at once when the change does not exist', async () => {
    const fake = fakeRoute53(() => ({
      status: 404,
      xml: errorXml('NoSuchChange', 'A change with the specified change ID does not exist.'),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client, clock: fakeClock() });
    await assert.rejects(provider.waitForSync(pending, { timeoutMs: 60_000 }), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /NoSuchChange/);
      return true;
    });
    assert.equal(fake.seen.length, 1);
  });
});

describe('Route53DnsProvider throttling on upsert', () => {
  const throttledThenOk = (throttles: Reply[]) =>
    fakeRoute53((req) => {
      if (isZoneLookup(req)) return { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) };
      assert.ok(isChangeBatch(req), `unexpected request ${req.method} ${req.path}`);
      return throttles.shift() ?? { xml: changeXml('ChangeResourceRecordSetsResponse', 'PENDING') };
    });

  it('retries Throttling and PriorRequestNotComplete through the SDK retry strategy', async () => {
    const fake = throttledThenOk([
      { status: 400, xml: errorXml('Throttling', 'Rate exceeded') },
      { status: 400, xml: errorXml('PriorRequestNotComplete', 'The request was rejected') },
    ]);
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    const change = await provider.upsert(www, { ttl: 60, values: ['10.0.0.2'] });
    assert.deepEqual(change, { id: 'C0001', status: 'PENDING', submittedAt: '2026-11-22T10:00:00.000Z' });
    assert.equal(fake.count(/\/hostedzone\/Z1\/rrset$/), 3);
  });

  it('retries HTTP 429', async () => {
    const fake = throttledThenOk([{ status: 429, xml: errorXml('TooManyRequests', 'slow down') }]);
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await provider.upsert(www, { ttl: 60, values: ['10.0.0.2'] });
    assert.equal(fake.count(/\/rrset$/), 2);
  });

  it('gives up after maxAttempts with a retryable DnsProviderError', async () => {
    const throttle = { status: 400, xml: errorXml('Throttling', 'Rate exceeded') };
    const fake = throttledThenOk([throttle, throttle, throttle, throttle]);
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.upsert(www, { ttl: 60, values: ['10.0.0.2'] }), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, true);
      assert.equal(err.provider, 'aws');
      assert.match(err.message, /Throttling \(HTTP 400, 3 attempts/);
      return true;
    });
    assert.equal(fake.count(/\/rrset$/), config.maxAttempts);
  });

  it('sends one UPSERT with the values sorted', async () => {
    let body = '';
    const fake = fakeRoute53((req) => {
      if (isZoneLookup(req)) return { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) };
      body = String(req.body);
      return { xml: changeXml('ChangeResourceRecordSetsResponse', 'PENDING') };
    });
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await provider.upsert(www, { ttl: 30, values: ['10.0.0.9', '10.0.0.1'] });
    assert.match(body, /<Action>UPSERT<\/Action>/);
    assert.match(body, /<Name>www\.example\.com\.<\/Name><Type>A<\/Type><TTL>30<\/TTL>/);
    assert.ok(body.indexOf('10.0.0.1') < body.indexOf('10.0.0.9'));
  });
});

describe('Route53DnsProvider errors', () => {
  it('a zone that does not exist is a non-retryable DnsProviderError naming it', async () => {
    // Route 53 lists zones from the given name on, so a later zone answers when there is no match.
    const fake = fakeRoute53(() => ({ xml: zonesXml({ id: 'Z9', name: 'example.org.' }) }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.get(www), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /zone example\.com: no hosted zone has that name/);
      return true;
    });
  });

  it('a zone deleted after lookup (NoSuchHostedZone) is non-retryable and forgets the cached id', async () => {
    const fake = fakeRoute53((req) =>
      isZoneLookup(req)
        ? { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) }
        : { status: 404, xml: errorXml('NoSuchHostedZone', 'No hosted zone found with ID: Z1') },
    );
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(provider.get(www), (err: unknown) => {
        assert.ok(err instanceof DnsProviderError);
        assert.equal(err.retryable, false);
        assert.match(err.message, /read A www\.example\.com in zone example\.com failed: NoSuchHostedZone/);
        return true;
      });
    }
    assert.equal(fake.count(/hostedzonesbyname$/), 2);
  });

  it('InvalidChangeBatch is non-retryable and names the record', async () => {
    const fake = fakeRoute53((req) =>
      isZoneLookup(req)
        ? { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) }
        : {
            status: 400,
            xml: errorXml(
              'InvalidChangeBatch',
              'ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address)',
            ),
          },
    );
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.upsert(www, { ttl: 60, values: ['nope'] }), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /upsert A www\.example\.com in zone example\.com failed: InvalidChangeBatch/);
      return true;
    });
    assert.equal(fake.count(/\/rrset$/), 1);
  });

  it('a 5xx still failing after the SDK retries is retryable', async () => {
    const fake = fakeRoute53((req) =>
      isZoneLookup(req)
        ? { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) }
        : { status: 503, xml: errorXml('ServiceUnavailable', 'try later') },
    );
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.get(www), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, true);
      return true;
    });
    assert.equal(fake.count(/\/rrset$/), 3);
  });

  it('never puts the credentials in a message', async () => {
    const fake = fakeRoute53(() => ({
      status: 403,
      xml: errorXml(
        'SignatureDoesNotMatch',
        `Credential=${ACCESS_KEY}/20261122 secret ${SECRET_KEY} rejected`,
      ),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.get(www), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.ok(!err.message.includes(ACCESS_KEY) && !err.message.includes(SECRET_KEY), err.message);
      assert.match(err.message, /SignatureDoesNotMatch/);
      return true;
    });
  });

  it('refuses a record outside its zone without calling Route 53', async () => {
    const fake = fakeRoute53(() => assert.fail('no request expected'));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.get({ ...www, name: 'www.example.org' }), /not inside the zone/);
    await assert.rejects(provider.upsert(www, { ttl: 60, values: [] }), /no values/);
  });
});

describe('Route53DnsProvider.get', () => {
  const withRecords = (pages: (req: HttpRequest) => Reply) =>
    fakeRoute53((req) =>
      isZoneLookup(req) ? { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) } : pages(req),
    );

  it('reads the simple set, ignoring sets with a SetIdentifier and other names or types', async () => {
    const fake = withRecords(() => ({
      xml: recordsXml([
        { name: 'www.example.com.', values: ['10.0.1.1'], setIdentifier: 'blue' },
        { name: 'www.example.com.', values: ['10.0.0.9', '10.0.0.2'], ttl: 30 },
        { name: 'www.example.com.', type: 'AAAA', values: ['::1'] },
        { name: 'x.example.com.', values: ['10.9.9.9'] },
      ]),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.deepEqual(await provider.get(www), { ttl: 30, values: ['10.0.0.2', '10.0.0.9'] });
    const list = fake.seen.find((r) => r.path.endsWith('/rrset'));
    assert.deepEqual(
      { name: list?.query.name, type: list?.query.type, maxitems: list?.query.maxitems },
      { name: 'www.example.com.', type: 'A', maxitems: '300' },
    );
  });

  it('returns null when only weighted sets exist for the name', async () => {
    const fake = withRecords(() => ({
      xml: recordsXml([
        { name: 'www.example.com.', values: ['10.0.1.1'], setIdentifier: 'blue' },
        { name: 'www.example.com.', values: ['10.0.1.2'], setIdentifier: 'green' },
        { name: 'zzz.example.com.', values: ['10.0.1.3'] },
      ]),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.equal(await provider.get(www), null);
  });

  it('matches names case-insensitively, with or without the trailing dot, and caches the zone id', async () => {
    const fake = withRecords(() => ({
      xml: recordsXml([{ name: 'WWW.Example.com.', values: ['10.0.0.1'] }]),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.deepEqual(await provider.get({ ...www, zone: 'example.com.' }), { ttl: 60, values: ['10.0.0.1'] });
    assert.deepEqual(await provider.get(www), { ttl: 60, values: ['10.0.0.1'] });
    assert.equal(fake.count(/hostedzonesbyname$/), 1);
  });

  it('follows pages of the same name and type by identifier', async () => {
    const fake = withRecords((req) =>
      req.query.identifier === undefined
        ? {
            xml: recordsXml([{ name: 'www.example.com.', values: ['10.0.1.1'], setIdentifier: 'a' }], {
              name: 'www.example.com.',
              type: 'A',
              identifier: 'b',
            }),
          }
        : { xml: recordsXml([{ name: 'www.example.com.', values: ['10.0.0.7'] }]) },
    );
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.deepEqual(await provider.get(www), { ttl: 60, values: ['10.0.0.7'] });
    assert.equal(fake.count(/\/rrset$/), 2);
  });

  it('stops when the server hands back the page it just served (moto)', async () => {
    const fake = withRecords(() => ({
      xml: recordsXml([{ name: 'www.example.com.', values: ['10.0.1.1'], setIdentifier: 'a' }], {
        name: 'www.example.com.',
        type: 'A',
      }),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.equal(await provider.get(www), null);
    assert.equal(fake.count(/\/rrset$/), 1);
  });

  it('gives up on paging that never ends', async () => {
    let n = 0;
    const fake = withRecords(() => ({
      xml: recordsXml([{ name: 'www.example.com.', values: ['10.0.1.1'], setIdentifier: `s${n}` }], {
        name: 'www.example.com.',
        type: 'A',
        identifier: `s${++n}`,
      }),
    }));
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    await assert.rejects(provider.get(www), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /did not end after 10 pages/);
      return true;
    });
    assert.equal(fake.count(/\/rrset$/), 10);
  });

  it('picks the public zone when a private zone has the same name', async () => {
    const fake = fakeRoute53((req) =>
      isZoneLookup(req)
        ? {
            xml: zonesXml(
              { id: 'ZPRIV', name: 'example.com.', private: true },
              { id: 'ZPUB', name: 'example.com.' },
              { id: 'ZSUB', name: 'sub.example.com.' },
            ),
          }
        : { xml: recordsXml([]) },
    );
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.equal(await provider.get(www), null);
    assert.ok(fake.seen.some((r) => r.path.endsWith('/hostedzone/ZPUB/rrset')));
  });
});

describe('route53ClientConfig', () => {
  it('uses the configured keys, or leaves credentials to the default chain', () => {
    const withKeys = route53ClientConfig(config);
    assert.deepEqual(withKeys.credentials, { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    assert.equal(withKeys.endpoint, config.endpoint);
    assert.equal(withKeys.maxAttempts, 3);
    const chain = route53ClientConfig({
      ...config,
      accessKeyId: undefined,
      secretAccessKey: undefined,
      endpoint: undefined,
    });
    assert.equal(chain.credentials, undefined);
    assert.equal('endpoint' in chain, false);
  });
});

/*
 * Routed record sets (weighted, failover) and health checks, with moto's looseness played by the
 * fake: StartRecordIdentifier ignored (the same page forever), deletes by SetIdentifier that hit
 * every name of the zone.
 */

interface RoutedFake {
  name: string;
  values: string[];
  setIdentifier?: string;
  weight?: number;
  failover?: 'PRIMARY' | 'SECONDARY';
  healthCheckId?: string;
  ttl?: number;
}

const routedXml = (sets: RoutedFake[], next?: { name: string; type: string; identifier?: string }) =>
  `<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${sets
    .map(
      (s) =>
        `<ResourceRecordSet><Name>${s.name}</Name><Type>A</Type>` +
        (s.setIdentifier ? `<SetIdentifier>${s.setIdentifier}</SetIdentifier>` : '') +
        (s.weight !== undefined ? `<Weight>${s.weight}</Weight>` : '') +
        (s.failover ? `<Failover>${s.failover}</Failover>` : '') +
        `<TTL>${s.ttl ?? 60}</TTL><ResourceRecords>${s.values
          .map((v) => `<ResourceRecord><Value>${v}</Value></ResourceRecord>`)
          .join('')}</ResourceRecords>` +
        (s.healthCheckId ? `<HealthCheckId>${s.healthCheckId}</HealthCheckId>` : '') +
        `</ResourceRecordSet>`,
    )
    .join('')}</ResourceRecordSets><IsTruncated>${next !== undefined}</IsTruncated>` +
  (next
    ? `<NextRecordName>${next.name}</NextRecordName><NextRecordType>${next.type}</NextRecordType>` +
      (next.identifier ? `<NextRecordIdentifier>${next.identifier}</NextRecordIdentifier>` : '')
    : '') +
  `<MaxItems>300</MaxItems></ListResourceRecordSetsResponse>`;

/** The changes of a ChangeResourceRecordSets body, as `ACTION name setIdentifier weight/failover values`. */
function changesOf(body: string): string[] {
  return [...body.matchAll(/<Change>([\s\S]*?)<\/Change>/g)].map(([, c]) => {
    const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(c!)?.[1];
    const values = [...c!.matchAll(/<Value>([^<]*)<\/Value>/g)].map((m) => m[1]).join(',');
    return [
      tag('Action'),
      tag('Name'),
      tag('SetIdentifier') ?? '-',
      tag('Weight') ?? tag('Failover') ?? '-',
      values,
    ]
      .concat(tag('HealthCheckId') ? [tag('HealthCheckId')!] : [])
      .join(' ');
  });
}

/** A zone whose listing answers `sets` (the same page for any identifier) and which logs each change batch. */
function routedZone(sets: RoutedFake[], opts: { truncatedSameName?: boolean } = {}) {
  const batches: string[][] = [];
  const listings: HttpRequest['query'][] = [];
  const fake = fakeRoute53((req) => {
    if (isZoneLookup(req)) return { xml: zonesXml({ id: 'Z1', name: 'example.com.' }) };
    if (isChangeBatch(req)) {
      batches.push(changesOf(String(req.body)));
      return { xml: changeXml('ChangeResourceRecordSetsResponse', 'PENDING', 'C7') };
    }
    if (req.method === 'GET' && req.path.endsWith('/rrset')) {
      listings.push(req.query);
      const name = req.query.name as string | undefined;
      const visible = name ? sets.filter((s) => s.name >= name) : sets;
      return {
        xml: routedXml(
          visible,
          opts.truncatedSameName ? { name: 'www.example.com.', type: 'A', identifier: 'west' } : undefined,
        ),
      };
    }
    throw new Error(`unexpected request ${req.method} ${req.path}`);
  });
  return {
    ...fake,
    batches,
    listings,
    provider: new Route53DnsProvider('aws', config, { client: fake.client }),
  };
}

describe('Route53DnsProvider routed record sets', () => {
  const eastWeighted = { name: 'www.example.com.', setIdentifier: 'east', weight: 100, values: ['10.0.0.1'] };
  const westWeighted = { name: 'www.example.com.', setIdentifier: 'west', weight: 0, values: ['10.0.0.2'] };

  it('getState reads weighted and failover sets; a page served again (moto ignores the identifier) ends the listing', async () => {
    const zone = routedZone(
      [
        eastWeighted,
        westWeighted,
        {
          name: 'www.example.com.',
          setIdentifier: 'x',
          failover: 'PRIMARY',
          healthCheckId: 'hc-1',
          values: ['10.0.0.3'],
        },
      ],
      { truncatedSameName: true },
    );
    assert.deepEqual(await zone.provider.getState(www), {
      simple: null,
      routed: [
        { setIdentifier: 'east', ttl: 60, values: ['10.0.0.1'], weight: 100 },
        { setIdentifier: 'west', ttl: 60, values: ['10.0.0.2'], weight: 0 },
        { setIdentifier: 'x', ttl: 60, values: ['10.0.0.3'], failover: 'PRIMARY', healthCheckId: 'hc-1' },
      ],
    });
    assert.equal(zone.listings.length, 2, 'the first page and its repeat, then stop');
    assert.equal(zone.listings[1]!.identifier, 'west');
  });

  it('simple to weighted: one batch deleting the simple set (exact values) before upserting the weighted sets', async () => {
    const zone = routedZone([{ name: 'www.example.com.', values: ['10.0.0.1'], ttl: 30 }]);
    const change = await zone.provider.applyState(www, {
      simple: null,
      routed: [
        { setIdentifier: 'west', ttl: 5, values: ['10.0.0.2'], weight: 10 },
        { setIdentifier: 'east', ttl: 5, values: ['10.0.0.1'], weight: 90 },
      ],
    });
    assert.equal(change?.id, 'C7');
    assert.deepEqual(zone.batches, [
      [
        'DELETE www.example.com. - - 10.0.0.1',
        'UPSERT www.example.com. east 90 10.0.0.1',
        'UPSERT www.example.com. west 10 10.0.0.2',
      ],
    ]);
    assert.equal(zone.listings.length, 1, 'no zone listing without a delete by SetIdentifier');
  });

  it('only the sets that differ are upserted; the same state again submits nothing', async () => {
    const zone = routedZone([eastWeighted, westWeighted]);
    await zone.provider.applyState(www, {
      simple: null,
      routed: [
        { setIdentifier: 'east', ttl: 60, values: ['10.0.0.1'], weight: 50 },
        { setIdentifier: 'west', ttl: 60, values: ['10.0.0.2'], weight: 0 },
      ],
    });
    assert.deepEqual(zone.batches, [['UPSERT www.example.com. east 50 10.0.0.1']]);
    const again = await zone.provider.applyState(www, {
      simple: null,
      routed: [
        { setIdentifier: 'west', ttl: 60, values: ['10.0.0.2'], weight: 0 },
        { setIdentifier: 'east', ttl: 60, values: ['10.0.0.1'], weight: 100 },
      ],
    });
    assert.equal(again, null);
    assert.equal(zone.batches.length, 1);
  });

  it('deleting a set by SetIdentifier re-upserts the same identifier under other names (moto deletes them too)', async () => {
    const apiEast = { name: 'api.example.com.', setIdentifier: 'east', weight: 100, values: ['10.0.0.1'] };
    const zone = routedZone([apiEast, eastWeighted, westWeighted]);
    await zone.provider.applyState(www, { simple: { ttl: 60, values: ['10.0.0.2'] }, routed: [] });
    assert.deepEqual(zone.batches, [
      [
        'DELETE www.example.com. east 100 10.0.0.1',
        'DELETE www.example.com. west 0 10.0.0.2',
        'UPSERT www.example.com. - - 10.0.0.2',
        'UPSERT api.example.com. east 100 10.0.0.1',
      ],
    ]);
    assert.equal(zone.listings.at(-1)!.name, undefined, 'the guard lists the whole zone');
  });

  it('a delete re-upserts every desired set of the name (moto deletes all sets of the name and type)', async () => {
    const zone = routedZone([
      {
        name: 'www.example.com.',
        setIdentifier: 'east',
        failover: 'PRIMARY',
        healthCheckId: 'hc-e',
        values: ['10.0.0.1'],
      },
      {
        name: 'www.example.com.',
        setIdentifier: 'west',
        failover: 'SECONDARY',
        healthCheckId: 'hc-w',
        values: ['10.0.0.2'],
      },
      { name: 'www.example.com.', setIdentifier: 'north', failover: 'SECONDARY', values: ['10.0.0.3'] },
    ]);
    await zone.provider.applyState(www, {
      simple: null,
      routed: [
        {
          setIdentifier: 'east',
          ttl: 60,
          values: ['10.0.0.1'],
          failover: 'SECONDARY',
          healthCheckId: 'hc-e',
        },
        { setIdentifier: 'west', ttl: 60, values: ['10.0.0.2'], failover: 'PRIMARY', healthCheckId: 'hc-w' },
      ],
    });
    assert.deepEqual(zone.batches, [
      [
        'DELETE www.example.com. north SECONDARY 10.0.0.3',
        'UPSERT www.example.com. east SECONDARY 10.0.0.1 hc-e',
        'UPSERT www.example.com. west PRIMARY 10.0.0.2 hc-w',
      ],
    ]);
  });

  it('removing a weighted record (a soft delete) deletes each set exactly and keeps other names sharing its identifiers', async () => {
    const apiWest = {
      name: 'api.example.com.',
      setIdentifier: 'west',
      weight: 0,
      values: ['10.0.0.2'],
      ttl: 30,
    };
    const zone = routedZone([apiWest, eastWeighted, westWeighted], { truncatedSameName: true });
    await zone.provider.applyState(www, { simple: null, routed: [] });
    assert.deepEqual(zone.batches, [
      [
        'DELETE www.example.com. east 100 10.0.0.1',
        'DELETE www.example.com. west 0 10.0.0.2',
        // moto's DELETE by SetIdentifier would take api's `west` set too: it is upserted back as read.
        'UPSERT api.example.com. west 0 10.0.0.2',
      ],
    ]);
    // The looping page (moto ignores StartRecordIdentifier) ended the listing of the name.
    assert.ok(zone.listings.length <= 4, `${zone.listings.length} listings`);
  });

  it('refuses a simple set and routed sets together, and alias or latency sets, without writing', async () => {
    const zone = routedZone([eastWeighted]);
    await assert.rejects(
      zone.provider.applyState(www, {
        simple: { ttl: 60, values: ['10.0.0.1'] },
        routed: [{ setIdentifier: 'east', ttl: 60, values: ['10.0.0.1'], weight: 1 }],
      }),
      /cannot share a name and type/,
    );
    const latency = routedZone([{ name: 'www.example.com.', setIdentifier: 'lat', values: ['10.0.0.1'] }]);
    await assert.rejects(latency.provider.getState(www), (err: unknown) => {
      assert.ok(err instanceof DnsProviderError);
      assert.equal(err.retryable, false);
      assert.match(err.message, /\(set lat\) is an alias or a latency, geolocation or multivalue record/);
      return true;
    });
    assert.equal(zone.batches.length + latency.batches.length, 0);
  });
});

describe('Route53DnsProvider.ensureHealthCheck', () => {
  const spec = {
    reference: 'sy-shop-east-0123',
    type: 'HTTP' as const,
    ipAddress: '10.0.0.1',
    port: 8080,
    resourcePath: '/healthz',
    requestIntervalSeconds: 30 as const,
    failureThreshold: 3,
  };
  const hcXml = (id: string, ref: string) =>
    `<HealthCheck><Id>${id}</Id><CallerReference>${ref}</CallerReference><HealthCheckConfig><Type>HTTP</Type></HealthCheckConfig><HealthCheckVersion>1</HealthCheckVersion></HealthCheck>`;
  const listXml = (checks: string, nextMarker?: string) =>
    `<ListHealthChecksResponse xmlns="${NS}"><HealthChecks>${checks}</HealthChecks><Marker></Marker>` +
    `<IsTruncated>${nextMarker !== undefined}</IsTruncated>${nextMarker ? `<NextMarker>${nextMarker}</NextMarker>` : ''}<MaxItems>1000</MaxItems></ListHealthChecksResponse>`;

  it('reuses the check with the same reference', async () => {
    const fake = fakeRoute53((req) => {
      assert.equal(req.method, 'GET');
      return { xml: listXml(hcXml('hc-other', 'x') + hcXml('hc-1', spec.reference)) };
    });
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.equal(await provider.ensureHealthCheck(spec), 'hc-1');
    assert.equal(fake.seen.length, 1);
  });

  it('creates it with the reference as CallerReference when none has it; a marker served twice ends the listing', async () => {
    const bodies: string[] = [];
    const fake = fakeRoute53((req) => {
      if (req.method === 'POST') {
        bodies.push(String(req.body));
        return {
          status: 201,
          xml: `<CreateHealthCheckResponse xmlns="${NS}">${hcXml('hc-new', spec.reference)}</CreateHealthCheckResponse>`,
        };
      }
      return { xml: listXml(hcXml('hc-other', 'x'), 'm1') };
    });
    const provider = new Route53DnsProvider('aws', config, { client: fake.client });
    assert.equal(await provider.ensureHealthCheck(spec), 'hc-new');
    assert.equal(fake.seen.filter((r) => r.method === 'GET').length, 2);
    assert.match(bodies[0]!, /<CallerReference>sy-shop-east-0123<\/CallerReference>/);
    assert.match(
      bodies[0]!,
      /<Type>HTTP<\/Type><IPAddress>10\.0\.0\.1<\/IPAddress><Port>8080<\/Port><ResourcePath>\/healthz<\/ResourcePath><RequestInterval>30<\/RequestInterval><FailureThreshold>3<\/FailureThreshold>/,
    );
  });
});
