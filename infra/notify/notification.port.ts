/**
 * Where notifications go (webhooks today). Delivery is at least once: a delivery keeps its id
 * across retries, so a receiver can drop duplicates.
 */
export const NOTIFICATION_EVENT_NAMES = [
  'approval.requested',
  'approval.decided',
  'approval.expired',
  'operation.finished',
  'restore-point.unrecoverable',
  'region.state-changed',
  'checkpoint.waiting',
  /** A halted (fenced) region answers healthy again; it stays halted until a failback. */
  'region.halted-returned',
  /** A monitor (vantage point) stopped reporting for `staleAfterSeconds`; its votes count as unknown. */
  'monitor.silent',
  /** A silent monitor reports again. */
  'monitor.resumed',
] as const;
export type NotificationEventName = (typeof NOTIFICATION_EVENT_NAMES)[number];

export interface Delivery {
  id: string;
  event: NotificationEventName;
  payload: Record<string, unknown>;
}

export interface NotificationSink {
  /** Names of the targets subscribed to this event, e.g. `webhooks[0]`. */
  targets(event: NotificationEventName): string[];
  /** One attempt; throws when the target did not take it (retryable unless it says otherwise). */
  deliver(target: string, delivery: Delivery): Promise<void>;
}

export const noNotifications: NotificationSink = {
  targets: () => [],
  deliver: () => Promise.resolve(),
};
