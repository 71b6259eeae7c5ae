import { proxyActivities } from '@temporalio/workflow';
import type { RecordingActivities } from '../infra/activities/recording.activities';
import type { Delivery } from '../infra/notify/notification.port';

/**
 * Work an operation hands off when it ends, as workflows of their own (children the operation
 * abandons): a webhook that is down may be retried for many minutes, and none of that may keep the
 * app's operation slot taken.
 */

const notifying = proxyActivities<RecordingActivities>({
  startToCloseTimeout: '30s',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

const sealing = proxyActivities<RecordingActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

/** Delivers one notification to every subscribed target, at least once (the delivery id is stable). */
export async function deliverNotificationWorkflow(delivery: Delivery): Promise<string[]> {
  return notifying.notify(delivery);
}

/** Copies the audit log's newest events into every region's bucket. */
export async function sealAuditWorkflow(): Promise<number> {
  return sealing.sealAudit();
}
