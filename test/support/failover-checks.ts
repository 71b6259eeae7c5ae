import type { AppFixture } from './app-fixture';
import { stack } from './stack';
import { parseOperationId } from '../../workflows/definitions';

/**
 * Checks that a failover changed DNS once, shared by the chaos and restart tests: what the
 * operation's history says it wrote, and what the PowerDNS zone says it received.
 */

/** The app zone's SOA serial: PowerDNS raises it on every change made through its API, same value or not. */
export async function powerDnsSerial(fx: AppFixture): Promise<number> {
  const p = stack().powerdns;
  const res = await fetch(`${p.apiUrl}/api/v1/servers/${p.serverId}/zones/${fx.zone}.`, {
    headers: { 'X-API-Key': p.apiKey },
  });
  if (res.status !== 200) throw new Error(`PowerDNS GET zone ${fx.zone}: HTTP ${res.status}`);
  return ((await res.json()) as { serial: number }).serial;
}

/** Activities that write DNS records (the switch and its compensation), by name. */
export const isDnsWriteActivity = (activityType: string): boolean =>
  /dns/i.test(activityType) && /^(apply|upsert|write|set|shift|switch|restore)/i.test(activityType);

/**
 * The DNS writes the operation's workflow completed, and how many attempts of them were retries
 * (a retry after a crash may repeat a write that reached the provider before the crash).
 */
export async function dnsWritesInHistory(
  fx: AppFixture,
  operationId: string,
): Promise<{ completed: number; retried: number }> {
  const id = parseOperationId(operationId);
  if (!id) throw new Error(`not an operation id: ${operationId}`);
  const client = await fx.temporal();
  const history = await client.workflow.getHandle(id.workflowIds[0]!, id.runId).fetchHistory();
  const writes = new Set<string>();
  let completed = 0;
  let retried = 0;
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled && isDnsWriteActivity(scheduled.activityType?.name ?? '')) writes.add(String(e.eventId));
    const started = e.activityTaskStartedEventAttributes;
    if (started && writes.has(String(started.scheduledEventId)) && (started.attempt ?? 1) > 1) retried++;
    const done = e.activityTaskCompletedEventAttributes;
    if (done && writes.has(String(done.scheduledEventId))) completed++;
  }
  return { completed, retried };
}
