import {
  normalizeRecordState,
  sameRecordState,
  type DnsRecordRef,
  type DnsRecordState,
  type RoutedRecordSet,
} from './dns.port';

/**
 * The exact state of one of an app's DNS records, as soft DNS changes keep and compare it
 * (docs/soft-deletes.md, DNS records). A record name of the app may live on several providers (one
 * entry of `apps.<app>.dns.records` each): a snapshot is one entry, and a record is all of them.
 * Pure: used by the activities, their tests, and kept in the operation's facts.
 */
export interface DnsRecordSnapshot {
  /** `dnsProviders.<name>` of the entry. */
  provider: string;
  ref: DnsRecordRef;
  /** Every record set of the name and type: the simple set or the weighted/failover sets. */
  state: DnsRecordState;
}

/** What a removed record holds: nothing under its name and type. */
export const ABSENT: DnsRecordState = { simple: null, routed: [] };

export function isAbsent(state: DnsRecordState): boolean {
  return state.simple === null && state.routed.length === 0;
}

/** The record name as configuration and the API spell it: lower case, no trailing dot. */
export function recordName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/** The same provider, name and type. */
export function sameEntry(a: Pick<DnsRecordSnapshot, 'provider' | 'ref'>, b: typeof a): boolean {
  return (
    a.provider === b.provider &&
    recordName(a.ref.name) === recordName(b.ref.name) &&
    a.ref.type === b.ref.type
  );
}

function describeRouted(r: RoutedRecordSet): string {
  const policy =
    r.weight !== undefined
      ? `weight ${r.weight}`
      : `${r.failover ?? '?'}${r.healthCheckId ? ` health check ${r.healthCheckId}` : ''}`;
  return `${r.setIdentifier} (${policy}) ttl ${r.ttl} [${r.values.join(', ')}]`;
}

/** One line: `absent`, `ttl 60 [127.0.1.1]`, `east (weight 100) ttl 60 [127.0.1.1]; west (weight 0) …`. */
export function describeRecordState(state: DnsRecordState): string {
  const s = normalizeRecordState(state);
  if (isAbsent(s)) return 'absent';
  const parts = s.simple ? [`ttl ${s.simple.ttl} [${s.simple.values.join(', ')}]`] : [];
  return [...parts, ...s.routed.map(describeRouted)].join('; ');
}

/** An entry that holds neither what Switchyard left there nor what it is about to write. */
export interface DnsRecordMismatch {
  provider: string;
  ref: DnsRecordRef;
  /** What Switchyard left there (or set), and expects to find. */
  expected: DnsRecordState;
  /** What the provider holds now. */
  current: DnsRecordState;
  /** What the write would have made it. */
  wouldWrite: DnsRecordState;
}

/** What a conditional write does: the entries to write (those already at `to` are done). */
export interface ConditionalWritePlan {
  writes: DnsRecordSnapshot[];
  /** Non-empty: someone changed the record since Switchyard left it; nothing may be written. */
  mismatches: DnsRecordMismatch[];
}

/**
 * Plans a write from `from` (what Switchyard left in each entry) to `to`, given what each entry
 * holds now: an entry still at `from` is written, one already at `to` is done (a retried write
 * applies once), any other is a mismatch, and one mismatch refuses the whole write. An entry of
 * `to` without a `from` expects ABSENT.
 */
export function planConditionalWrite(
  current: readonly DnsRecordSnapshot[],
  from: readonly DnsRecordSnapshot[],
  to: readonly DnsRecordSnapshot[],
): ConditionalWritePlan {
  const writes: DnsRecordSnapshot[] = [];
  const mismatches: DnsRecordMismatch[] = [];
  for (const want of to) {
    const now = current.find((c) => sameEntry(c, want))?.state ?? ABSENT;
    const expected = from.find((f) => sameEntry(f, want))?.state ?? ABSENT;
    if (sameRecordState(now, want.state)) continue;
    if (sameRecordState(now, expected)) {
      writes.push(want);
      continue;
    }
    mismatches.push({
      provider: want.provider,
      ref: want.ref,
      expected: normalizeRecordState(expected),
      current: normalizeRecordState(now),
      wouldWrite: normalizeRecordState(want.state),
    });
  }
  return { writes, mismatches };
}

/** The details of a `dns-record-changed` refusal: per provider, what was expected, found, and would be written. */
export interface DnsRecordChangedDetails {
  name: string;
  expected: Record<string, DnsRecordState>;
  current: Record<string, DnsRecordState>;
  wouldWrite: Record<string, DnsRecordState>;
}

export function changedDetails(
  name: string,
  mismatches: readonly DnsRecordMismatch[],
): DnsRecordChangedDetails {
  const by = (pick: (m: DnsRecordMismatch) => DnsRecordState) =>
    Object.fromEntries(mismatches.map((m) => [m.provider, pick(m)]));
  return {
    name: recordName(name),
    expected: by((m) => m.expected),
    current: by((m) => m.current),
    wouldWrite: by((m) => m.wouldWrite),
  };
}

/** `DNS record <name> was changed since Switchyard …: <provider> holds X, expected Y`. */
export function changedMessage(
  name: string,
  mismatches: readonly DnsRecordMismatch[],
  since: string,
): string {
  const each = mismatches
    .map(
      (m) =>
        `${m.provider} holds ${describeRecordState(m.current)}, Switchyard ${since} ${describeRecordState(m.expected)} (would write ${describeRecordState(m.wouldWrite)})`,
    )
    .join('; ');
  return `DNS record ${recordName(name)} was changed behind Switchyard: ${each}; nothing was changed`;
}
