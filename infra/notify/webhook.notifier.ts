import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { type Delivery, NOTIFICATION_EVENT_NAMES, type NotificationEventName } from './notification.port';

/**
 * Notifications to the webhooks configured under `notifications.webhooks`. Each delivery is one
 * signed JSON POST; receivers check the signature with `verifySignature` (or the ten lines in
 * docs/notifications-and-oidc.md).
 *
 * Inside workflows, `WebhookNotifier.deliver` runs as an activity and Temporal's retry policy does
 * the retries (list `WebhookRejectedError` in `nonRetryableErrorTypes`); elsewhere use
 * `deliverWithRetry`. Either way the delivery id is chosen once, so it stays the same across retries
 * and receivers can drop duplicates.
 *
 * Neither the secret nor the webhook URL's path (which is often a credential itself, as in Slack's
 * hooks) appears in an error: errors name the URL's origin only.
 */

export const WEBHOOK_HEADERS = {
  event: 'X-Switchyard-Event',
  delivery: 'X-Switchyard-Delivery',
  timestamp: 'X-Switchyard-Timestamp',
  signature: 'X-Switchyard-Signature',
} as const;

const httpUrl = z
  .string()
  .url('expected a URL')
  .refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL');

export const webhookSchema = z
  .object({
    url: httpUrl,
    /** Key of the HMAC-SHA256 signature; write it as a ${ENV} reference, not in the file. */
    secret: z.string().min(16, 'expected at least 16 characters'),
    events: z
      .array(z.enum(NOTIFICATION_EVENT_NAMES))
      .min(1, 'list at least one event, or leave events out for all of them')
      .default([...NOTIFICATION_EVENT_NAMES]),
    timeoutSeconds: z.number().int().min(1).max(60).default(5),
  })
  .strict();

export const notificationsSchema = z.object({ webhooks: z.array(webhookSchema).default([]) }).strict();

export type WebhookConfig = z.output<typeof webhookSchema>;
export type NotificationsConfig = z.output<typeof notificationsSchema>;

/** The webhooks that subscribe to an event. */
export function webhooksFor(
  webhooks: readonly WebhookConfig[],
  event: NotificationEventName,
): WebhookConfig[] {
  return webhooks.filter((w) => w.events.includes(event));
}

/** Hex HMAC-SHA256 of `${timestamp}.${body}`, over the body's exact bytes. */
export function signPayload(secret: string, timestamp: number | string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === wanted);
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * For receivers: true when the signature matches the raw body and the timestamp is within
 * `toleranceSeconds` of now (either way), which bounds how long a captured request can be replayed.
 */
export function verifySignature(
  secret: string,
  headers: HeaderSource,
  body: string | Buffer,
  toleranceSeconds: number,
  nowSeconds: number = Date.now() / 1000,
): boolean {
  const timestamp = header(headers, WEBHOOK_HEADERS.timestamp);
  const signature = /^sha256=([0-9a-f]{64})$/.exec(header(headers, WEBHOOK_HEADERS.signature) ?? '')?.[1];
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !signature) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signPayload(secret, timestamp, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

/** The receiver refused the delivery (4xx other than 408/429, or a redirect): retrying cannot help. */
export class WebhookRejectedError extends Error {
  override name = 'WebhookRejectedError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A transient failure (5xx, 408, 429, network, timeout): the same delivery may be tried again. */
export class WebhookDeliveryError extends Error {
  override name = 'WebhookDeliveryError';
  constructor(
    message: string,
    readonly status?: number,
    /** From a Retry-After header in seconds, when the receiver sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface WebhookNotifierDeps {
  fetch?: typeof fetch;
  /** Milliseconds since the epoch; the signature's timestamp. */
  now?: () => number;
}

export interface SignedWebhookPost {
  url: string;
  timeoutSeconds: number;
  /** Key of the HMAC-SHA256 signature. */
  secret: string;
  userAgent: string;
  /** `X-Switchyard-Event`. */
  event: string;
  /** `X-Switchyard-Delivery`. */
  deliveryId: string;
  /** Seconds since the epoch; `X-Switchyard-Timestamp`, and signed with the body. */
  timestamp: number;
  body: string;
}

/**
 * One signed JSON POST (redirects not followed; `timeoutSeconds` for the whole answer). Resolves
 * with the answer and its text, or with why there was none (`no answer within N s`, or the network
 * error's code): never rejects for a request that failed. Shared by notifications and the custom
 * steps' webhooks.
 */
export async function postSignedWebhook(
  fetchFn: typeof fetch,
  post: SignedWebhookPost,
): Promise<{ res: Response; text: string } | { noAnswer: string }> {
  try {
    const res = await fetchFn(post.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(post.timeoutSeconds * 1000),
      headers: {
        'content-type': 'application/json',
        'user-agent': post.userAgent,
        [WEBHOOK_HEADERS.event]: post.event,
        [WEBHOOK_HEADERS.delivery]: post.deliveryId,
        [WEBHOOK_HEADERS.timestamp]: String(post.timestamp),
        [WEBHOOK_HEADERS.signature]: `sha256=${signPayload(post.secret, post.timestamp, post.body)}`,
      },
      body: post.body,
    });
    const text = await res.text();
    return { res, text };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string; message?: string } };
    const noAnswer =
      e.name === 'TimeoutError'
        ? `no answer within ${post.timeoutSeconds} s`
        : (e.cause?.code ?? e.cause?.message ?? e.name ?? 'request failed');
    return { noAnswer };
  }
}

