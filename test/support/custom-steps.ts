import type { WebhookReceiver } from './webhook-receiver';

/**
 * Every string and byte payload in a value (a workflow history, a step's result), as text: what a
 * reader of the history could see.
 */
export function payloadText(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) value.forEach((v) => payloadText(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => payloadText(v, out));
  else if (typeof value === 'string') out.push(value);
  return out;
}

/**
 * The `notify-ops` webhook step before the fence, calling `receiver` (`/run`, compensation `/undo`)
 * with the secret the worker reads from `${secretEnv}`.
 */
export function notifyOpsStep(receiver: WebhookReceiver, secretEnv: string): Record<string, unknown> {
  return {
    name: 'notify-ops',
    type: 'webhook',
    before: 'fence',
    url: `${receiver.url}/run`,
    compensateUrl: `${receiver.url}/undo`,
    secret: `\${${secretEnv}}`,
    timeoutSeconds: 5,
  };
}
