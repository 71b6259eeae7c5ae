import { type Delivery, NOTIFICATION_EVENT_NAMES } from '../../infra/notify/notification.port';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffDelay,
  deliverWithRetry,
  notificationsSchema,
  signPayload,
  verifySignature,
  webhookSchema,
  webhooksFor,
  WebhookDeliveryError,
  WebhookNotifier,
  WebhookRejectedError,
  type WebhookConfig,
} from '../../infra/notify/webhook.notifier';

const SECRET = 'whsec-0123456789abcdef-s3cr3t';

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type Answer = number | 'hang' | ((res: ServerResponse, req: Received) => void);

/** A real receiver on loopback: answers each request with the next scripted answer (default 200). */
class Receiver {
  received: Received[] = [];
  answers: Answer[] = [];
  url = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { headers: req.headers, body: Buffer.concat(chunks) };
        this.received.push(r);
        const answer = this.answers.shift() ?? 200;
        if (answer === 'hang') return;
        if (typeof answer === 'function') answer(res, r);
        else res.writeHead(answer, { 'content-type': 'text/plain' }).end(`status ${answer}`);
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/switchyard`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('WebhookNotifier against a real receiver', () => {
  const receiver = new Receiver();
  const notifier = new WebhookNotifier();
  const errors: Error[] = [];
  let webhook: WebhookConfig;
  let n = 0;

  const delivery = (): Delivery => ({
    id: `dlv-${++n}`,
    event: 'approval.requested',
    payload: { operationId: 'shop-0195f8a2', app: 'shop', kind: 'failover', requestedBy: 'alice' },
  });

  async function failure(p: Promise<unknown>): Promise<Error> {
    const err = await p.then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error);
    errors.push(err);
    return err;
  }

  before(() => receiver.start());
  after(() => receiver.stop());
  beforeEach(() => {
    receiver.received = [];
    receiver.answers = [];
    webhook = webhookSchema.parse({ url: receiver.url, secret: SECRET });
  });

  it('POSTs the delivery as signed JSON that the receiver can verify', async () => {
    const d = delivery();
    await notifier.deliver(webhook, d);
    assert.equal(receiver.received.length, 1);
    const [{ headers, body }] = receiver.received as [Received];
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers['x-switchyard-event'], 'approval.requested');
    assert.equal(headers['x-switchyard-delivery'], d.id);
    assert.match(String(headers['x-switchyard-timestamp']), /^\d+$/);
    assert.ok(Math.abs(Number(headers['x-switchyard-timestamp']) - Date.now() / 1000) < 5);
    assert.match(String(headers['x-switchyard-signature']), /^sha256=[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(body.toString('utf8')), d);
    for (const [k, v] of Object.entries(headers))
      assert.ok(!String(v).includes(SECRET), `secret in header ${k}`);
    assert.ok(!body.toString('utf8').includes(SECRET));

    assert.equal(verifySignature(SECRET, headers, body, 300), true);
    assert.equal(verifySignature(SECRET, headers, body.toString('utf8'), 300), true);
    const expected = signPayload(SECRET, String(headers['x-switchyard-timestamp']), body);
    assert.equal(headers['x-switchyard-signature'], `sha256=${expected}`);
  });

  it('makes a tampered body, a wrong secret or a stale timestamp fail verification', async () => {
    await notifier.deliver(webhook, delivery());
    const [{ headers, body }] = receiver.received as [Received];
    const tampered = Buffer.from(body.toString('utf8').replace('alice', 'mallory'));
    assert.equal(verifySignature(SECRET, headers, tampered, 300), false);
    assert.equal(verifySignature(`${SECRET}x`, headers, body, 300), false);
    assert.equal(
      verifySignature(SECRET, { ...headers, 'x-switchyard-signature': undefined }, body, 300),
      false,
    );
    assert.equal(
      verifySignature(SECRET, { ...headers, 'x-switchyard-signature': 'sha256=00' }, body, 300),
      false,
    );
    // Replaying the same request later: the signature is right, the timestamp too old.
    const ts = Number(headers['x-switchyard-timestamp']);
    assert.equal(verifySignature(SECRET, headers, body, 300, ts + 301), false);
    assert.equal(verifySignature(SECRET, headers, body, 300, ts + 299), true);
    // The timestamp is signed: moving it forward to pass the window breaks the signature.
    assert.equal(
      verifySignature(
        SECRET,
        { ...headers, 'x-switchyard-timestamp': String(ts + 301) },
        body,
        300,
        ts + 301,
      ),
      false,
    );

    const old = new WebhookNotifier({ now: () => Date.now() - 600_000 });
    await old.deliver(webhook, delivery());
    const stale = receiver.received[1] as Received;
    assert.equal(verifySignature(SECRET, stale.headers, stale.body, 300), false);
    assert.equal(verifySignature(SECRET, stale.headers, stale.body, 900), true);
  });

  it('verifies with a Fetch Headers object too', () => {
    const body = '{"id":"x"}';
    const headers = new Headers({
      'X-Switchyard-Timestamp': '1700000000',
      'X-Switchyard-Signature': `sha256=${signPayload(SECRET, 1700000000, body)}`,
    });
    assert.equal(verifySignature(SECRET, headers, body, 60, 1700000030), true);
  });

  it('retries 503, 503, 200 with the same delivery id and growing delays', async () => {
    receiver.answers = [503, 503, 200];
    const delays: number[] = [];
    const d = delivery();
    const result = await deliverWithRetry(notifier, webhook, d, {
      attempts: 5,
      initialDelayMs: 100,
      maxDelayMs: 10_000,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    assert.deepEqual(result, { attempts: 3 });
    assert.equal(receiver.received.length, 3);
    assert.deepEqual(
      receiver.received.map((r) => r.headers['x-switchyard-delivery']),
      [d.id, d.id, d.id],
    );
    assert.equal(new Set(receiver.received.map((r) => r.body.toString('utf8'))).size, 1);
    assert.equal(delays.length, 2);
    const [first, second] = delays as [number, number];
    assert.ok(first >= 50 && first <= 100, `first delay ${first}`);
    assert.ok(second >= 100 && second <= 200, `second delay ${second}`);
    assert.ok(second >= first);
  });

  it('throws the last retryable error once the attempts are spent', async () => {
    receiver.answers = [500, 502, 504];
    const err = await failure(
      deliverWithRetry(notifier, webhook, delivery(), {
        attempts: 3,
        initialDelayMs: 1,
        maxDelayMs: 5,
        sleep: async () => {},
      }),
    );
    assert.ok(err instanceof WebhookDeliveryError);
    assert.equal(err.status, 504);
    assert.equal(receiver.received.length, 3);
  });

  it('stops at once on 400 with WebhookRejectedError', async () => {
    receiver.answers = [400, 200];
    const delays: number[] = [];
    const err = await failure(
      deliverWithRetry(notifier, webhook, delivery(), {
        attempts: 5,
        initialDelayMs: 100,
        maxDelayMs: 1000,
        sleep: async (ms) => {
          delays.push(ms);
        },
      }),
    );
    assert.ok(err instanceof WebhookRejectedError);
    assert.equal(err.name, 'WebhookRejectedError'); // what Temporal's nonRetryableErrorTypes matches
    assert.equal(err.status, 400);
    assert.match(err.message, /HTTP 400: status 400/);
    assert.match(err.message, /^webhook http:\/\/127\.0\.0\.1:\d+ \(approval\.requested dlv-\d+\)/);
    assert.equal(receiver.received.length, 1);
    assert.deepEqual(delays, []);
  });

  it('treats 408 and 429 as retryable, and honours Retry-After', async () => {
    receiver.answers = [408];
    const timeout = await failure(notifier.deliver(webhook, delivery()));
    assert.ok(timeout instanceof WebhookDeliveryError && timeout.status === 408);

    receiver.answers = [(res) => res.writeHead(429, { 'retry-after': '2' }).end(), 200];
    const delays: number[] = [];
    await deliverWithRetry(notifier, webhook, delivery(), {
      attempts: 2,
      initialDelayMs: 10,
      maxDelayMs: 60_000,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    assert.deepEqual(delays, [2000]);
  });

  it('refuses to follow a redirect', async () => {
    receiver.answers = [(res) => res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' }).end()];
    const err = await failure(notifier.deliver(webhook, delivery()));
    assert.ok(err instanceof WebhookRejectedError && err.status === 302);
    assert.equal(receiver.received.length, 1);
  });

  it('gives a retryable error when nothing listens', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failure(
      notifier.deliver({ ...webhook, url: `http://127.0.0.1:${port}/hooks/switchyard` }, delivery()),
    );
    assert.ok(err instanceof WebhookDeliveryError);
    assert.match(err.message, /ECONNREFUSED/);
  });

  it('gives a retryable error within about the timeout when the receiver never answers', async () => {
    receiver.answers = ['hang'];
    const started = Date.now();
    const err = await failure(notifier.deliver({ ...webhook, timeoutSeconds: 1 }, delivery()));
    const elapsed = Date.now() - started;
    assert.ok(err instanceof WebhookDeliveryError);
    assert.match(err.message, /no answer within 1 s/);
    assert.ok(elapsed >= 900 && elapsed < 2500, `took ${elapsed} ms`);
  });

  it('keeps the secret out of its errors even when the receiver echoes it', async () => {
    receiver.answers = [
      (res) => res.writeHead(401).end(`bad signature; expected HMAC with key ${SECRET}`),
      (res) => res.writeHead(500).end(`${'x'.repeat(180)} ${SECRET}`), // cut in the middle by the snippet
    ];
    const rejected = await failure(notifier.deliver(webhook, delivery()));
    assert.match(rejected.message, /\[redacted\]/);
    const failed = await failure(notifier.deliver(webhook, delivery()));
    assert.ok(failed instanceof WebhookDeliveryError);
  });
  it('never puts the secret or the URL path in an error (checks every error above)', () => {
    assert.ok(errors.length >= 6, `only ${errors.length} errors collected`);
    for (const e of errors) {
      for (const text of [e.message, String(e), e.stack ?? '', JSON.stringify(e)]) {
        assert.ok(!text.includes(SECRET), `secret in ${e.name}: ${text}`);
        assert.ok(!text.includes(SECRET.slice(0, 12)), `part of the secret in ${e.name}: ${text}`);
        assert.ok(!text.includes('/hooks/switchyard'), `URL path in ${e.name}: ${text}`);
      }
    }
  });
});