export class WebhookNotifier {
  constructor(private readonly deps: WebhookNotifierDeps = {}) {}

  /** One attempt: resolves on 2xx, throws WebhookRejectedError or WebhookDeliveryError otherwise. */
  async deliver(webhook: WebhookConfig, delivery: Delivery): Promise<void> {
    const body = JSON.stringify({ id: delivery.id, event: delivery.event, payload: delivery.payload });
    const timestamp = Math.floor((this.deps.now ?? Date.now)() / 1000);
    const url = new URL(webhook.url);
    const target = `webhook ${url.origin}`;
    const fail = (message: string) =>
      redact(
        `${target} (${delivery.event} ${delivery.id}): ${message}`,
        webhook.secret,
        url.pathname + url.search,
      );

    const sent = await postSignedWebhook(this.deps.fetch ?? fetch, {
      url: webhook.url,
      timeoutSeconds: webhook.timeoutSeconds,
      secret: webhook.secret,
      userAgent: 'switchyard-webhook',
      event: delivery.event,
      deliveryId: delivery.id,
      timestamp,
      body,
    });
    if ('noAnswer' in sent) throw new WebhookDeliveryError(fail(sent.noAnswer));
    const { res, text } = sent;

    if (res.status >= 200 && res.status < 300) return;
    const answer = `HTTP ${res.status}${snippet(redact(text, webhook.secret))}`;
    if (res.status >= 300 && res.status < 400) {
      throw new WebhookRejectedError(
        fail(`${answer}; redirects are not followed, configure the final URL`),
        res.status,
      );
    }
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      throw new WebhookRejectedError(fail(answer), res.status);
    }
    throw new WebhookDeliveryError(fail(answer), res.status, retryAfterMs(res.headers.get('retry-after')));
  }
}

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1); for the jitter. */
  random?: () => number;
}

/**
 * Delay before retry number `retry` (1 for the first retry): exponential, capped, with "equal
 * jitter" (half fixed, half random) so that delays still grow while receivers are not hit in step.
 */
export function backoffDelay(
  retry: number,
  opts: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * For use outside workflows: delivers with retries on transient failures, stops at once on a
 * rejection, and throws the last error when the attempts are spent. Resolves to the attempts made.
 */
export async function deliverWithRetry(
  notifier: Pick<WebhookNotifier, 'deliver'>,
  webhook: WebhookConfig,
  delivery: Delivery,
  opts: RetryOptions,
): Promise<{ attempts: number }> {
  if (!Number.isInteger(opts.attempts) || opts.attempts < 1)
    throw new RangeError('attempts must be an integer ≥ 1');
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt += 1) {
    try {
      await notifier.deliver(webhook, delivery);
      return { attempts: attempt };
    } catch (err) {
      if (!(err instanceof WebhookDeliveryError) || attempt >= opts.attempts) throw err;
      const delay = backoffDelay(attempt, opts, opts.random);
      await sleep(Math.min(opts.maxDelayMs, Math.max(delay, err.retryAfterMs ?? 0)));
    }
  }
}

export function snippet(text: string): string {
  const s = text.replace(/\s+/g, ' ').trim();
  if (!s) return '';
  return `: ${s.length > 200 ? `${s.slice(0, 200)}…` : s}`;
}

function retryAfterMs(value: string | null): number | undefined {
  return value && /^\d{1,6}$/.test(value.trim()) ? Number(value.trim()) * 1000 : undefined;
}

// The receiver holds the secret too and may echo it back; it must not travel on in our errors.
export function redact(message: string, ...secrets: string[]): string {
  return secrets.filter((s) => s.length > 1).reduce((m, s) => m.split(s).join('[redacted]'), message);
}
