import type { DnsRecordActivities } from '../infra/activities/dns-record.activities';
import type { ControlState } from '../infra/storage/control-state.store';
import type { DnsOverrideSpec, DnsRecordDeleteSpec } from './operation';
import type { SoftDeleteApproval } from './soft-delete';

/**
 * Soft DNS changes (docs/soft-deletes.md, DNS records): what their workflows are started with, the
 * refusal codes, and which records a failover must skip. Pure: shared by the API and the workflows
 * (their steps are in dns-record-steps.ts).
 */

/** One provider entry of a record and every record set it holds (infra/dns/dns-record-state.ts). */
export type DnsRecordSnapshot = Awaited<ReturnType<DnsRecordActivities['readDnsRecord']>>[number];
export type DnsRecordState = DnsRecordSnapshot['state'];

export interface DnsRecordDeleteInput {
  app: string;
  operationId: string;
  spec: DnsRecordDeleteSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  undoableUntil: string;
  windowSeconds?: number;
  approval?: SoftDeleteApproval;
}

export interface DnsOverrideInput {
  app: string;
  operationId: string;
  spec: DnsOverrideSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  undoableUntil: string;
  windowSeconds?: number;
  approval?: SoftDeleteApproval;
  /** What the override writes on every provider of the record: `dns.ttl` and the region's `dns.target`. */
  set: { ttl: number; values: string[] };
}

/** Codes of a soft DNS change refused (in the API first, in the workflow again): nothing changed. */
export const DNS_RECORD_SOFT_REFUSALS = {
  notFound: 'dns-record-not-found',
  alreadyDeleted: 'dns-record-already-deleted',
  deleted: 'dns-record-deleted',
  changed: 'dns-record-changed',
  /** An override's undo after a failover or failback moved the app: it would point at the region left. */
  appMoved: 'app-moved',
  operationInProgress: 'operation-in-progress',
  regionHalted: 'region-halted',
  regionRemoved: 'region-removed',
} as const;

export const ABSENT_STATE: DnsRecordState = { simple: null, routed: [] };

/** The same entries holding nothing: what a removed record is. */
export function absentSnapshots(records: readonly DnsRecordSnapshot[]): DnsRecordSnapshot[] {
  return records.map((r) => ({ provider: r.provider, ref: r.ref, state: ABSENT_STATE }));
}

/** The record name as configuration and the API spell it, and as its tombstone target names it. */
export function normalizeRecordName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/** The DNS records a failover must not write: every one with a tombstone (in its window or purged). */
export function removedDnsRecords(
  state: Pick<ControlState, 'tombstones'>,
): { name: string; operationId: string }[] {
  return (state.tombstones ?? [])
    .filter((t) => t.kind === 'dns-record-delete' && t.target.startsWith('dns-record:'))
    .map((t) => ({ name: t.target.slice('dns-record:'.length), operationId: t.operationId }));
}

/** `route53-local: ttl 60 [127.0.1.1]; powerdns-local: absent`. */
export function describeSnapshots(records: readonly DnsRecordSnapshot[]): string {
  return records.map((r) => `${r.provider}: ${describeState(r.state)}`).join('; ');
}

function describeState(s: DnsRecordState): string {
  if (!s.simple && s.routed.length === 0) return 'absent';
  const parts = s.simple ? [`ttl ${s.simple.ttl} [${s.simple.values.join(', ')}]`] : [];
  for (const r of s.routed) {
    const policy = r.weight !== undefined ? `weight ${r.weight}` : (r.failover ?? '?');
    parts.push(`${r.setIdentifier} (${policy}) ttl ${r.ttl} [${r.values.join(', ')}]`);
  }
  return parts.join(', ');
}

/**
 * The removals that leave the app no DNS record at all (`names`: its configured record names), or
 * an empty list when at least one is left: a failover then has nothing to move.
 */
export function everyDnsRecordRemoved(
  names: readonly string[],
  state: Pick<ControlState, 'tombstones'>,
): { name: string; operationId: string }[] {
  const removed = removedDnsRecords(state);
  const all = [...new Set(names.map(normalizeRecordName))];
  return all.every((n) => removed.some((r) => r.name === n))
    ? removed.filter((r) => all.includes(r.name))
    : [];
}
