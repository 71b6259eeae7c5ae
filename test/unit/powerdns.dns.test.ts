import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type PowerDnsProviderConfig } from '../../infra/config/config.schema';
import { DnsProviderError, type DnsRecordRef } from '../../infra/dns/dns.port';
import { PowerDnsProvider } from '../../infra/dns/powerdns.dns';

/*
 * Only what a real PowerDNS does not do on demand: server errors, hangs, refusals that echo the key.
 * The happy path runs against the real server in test/integration/dns.test.ts.
 */

const API_KEY = 'pdns-unit-key-7f3a9c';
const www: DnsRecordRef = { zone: 'example.com', name: 'www.example.com', type: 'A' };

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('PowerDnsProvider failures', () => {
  let handler: Handler = (_req, res) => res.end();
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => handler(req, res));
  server.on('connection', (s) => sockets.add(s));
  let apiUrl = '';

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    sockets.forEach((s) => s.destroy());
    server.close();
  });

  const provider = (overrides: Partial<PowerDnsProviderConfig> = {}, requestTimeoutMs = 2000) =>
    new PowerDnsProvider(
      'pdns',
      {
        type: 'powerdns',
        apiUrl,
        apiKey: API_KEY,
        serverId: 'localhost',
        syncTimeoutSeconds: 60,
        ...overrides,
      },
      { requestTimeoutMs },
    );

  const reply =
    (status: number, body: unknown): Handler =>
    (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };

  /** Assert a DnsProviderError with the given retryability that never shows the API key. */
  const providerError = (retryable: boolean, pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof DnsProviderError, String(err));
    assert.equal(err.retryable, retryable, err.message);
    assert.equal(err.provider, 'pdns');
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes(API_KEY), err.message);
    return true;
  };

  it('sends the key and the canonical zone id, and accepts an apiUrl ending in /api/v1', async () => {
    let seen: { url?: string; key?: string | string[] } = {};
    handler = (req, res) => {
      seen = { url: req.url, key: req.headers['x-api-key'] };
      reply(200, {
        rrsets: [
          {
            name: 'www.example.com.',
            type: 'A',
            ttl: 60,
            records: [{ content: '10.0.0.1', disabled: false }],
          },
        ],
      })(req, res);
    };
    const set = await provider({ apiUrl: `${apiUrl}/api/v1/` }).get({ ...www, name: 'WWW.example.com.' });
    assert.deepEqual(set, { ttl: 60, values: ['10.0.0.1'] });
    assert.equal(seen.key, API_KEY);
    assert.match(seen.url ?? '', /^\/api\/v1\/servers\/localhost\/zones\/example\.com\.\?/);
  });

  it('ignores disabled records', async () => {
    handler = reply(200, {
      rrsets: [
        {
          name: 'www.example.com.',
          type: 'A',
          ttl: 60,
          records: [
            { content: '10.0.0.1', disabled: true },
            { content: '10.0.0.2', disabled: false },
          ],
        },
      ],
    });
    assert.deepEqual(await provider().get(www), { ttl: 60, values: ['10.0.0.2'] });
  });

  it('a 5xx is retryable and names the status', async () => {
    handler = reply(500, { error: 'Backend error: database is locked' });
    await assert.rejects(
      provider().upsert(www, { ttl: 60, values: ['10.0.0.1'] }),
      providerError(true, /HTTP 500: Backend error/),
    );
  });

  it('a 422 is not retryable and carries PowerDNS error text', async () => {
    handler = reply(422, { error: "Record www.example.com./A '10.0.0': Parsing record content failed" });
    await assert.rejects(
      provider().upsert(www, { ttl: 60, values: ['10.0.0'] }),
      providerError(
        false,
        /upsert A www\.example\.com in zone example\.com failed: HTTP 422: .*Parsing record content failed/,
      ),
    );
  });

  it('a 404 is not retryable and names the zone', async () => {
    handler = reply(404, { error: 'Not Found' });
    await assert.rejects(provider().get(www), providerError(false, /zone example\.com\. not found/));
  });

  it('a refused key is not retryable and the key is not echoed, even when the server echoes it', async () => {
    handler = reply(401, `Unauthorized: key ${API_KEY} is not valid`);
    await assert.rejects(provider().get(www), providerError(false, /API key was refused \(HTTP 401\)/));
    handler = reply(400, { error: `bad request from key ${API_KEY}` });
    await assert.rejects(provider().get(www), providerError(false, /HTTP 400: bad request from key \*\*\*/));
  });

  it('a server that does not answer in time is retryable', async () => {
    handler = () => undefined;
    await assert.rejects(provider({}, 100).get(www), providerError(true, /no answer within 100 ms/));
  });

  it('a refused connection is retryable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      provider({ apiUrl: `http://127.0.0.1:${port}` }).get(www),
      providerError(true, /ECONNREFUSED/),
    );
  });

  it('a PENDING change cannot come from PowerDNS', async () => {
    const p = provider();
    await p.waitForSync(
      { id: 'pdns-1', status: 'INSYNC', submittedAt: new Date().toISOString() },
      { timeoutMs: 1 },
    );
    await assert.rejects(
      p.waitForSync({ id: 'C1', status: 'PENDING', submittedAt: new Date().toISOString() }, { timeoutMs: 1 }),
      providerError(false, /pending/),
    );
  });
});
