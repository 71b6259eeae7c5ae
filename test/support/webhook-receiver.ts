import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WEBHOOK_HEADERS } from '../../infra/notify/webhook.notifier';

export interface ReceivedWebhook {
  at: number;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  body: { id: string; event: string; payload: Record<string, unknown> };
  /** What the receiver answered. */
  status: number;
}

/**
 * A real webhook receiver on loopback with its own signing secret. It answers 200, or what
 * `answer` says for the n-th attempt (1, 2, …) of a delivery (by its delivery id), so tests can
 * make deliveries fail and be retried; `delayMs` holds the answer back (to make a sender time out).
 */
export class WebhookReceiver {
  readonly secret = randomBytes(24).toString('base64url').slice(0, 32);
  readonly requests: ReceivedWebhook[] = [];
  private readonly attempts = new Map<string, number>();
  private server: Server | undefined;
  url = '';

  constructor(
    private readonly answer: (attempt: number) => number = () => 200,
    private readonly delayMs: (attempt: number) => number = () => 0,
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const id = String(req.headers[WEBHOOK_HEADERS.delivery.toLowerCase()] ?? '');
        const n = (this.attempts.get(id) ?? 0) + 1;
        this.attempts.set(id, n);
        const status = this.answer(n);
        let body: ReceivedWebhook['body'];
        try {
          body = JSON.parse(raw.toString('utf8')) as ReceivedWebhook['body'];
        } catch {
          body = { id: '', event: '', payload: {} };
        }
        this.requests.push({ at: Date.now(), headers: req.headers, raw, body, status });
        const reply = () =>
          res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try later');
        const delay = this.delayMs(n);
        if (delay > 0) setTimeout(reply, delay).unref();
        else reply();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/switchyard`;
  }

  stop(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
