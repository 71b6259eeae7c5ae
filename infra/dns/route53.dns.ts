import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ChangeInfo,
  type HostedZone,
  type Route53ClientConfig,
  type RRType,
} from '@aws-sdk/client-route-53';
import { type Route53ProviderConfig } from '../config/config.schema';
import {
  DnsProviderError,
  DnsSyncTimeoutError,
  normalizeRecordSet,
  type DnsChange,
  type DnsProvider,
  type DnsRecordRef,
  type DnsRecordSet,
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
