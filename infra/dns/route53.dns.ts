import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  GetChangeCommand,
  ListHealthChecksCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ChangeInfo,
  type Change,
  type HostedZone,
  type ResourceRecordSet,
  type Route53ClientConfig,
  type RRType,
} from '@aws-sdk/client-route-53';
import { type Route53ProviderConfig } from '../config/config.schema';
import {
  DnsProviderError,
  DnsSyncTimeoutError,
  normalizeRecordSet,
  normalizeRecordState,
  sameRecordValues,
  sameRoutedSet,
  type DnsChange,
  type DnsProvider,
  type DnsRecordRef,
  type DnsRecordSet,
  type DnsRecordState,
  type HealthCheckSpec,
  type RoutedRecordSet,
  type WaitForSyncOptions,
} from './dns.port';

/** Time, injectable so tests can check the polling schedule without waiting for it. */
export interface Route53Clock {
  now(): number;
  /** Resolve after `ms`; reject with `signal.reason` when the signal aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Route53DnsProviderDeps {
  /** A ready client (tests inject one with a fake transport); built from the config when absent. */
  client?: Route53Client;
  clock?: Route53Clock;
}

const DEFAULT_POLL_MS = 1_000;
const DEFAULT_MAX_POLL_MS = 10_000;
const POLL_GROWTH = 1.5;
/** Route 53's maximum page size; large pages keep moto (which ignores StartRecordIdentifier) to one page. */
const RECORD_PAGE_SIZE = 300;
/** More pages than one name and type can fill on Route 53; only a looping server gets here. */
const MAX_RECORD_PAGES = 10;
/** Whole-zone listings (only to guard deletes by SetIdentifier) stop here. */
const MAX_ZONE_PAGES = 100;
const MAX_HEALTH_CHECK_PAGES = 100;

const THROTTLING_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestLimitExceeded',
]);

/**
 * The Route 53 client options for a provider: credentials from the config or the default chain,
 * the SDK's own retry strategy (throttling included) bounded by `maxAttempts`, and request timeouts.
 */
export function route53ClientConfig(config: Route53ProviderConfig): Route53ClientConfig {
  return {
    region: config.region,
    ...(config.endpoint !== undefined ? { endpoint: config.endpoint } : {}),
    ...(config.accessKeyId !== undefined && config.secretAccessKey !== undefined
      ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } }
      : {}),
    maxAttempts: config.maxAttempts,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 30_000, throwOnRequestTimeout: true },
  };
}

export class Route53DnsProvider implements DnsProvider {
  readonly type = 'route53' as const;
  private readonly client: Route53Client;
  private readonly clock: Route53Clock;
  /** Hosted zone ids by normalised zone name; a failed lookup is not cached. */
  private readonly zoneIds = new Map<string, Promise<string>>();
  private readonly secrets: string[];

  constructor(
    readonly name: string,
    config: Route53ProviderConfig,
    deps: Route53DnsProviderDeps = {},
  ) {
    this.client = deps.client ?? new Route53Client(route53ClientConfig(config));
    this.clock = deps.clock ?? systemClock;
    this.secrets = [config.accessKeyId, config.secretAccessKey].filter((s): s is string => !!s);
  }