describe('deliverWithRetry without a receiver', () => {
  const webhook = webhookSchema.parse({ url: 'https://hooks.example.com/x', secret: SECRET });

  it('does not retry errors that are not delivery failures (bugs)', async () => {
    let calls = 0;
    const notifier = {
      deliver: async () => {
        calls += 1;
        throw new TypeError('Do not know how to serialize a BigInt');
      },
    };
    await assert.rejects(
      deliverWithRetry(
        notifier,
        webhook,
        { id: 'd', event: 'operation.finished', payload: {} },
        {
          attempts: 3,
          initialDelayMs: 1,
          maxDelayMs: 1,
          sleep: async () => {},
        },
      ),
      TypeError,
    );
    assert.equal(calls, 1);
  });

  it('refuses nonsense attempts', async () => {
    const notifier = { deliver: async () => {} };
    const d: Delivery = { id: 'd', event: 'operation.finished', payload: {} };
    await assert.rejects(
      deliverWithRetry(notifier, webhook, d, { attempts: 0, initialDelayMs: 1, maxDelayMs: 1 }),
      RangeError,
    );
  });
});

describe('backoffDelay', () => {
  it('doubles, caps at maxDelayMs, and jitters within the upper half', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((r) => backoffDelay(r, opts, () => 0)),
      [50, 100, 200, 400, 500, 500],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((r) => backoffDelay(r, opts, () => 0.999)),
      [100, 200, 400, 800, 1000, 1000],
    );
  });
});

