/**
 * The DNS port: the only thing the coordinator needs from a DNS provider.
 * Adapters (Route 53, PowerDNS) implement it; nothing outside infra/dns knows which one it talks to.
 */

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME';

/** Which record set: the zone it lives in, its fully qualified name and type. Names carry no trailing dot. */
export interface DnsRecordRef {
  zone: string;
  name: string;
  type: DnsRecordType;
}

/** What a simple record set holds. `values` are sorted for comparison. */
export interface DnsRecordSet {
  ttl: number;
  values: string[];
}

/** A submitted change. Providers that apply synchronously report `INSYNC` at once. */
export interface DnsChange {
  id: string;
  status: 'PENDING' | 'INSYNC';
  submittedAt: string;
}

export interface WaitForSyncOptions {
  /** Give up (throw DnsSyncTimeoutError) after this long. */
  timeoutMs: number;
  /** First delay between polls; grows up to `maxPollMs`. */
  pollMs?: number;
  maxPollMs?: number;
  /** Called after each poll, e.g. to heartbeat the activity. */
  onPoll?: (status: DnsChange['status']) => void;
  signal?: AbortSignal;
}

/**
 * One record set of a routing policy, told apart from the others of its name and type by its
 * `setIdentifier` (Switchyard uses the region name). Weighted sets carry `weight`; failover sets
 * carry `failover` and usually a health check.
 */
export interface RoutedRecordSet {
  setIdentifier: string;
  ttl: number;
  values: string[];
  weight?: number;
  failover?: 'PRIMARY' | 'SECONDARY';
  healthCheckId?: string;
}

/**
 * Everything a provider holds under one name and type: a simple record set or routed sets (never
 * both; Route 53 refuses the mix). Routed sets are sorted by setIdentifier.
 */
export interface DnsRecordState {
  simple: DnsRecordSet | null;
  routed: RoutedRecordSet[];
}

/** A provider-side health check (Route 53), reused by `reference` when it exists. */
export interface HealthCheckSpec {
  /** Stable for one app, region and configuration (at most 64 characters). */
  reference: string;
  type: 'HTTP' | 'HTTPS' | 'TCP';
  ipAddress?: string;
  fqdn?: string;
  port: number;
  resourcePath?: string;
  requestIntervalSeconds: 10 | 30;
  failureThreshold: number;
}

export interface DnsProvider {
  /** The provider's name in switchyard.yaml (`dnsProviders.<name>`). */
  readonly name: string;
  readonly type: 'route53' | 'powerdns';
  /** The record set as the provider holds it now, or null when there is none. */
  get(ref: DnsRecordRef): Promise<DnsRecordSet | null>;
  /** Create or replace the record set. Idempotent: upserting the same value twice changes nothing. */
  upsert(ref: DnsRecordRef, set: DnsRecordSet): Promise<DnsChange>;
  /** Resolve once the change is visible on all of the provider's authoritative servers. */
  waitForSync(change: DnsChange, options: WaitForSyncOptions): Promise<void>;
  /** Every record set under the name and type (simple and routed). */
  getState(ref: DnsRecordRef): Promise<DnsRecordState>;
  /**
   * Make the provider hold exactly `desired` under the name and type: sets not in it are deleted.
   * Idempotent: null (no change submitted) when it already does.
   */
  applyState(ref: DnsRecordRef, desired: DnsRecordState): Promise<DnsChange | null>;
  /** The id of the health check with `spec.reference`, created when there is none. */
  ensureHealthCheck(spec: HealthCheckSpec): Promise<string>;
}

export class DnsSyncTimeoutError extends Error {
  constructor(
    readonly changeId: string,
    readonly waitedMs: number,
  ) {
    super(`DNS change ${changeId} was not in sync after ${Math.round(waitedMs / 1000)}s`);
    this.name = 'DnsSyncTimeoutError';
  }
}

/** A business-level refusal from the provider (unknown zone, bad value): retrying does not help. */
export class DnsProviderError extends Error {
  constructor(
    message: string,
    readonly provider: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'DnsProviderError';
  }
}

export function normalizeRecordSet(set: DnsRecordSet): DnsRecordSet {
  return { ttl: set.ttl, values: [...set.values].sort() };
}

export function sameRecordValues(a: DnsRecordSet | null, b: DnsRecordSet | null): boolean {
  if (a === null || b === null) return a === b;
  const x = normalizeRecordSet(a).values;
  const y = normalizeRecordSet(b).values;
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export function normalizeRoutedSet(set: RoutedRecordSet): RoutedRecordSet {
  return {
    setIdentifier: set.setIdentifier,
    ttl: set.ttl,
    values: [...set.values].sort(),
    ...(set.weight !== undefined ? { weight: set.weight } : {}),
    ...(set.failover !== undefined ? { failover: set.failover } : {}),
    ...(set.healthCheckId !== undefined ? { healthCheckId: set.healthCheckId } : {}),
  };
}

export function normalizeRecordState(state: DnsRecordState): DnsRecordState {
  return {
    simple: state.simple ? normalizeRecordSet(state.simple) : null,
    routed: state.routed
      .map(normalizeRoutedSet)
      .sort((a, b) => (a.setIdentifier < b.setIdentifier ? -1 : a.setIdentifier > b.setIdentifier ? 1 : 0)),
  };
}

export function sameRoutedSet(a: RoutedRecordSet, b: RoutedRecordSet): boolean {
  return JSON.stringify(normalizeRoutedSet(a)) === JSON.stringify(normalizeRoutedSet(b));
}

export function sameRecordState(a: DnsRecordState, b: DnsRecordState): boolean {
  return JSON.stringify(normalizeRecordState(a)) === JSON.stringify(normalizeRecordState(b));
}