  async get(ref: DnsRecordRef): Promise<DnsRecordSet | null> {
    this.checkInZone(ref);
    const zoneId = await this.zoneId(ref.zone);
    const wanted = normalizeName(ref.name);
    let start: { name: string; type: string; identifier?: string } = { name: fqdn(ref.name), type: ref.type };
    const requested = new Set<string>();
    for (let page = 0; page < MAX_RECORD_PAGES; page++) {
      const key = `${start.name}|${start.type}|${start.identifier ?? ''}`;
      // moto answers a page of weighted sets with the same "next" position forever.
      if (requested.has(key)) return null;
      requested.add(key);
      const out = await this.call(`read ${describe(ref)}`, ref.zone, () =>
        this.client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            StartRecordName: start.name,
            StartRecordType: start.type as RRType,
            StartRecordIdentifier: start.identifier,
            MaxItems: RECORD_PAGE_SIZE,
          }),
        ),
      );
      for (const rs of out.ResourceRecordSets ?? []) {
        // Sets with a SetIdentifier (weighted, failover, latency...) are not simple records.
        if (normalizeName(rs.Name ?? '') !== wanted || rs.Type !== ref.type || rs.SetIdentifier) continue;
        if (rs.AliasTarget || !rs.ResourceRecords) {
          throw new DnsProviderError(
            `Route 53 provider "${this.name}": ${describe(ref)} is an alias record; Switchyard manages only simple record sets`,
            this.name,
            false,
          );
        }
        return normalizeRecordSet({
          ttl: rs.TTL ?? 0,
          values: rs.ResourceRecords.map((r) => cleanValue(ref.type, r.Value ?? '')),
        });
      }
      const moreOfSameSet =
        out.IsTruncated === true &&
        normalizeName(out.NextRecordName ?? '') === wanted &&
        out.NextRecordType === ref.type;
      if (!moreOfSameSet) return null;
      start = { name: out.NextRecordName ?? '', type: ref.type, identifier: out.NextRecordIdentifier };
    }
    throw new DnsProviderError(
      `Route 53 provider "${this.name}": listing ${describe(ref)} did not end after ${MAX_RECORD_PAGES} pages`,
      this.name,
      false,
    );
  }

  async upsert(ref: DnsRecordRef, set: DnsRecordSet): Promise<DnsChange> {
    this.checkInZone(ref);
    if (set.values.length === 0) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": cannot upsert ${describe(ref)} with no values`,
        this.name,
        false,
      );
    }
    const zoneId = await this.zoneId(ref.zone);
    const normalized = normalizeRecordSet(set);
    const out = await this.call(`upsert ${describe(ref)}`, ref.zone, () =>
      this.client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: {
            Comment: 'switchyard',
            Changes: [
              {
                Action: 'UPSERT',
                ResourceRecordSet: {
                  Name: fqdn(ref.name),
                  Type: ref.type,
                  TTL: normalized.ttl,
                  ResourceRecords: normalized.values.map((Value) => ({ Value })),
                },
              },
            ],
          },
        }),
      ),
    );
    return this.toDnsChange(out.ChangeInfo, `upsert ${describe(ref)}`);
  }

  async getState(ref: DnsRecordRef): Promise<DnsRecordState> {
    this.checkInZone(ref);
    const zoneId = await this.zoneId(ref.zone);
    return toState(ref, await this.listSets(zoneId, ref), this.name);
  }

  /**
   * One change batch taking the name and type from what Route 53 holds to `desired`: deletes
   * first (with the exact values read, as Route 53 requires), then upserts. Nothing is sent when
   * the state already matches, so a retried call applies once.
   *
   * Moto deletes more than asked: a DELETE without SetIdentifier removes every set of the name and
   * type, and one with a SetIdentifier removes that identifier under every name of the zone. So a
   * batch with deletes also upserts every desired set and every other set of the zone sharing a
   * deleted identifier, after the deletes; on Route 53 those upserts change nothing.
   */
  async applyState(ref: DnsRecordRef, desired: DnsRecordState): Promise<DnsChange | null> {
    this.checkInZone(ref);
    const want = normalizeRecordState(desired);
    if (want.simple && want.routed.length > 0) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": ${describe(ref)}: a simple record set and routed sets cannot share a name and type`,
        this.name,
        false,
      );
    }
    if (want.simple?.values.length === 0 || want.routed.some((r) => r.values.length === 0)) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": cannot write ${describe(ref)} with no values`,
        this.name,
        false,
      );
    }
    const zoneId = await this.zoneId(ref.zone);
    const raw = await this.listSets(zoneId, ref);
    const current = toState(ref, raw, this.name);
    const deletes: ResourceRecordSet[] = [];
    const upserts: ResourceRecordSet[] = [];
    const rawSimple = raw.find((r) => !r.SetIdentifier);
    if (rawSimple && !want.simple) deletes.push(rawSimple);
    if (want.simple && !sameRecordValuesAndTtl(current.simple, want.simple)) {
      upserts.push(simpleSet(ref, want.simple));
    }
    for (const set of raw.filter((r) => r.SetIdentifier)) {
      if (!want.routed.some((w) => w.setIdentifier === set.SetIdentifier)) deletes.push(set);
    }
    for (const w of want.routed) {
      const have = current.routed.find((c) => c.setIdentifier === w.setIdentifier);
      if (!have || !sameRoutedSet(have, w)) upserts.push(routedSet(ref, w));
    }
    if (deletes.length === 0 && upserts.length === 0) return null;
    let guard: ResourceRecordSet[] = [];
    if (deletes.length > 0) {
      upserts.length = 0;
      if (want.simple) upserts.push(simpleSet(ref, want.simple));
      for (const w of want.routed) upserts.push(routedSet(ref, w));
      guard = await this.setsSharingIdentifiers(zoneId, ref, deletes);
    }
    const changes: Change[] = [
      ...deletes.map((ResourceRecordSet) => ({ Action: 'DELETE' as const, ResourceRecordSet })),
      ...[...upserts, ...guard].map((ResourceRecordSet) => ({
        Action: 'UPSERT' as const,
        ResourceRecordSet,
      })),
    ];
    const out = await this.call(`write ${describe(ref)}`, ref.zone, () =>
      this.client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Comment: 'switchyard', Changes: changes },
        }),
      ),
    );
    return this.toDnsChange(out.ChangeInfo, `write ${describe(ref)}`);
  }

  async ensureHealthCheck(spec: HealthCheckSpec): Promise<string> {
    if (spec.reference.length === 0 || spec.reference.length > 64) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": health check reference must have 1 to 64 characters`,
        this.name,
        false,
      );
    }
    const existing = await this.findHealthCheck(spec.reference);
    if (existing) return existing;
    const out = await this.call(`create health check ${spec.reference}`, undefined, () =>
      this.client.send(
        new CreateHealthCheckCommand({
          // Route 53 answers a repeated reference with the same configuration with the same check.
          CallerReference: spec.reference,
          HealthCheckConfig: {
            Type: spec.type,
            ...(spec.ipAddress ? { IPAddress: spec.ipAddress } : {}),
            ...(spec.fqdn ? { FullyQualifiedDomainName: spec.fqdn } : {}),
            Port: spec.port,
            ...(spec.type !== 'TCP' && spec.resourcePath ? { ResourcePath: spec.resourcePath } : {}),
            RequestInterval: spec.requestIntervalSeconds,
            FailureThreshold: spec.failureThreshold,
          },
        }),
      ),
    );
    const id = out.HealthCheck?.Id;
    if (!id) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": create health check ${spec.reference}: no id in the answer`,
        this.name,
        true,
      );
    }
    return id;
  }

  private async findHealthCheck(reference: string): Promise<string | undefined> {
    let marker: string | undefined;
    const seen = new Set<string>();
    for (let page = 0; page < MAX_HEALTH_CHECK_PAGES; page++) {
      const out = await this.call('list health checks', undefined, () =>
        this.client.send(new ListHealthChecksCommand({ Marker: marker, MaxItems: 1000 })),
      );
      const found = (out.HealthChecks ?? []).find((h) => h.CallerReference === reference);
      if (found?.Id) return found.Id;
      if (!out.IsTruncated || !out.NextMarker || seen.has(out.NextMarker)) return undefined;
      seen.add(out.NextMarker);
      marker = out.NextMarker;
    }
    return undefined;
  }

  /**
   * The raw sets of one name and type, following pages by name, type and identifier. Moto ignores
   * StartRecordIdentifier and hands back the same page forever: a page asked for twice, or one
   * that brings no set not seen yet, ends the listing.
   */
  private async listSets(zoneId: string, ref: DnsRecordRef): Promise<ResourceRecordSet[]> {
    const wanted = normalizeName(ref.name);
    const found = new Map<string, ResourceRecordSet>();
    const requested = new Set<string>();
    let start: { name: string; identifier?: string } = { name: fqdn(ref.name) };
    for (let page = 0; page < MAX_RECORD_PAGES; page++) {
      const key = `${start.name}|${start.identifier ?? ''}`;
      if (requested.has(key)) return [...found.values()];
      requested.add(key);
      const out = await this.call(`read ${describe(ref)}`, ref.zone, () =>
        this.client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            StartRecordName: start.name,
            StartRecordType: ref.type as RRType,
            StartRecordIdentifier: start.identifier,
            MaxItems: RECORD_PAGE_SIZE,
          }),
        ),
      );
      let added = 0;
      for (const rs of out.ResourceRecordSets ?? []) {
        if (normalizeName(rs.Name ?? '') !== wanted || rs.Type !== ref.type) continue;
        const id = rs.SetIdentifier ?? '';
        if (!found.has(id)) added++;
        found.set(id, rs);
      }
      const moreOfSameSet =
        out.IsTruncated === true &&
        normalizeName(out.NextRecordName ?? '') === wanted &&
        out.NextRecordType === ref.type;
      if (!moreOfSameSet || (page > 0 && added === 0)) return [...found.values()];
      start = { name: out.NextRecordName ?? '', identifier: out.NextRecordIdentifier };
    }
    throw new DnsProviderError(
      `Route 53 provider "${this.name}": listing ${describe(ref)} did not end after ${MAX_RECORD_PAGES} pages`,
      this.name,
      false,
    );
  }

  /** Sets of other names or types in the zone whose SetIdentifier is among the deleted ones. */
  private async setsSharingIdentifiers(
    zoneId: string,
    ref: DnsRecordRef,
    deletes: ResourceRecordSet[],
  ): Promise<ResourceRecordSet[]> {
    const ids = new Set(deletes.map((d) => d.SetIdentifier).filter((x): x is string => !!x));
    if (ids.size === 0) return [];
    const wanted = normalizeName(ref.name);
    const found = new Map<string, ResourceRecordSet>();
    const requested = new Set<string>();
    let start: { name?: string; type?: string; identifier?: string } = {};
    for (let page = 0; page < MAX_ZONE_PAGES; page++) {
      const key = `${start.name ?? ''}|${start.type ?? ''}|${start.identifier ?? ''}`;
      if (requested.has(key)) break;
      requested.add(key);
      const out = await this.call(`list zone ${normalizeName(ref.zone)}`, ref.zone, () =>
        this.client.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId: zoneId,
            StartRecordName: start.name,
            StartRecordType: start.type as RRType | undefined,
            StartRecordIdentifier: start.identifier,
            MaxItems: RECORD_PAGE_SIZE,
          }),
        ),
      );
      let added = 0;
      for (const rs of out.ResourceRecordSets ?? []) {
        const key = `${normalizeName(rs.Name ?? '')}|${rs.Type}|${rs.SetIdentifier ?? ''}`;
        if (!found.has(key)) added++;
        found.set(key, rs);
      }
      if (out.IsTruncated !== true || (page > 0 && added === 0)) break;
      start = { name: out.NextRecordName, type: out.NextRecordType, identifier: out.NextRecordIdentifier };
    }
    return [...found.values()].filter(
      (rs) =>
        rs.SetIdentifier !== undefined &&
        ids.has(rs.SetIdentifier) &&
        !(normalizeName(rs.Name ?? '') === wanted && rs.Type === ref.type),
    );
  }

  async waitForSync(change: DnsChange, options: WaitForSyncOptions): Promise<void> {
    if (change.status === 'INSYNC') return;
    const maxPollMs = options.maxPollMs ?? DEFAULT_MAX_POLL_MS;
    let delay = Math.min(options.pollMs ?? DEFAULT_POLL_MS, maxPollMs);
    const started = this.clock.now();
    const deadline = started + options.timeoutMs;
    let lastError: DnsProviderError | undefined;
    for (;;) {
      options.signal?.throwIfAborted();
      let status: DnsChange['status'] = 'PENDING';
      try {
        status = await this.getChangeStatus(change.id, deadline - this.clock.now(), options.signal);
        lastError = undefined;
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (isAbortError(err)) throw this.syncTimeout(change.id, started, lastError);
        // Throttling (after the SDK's own retries), 5xx or a network fault: keep waiting, poll again.
        if (!(err instanceof DnsProviderError) || !err.retryable) throw err;
        lastError = err;
      }
      options.onPoll?.(status);
      if (status === 'INSYNC') return;
      const remaining = deadline - this.clock.now();
      if (remaining <= 0) throw this.syncTimeout(change.id, started, lastError);
      await this.clock.sleep(Math.round(Math.min(delay, remaining)), options.signal);
      delay = Math.min(delay * POLL_GROWTH, maxPollMs);
    }
  }

  private syncTimeout(changeId: string, started: number, lastError: Error | undefined): DnsSyncTimeoutError {
    const timeout = new DnsSyncTimeoutError(changeId, this.clock.now() - started);
    if (lastError) timeout.cause = lastError;
    return timeout;
  }

  private async getChangeStatus(
    changeId: string,
    remainingMs: number,
    signal: AbortSignal | undefined,
  ): Promise<DnsChange['status']> {
    // A poll may not outlive the wait; the SDK's retries of a throttled poll happen inside this bound.
    const bound = AbortSignal.timeout(Math.max(Math.ceil(remainingMs), 1));
    const abortSignal = signal ? AbortSignal.any([signal, bound]) : bound;
    const out = await this.call(`read change ${changeId}`, undefined, () =>
      this.client.send(new GetChangeCommand({ Id: stripPrefix(changeId) }), { abortSignal }),
    );
    return this.toDnsChange(out.ChangeInfo, `read change ${changeId}`).status;
  }

  private toDnsChange(info: ChangeInfo | undefined, what: string): DnsChange {
    if (!info?.Id || (info.Status !== 'PENDING' && info.Status !== 'INSYNC')) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": ${what}: unexpected change info ${JSON.stringify(info ?? null)}`,
        this.name,
        true,
      );
    }
    return {
      id: stripPrefix(info.Id),
      status: info.Status,
      submittedAt: (info.SubmittedAt ?? new Date(this.clock.now())).toISOString(),
    };
  }

  private zoneId(zone: string): Promise<string> {
    const key = normalizeName(zone);
    let id = this.zoneIds.get(key);
    if (!id) {
      id = this.lookupZoneId(zone);
      this.zoneIds.set(key, id);
      id.catch(() => this.zoneIds.delete(key));
    }
    return id;
  }

  private async lookupZoneId(zone: string): Promise<string> {
    const wanted = normalizeName(zone);
    const out = await this.call(`look up hosted zone ${wanted}`, zone, () =>
      this.client.send(new ListHostedZonesByNameCommand({ DNSName: fqdn(wanted), MaxItems: 100 })),
    );
    // The answer starts at the name and continues in order, so later zones may follow.
    const matches = (out.HostedZones ?? []).filter((z) => normalizeName(z.Name ?? '') === wanted);
    const chosen = pickZone(matches);
    if (!chosen?.Id) {
      const why =
        matches.length === 0
          ? 'no hosted zone has that name'
          : `${matches.length} hosted zones have that name (${matches.map((z) => stripPrefix(z.Id ?? '')).join(', ')}) and none is the only public one`;
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": zone ${wanted}: ${why}`,
        this.name,
        false,
      );
    }
    return stripPrefix(chosen.Id);
  }

  private checkInZone(ref: DnsRecordRef): void {
    const name = normalizeName(ref.name);
    const zone = normalizeName(ref.zone);
    if (name !== zone && !name.endsWith(`.${zone}`)) {
      throw new DnsProviderError(
        `Route 53 provider "${this.name}": ${describe(ref)}: the name is not inside the zone`,
        this.name,
        false,
      );
    }
  }

  /** Run one SDK call (the SDK retries throttling and transient faults) and map what still fails. */
  private async call<T>(what: string, zone: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof DnsProviderError) throw err;
      const e = (err ?? {}) as AwsLikeError;
      if (isAbortError(err)) throw err;
      if (e.name === 'NoSuchHostedZone' && zone !== undefined) this.zoneIds.delete(normalizeName(zone));
      const status = e.$metadata?.httpStatusCode;
      const attempts = e.$metadata?.attempts;
      const detail = [
        status !== undefined ? `HTTP ${status}` : undefined,
        attempts !== undefined && attempts > 1 ? `${attempts} attempts` : undefined,
        e.$metadata?.requestId ? `request ${e.$metadata.requestId}` : undefined,
      ]
        .filter(Boolean)
        .join(', ');
      const message = `Route 53 provider "${this.name}": ${what} failed: ${e.name ?? 'Error'}${detail ? ` (${detail})` : ''}: ${e.message ?? String(err)}`;
      throw new DnsProviderError(this.redact(message), this.name, isRetryable(e));
    }
  }

  private redact(message: string): string {
    return this.secrets.reduce((m, s) => m.split(s).join('***'), message);
  }
}