describe('webhook configuration', () => {
  it('fills the defaults', () => {
    assert.deepEqual(webhookSchema.parse({ url: 'https://hooks.example.com/sy', secret: SECRET }), {
      url: 'https://hooks.example.com/sy',
      secret: SECRET,
      events: [...NOTIFICATION_EVENT_NAMES],
      timeoutSeconds: 5,
    });
    assert.deepEqual(notificationsSchema.parse({}), { webhooks: [] });
  });

  it('refuses bad input without echoing the secret', () => {
    const bad: Record<string, unknown>[] = [
      { url: 'ftp://hooks.example.com', secret: SECRET },
      { url: 'not a url', secret: SECRET },
      { url: 'https://hooks.example.com', secret: 'short-secret' },
      { url: 'https://hooks.example.com', secret: SECRET, events: ['operation.started'] },
      { url: 'https://hooks.example.com', secret: SECRET, events: [] },
      { url: 'https://hooks.example.com', secret: SECRET, timeoutSeconds: 0 },
      { url: 'https://hooks.example.com', secret: SECRET, extra: 1 },
    ];
    for (const cfg of bad) {
      const r = webhookSchema.safeParse(cfg);
      assert.equal(r.success, false, JSON.stringify(cfg));
      assert.ok(!JSON.stringify(r.error?.issues).includes(SECRET));
    }
    const short = webhookSchema.safeParse({ url: 'https://hooks.example.com', secret: 'short-secret' });
    assert.ok(!JSON.stringify(short.error?.issues).includes('short-secret'));
  });

  it('selects the webhooks that subscribe to an event', () => {
    const all = webhookSchema.parse({ url: 'https://a.example.com', secret: SECRET });
    const approvals = webhookSchema.parse({
      url: 'https://b.example.com',
      secret: SECRET,
      events: ['approval.requested', 'approval.expired'],
    });
    assert.deepEqual(webhooksFor([all, approvals], 'approval.expired'), [all, approvals]);
    assert.deepEqual(webhooksFor([all, approvals], 'operation.finished'), [all]);
  });
});
