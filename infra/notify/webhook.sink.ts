import type { Delivery, NotificationEventName, NotificationSink } from './notification.port';
import { type WebhookConfig, WebhookNotifier, WebhookRejectedError } from './webhook.notifier';

/** Notifications to the configured webhooks; a target is named by its place in the list, `webhooks[i]`. */
export class WebhookSink implements NotificationSink {
  constructor(
    private readonly webhooks: readonly WebhookConfig[],
    private readonly notifier = new WebhookNotifier(),
  ) {}

  targets(event: NotificationEventName): string[] {
    return this.webhooks.flatMap((w, i) => (w.events.includes(event) ? [`webhooks[${i}]`] : []));
  }

  async deliver(target: string, delivery: Delivery): Promise<void> {
    const index = Number(/^webhooks\[(\d+)\]$/.exec(target)?.[1] ?? NaN);
    const webhook = this.webhooks[index];
    if (!webhook) throw Object.assign(new Error(`no notification target ${target}`), { retryable: false });
    try {
      await this.notifier.deliver(webhook, delivery);
    } catch (err) {
      // A receiver that refused (4xx) will refuse again: mark it final for the activity.
      if (err instanceof WebhookRejectedError) Object.assign(err, { retryable: false });
      throw err;
    }
  }
}