/** Parses one name and type's raw sets; anything but simple, weighted and failover sets is refused. */
function toState(ref: DnsRecordRef, raw: ResourceRecordSet[], provider: string): DnsRecordState {
  let simple: DnsRecordSet | null = null;
  const routed: RoutedRecordSet[] = [];
  for (const rs of raw) {
    const unsupported =
      rs.AliasTarget ||
      !rs.ResourceRecords ||
      rs.Region ||
      rs.GeoLocation ||
      rs.MultiValueAnswer ||
      rs.CidrRoutingConfig ||
      rs.GeoProximityLocation ||
      (rs.SetIdentifier && rs.Weight === undefined && rs.Failover === undefined);
    if (unsupported) {
      throw new DnsProviderError(
        `Route 53 provider "${provider}": ${describe(ref)}${rs.SetIdentifier ? ` (set ${rs.SetIdentifier})` : ''} is an alias or a latency, geolocation or multivalue record; Switchyard manages only simple, weighted and failover record sets`,
        provider,
        false,
      );
    }
    const values = rs.ResourceRecords!.map((r) => cleanValue(ref.type, r.Value ?? ''));
    if (!rs.SetIdentifier) {
      simple = normalizeRecordSet({ ttl: rs.TTL ?? 0, values });
      continue;
    }
    routed.push({
      setIdentifier: rs.SetIdentifier,
      ttl: rs.TTL ?? 0,
      values,
      ...(rs.Weight !== undefined ? { weight: rs.Weight } : {}),
      ...(rs.Failover === 'PRIMARY' || rs.Failover === 'SECONDARY' ? { failover: rs.Failover } : {}),
      ...(rs.HealthCheckId ? { healthCheckId: rs.HealthCheckId } : {}),
    });
  }
  return normalizeRecordState({ simple, routed });
}

