import { Context } from '@temporalio/activity';
import type { AuditEventInput, AuditStore } from '../audit/audit.port';
import type { Delivery, NotificationSink } from '../notify/notification.port';

/**
 * Activities that record what operations do: audit events and notifications. Both are
 * idempotent under retries: audit events carry an idempotency key; a notification remembers in
 * its heartbeat which targets already took the delivery, so a retry only resends to the others.
 */
export interface RecordingDeps {
  audit: AuditStore;
  notifications: NotificationSink;
  /** Copies the audit log to every region's bucket. */
  sealer: { seal(): Promise<{ sealedThrough: number }> };
}

export function createRecordingActivities(deps: RecordingDeps) {
  return {
    async recordAudit(event: AuditEventInput): Promise<number> {
      return (await deps.audit.append(event)).sequence;
    },

    /** Seals the audit log into every region's bucket (at the end of each operation). */
    async sealAudit(): Promise<number> {
      return (await deps.sealer.seal()).sealedThrough;
    },

    async notify(delivery: Delivery): Promise<string[]> {
      const ctx = Context.current();
      const done = new Set<string>((ctx.info.heartbeatDetails as string[] | undefined) ?? []);
      const failures: string[] = [];
      for (const target of deps.notifications.targets(delivery.event)) {
        if (done.has(target)) continue;
        try {
          await deps.notifications.deliver(target, delivery);
          done.add(target);
          ctx.heartbeat([...done]);
        } catch (err) {
          // A target that refused the delivery for good (e.g. HTTP 400) is not retried.
          if ((err as { retryable?: boolean }).retryable === false) {
            done.add(target);
            ctx.heartbeat([...done]);
          }
          failures.push(`${target}: ${(err as Error).message}`);
        }
      }
      if (failures.some((f) => !done.has(f.split(':')[0]!))) {
        throw new Error(`notification ${delivery.event} not delivered to ${failures.join('; ')}`);
      }
      return [...done];
    },
  };
}

export type RecordingActivities = ReturnType<typeof createRecordingActivities>;