function sameRecordValuesAndTtl(a: DnsRecordSet | null, b: DnsRecordSet): boolean {
  return a !== null && a.ttl === b.ttl && sameRecordValues(a, b);
}

function simpleSet(ref: DnsRecordRef, set: DnsRecordSet): ResourceRecordSet {
  return {
    Name: fqdn(ref.name),
    Type: ref.type,
    TTL: set.ttl,
    ResourceRecords: set.values.map((Value) => ({ Value })),
  };
}

function routedSet(ref: DnsRecordRef, set: RoutedRecordSet): ResourceRecordSet {
  return {
    Name: fqdn(ref.name),
    Type: ref.type,
    SetIdentifier: set.setIdentifier,
    ...(set.weight !== undefined ? { Weight: set.weight } : {}),
    ...(set.failover !== undefined ? { Failover: set.failover } : {}),
    ...(set.healthCheckId !== undefined ? { HealthCheckId: set.healthCheckId } : {}),
    TTL: set.ttl,
    ResourceRecords: set.values.map((Value) => ({ Value })),
  };
}

interface AwsLikeError {
  name?: string;
  message?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number; attempts?: number; requestId?: string };
}

/** What is still worth retrying after the SDK gave up: throttling, 5xx, no answer at all. */
function isRetryable(e: AwsLikeError): boolean {
  if (THROTTLING_CODES.has(e.name ?? '') || e.$retryable !== undefined) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined) return e.name !== 'CredentialsProviderError';
  return status === 429 || status >= 500;
}

function isAbortError(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}

function pickZone(matches: HostedZone[]): HostedZone | undefined {
  if (matches.length <= 1) return matches[0];
  const publicZones = matches.filter((z) => z.Config?.PrivateZone !== true);
  return publicZones.length === 1 ? publicZones[0] : undefined;
}

function describe(ref: DnsRecordRef): string {
  return `${ref.type} ${normalizeName(ref.name)} in zone ${normalizeName(ref.zone)}`;
}

/** Lower case, no trailing dot, Route 53's octal escapes (`\052` for `*`) decoded. */
function normalizeName(name: string): string {
  return name
    .replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    .replace(/\.$/, '')
    .toLowerCase();
}

function fqdn(name: string): string {
  return `${normalizeName(name)}.`;
}

function cleanValue(type: DnsRecordRef['type'], value: string): string {
  return type === 'CNAME' ? normalizeName(value) : value;
}

function stripPrefix(id: string): string {
  return id.replace(/^\/(hostedzone|change)\//, '');
}

const systemClock: Route53Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};
