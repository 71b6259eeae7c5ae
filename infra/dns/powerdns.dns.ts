import { randomUUID } from 'node:crypto';
import { type PowerDnsProviderConfig } from '../config/config.schema';
import {
  DnsProviderError,
  normalizeRecordSet,
  normalizeRecordState,
  sameRecordState,
  type DnsChange,
  type DnsProvider,
  type DnsRecordRef,
  type DnsRecordSet,
  type DnsRecordState,
  type HealthCheckSpec,
  type RoutedRecordSet,
  type WaitForSyncOptions,
} from './dns.port';

export interface PowerDnsProviderDeps {
  fetch?: typeof fetch;
  /** Upper bound on one HTTP request. */
  requestTimeoutMs?: number;
  now?: () => number;
}

interface PdnsRecord {
  content: string;
  disabled?: boolean;
}

interface PdnsRrset {
  name: string;
  type: string;
  ttl: number;
  records: PdnsRecord[];
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/**
 * PowerDNS Authoritative through its HTTP API. A PATCH is applied to the backend before the API
 * answers, so every change is in sync at once (for this server; secondaries fed by AXFR are not seen).
 */
export class PowerDnsProvider implements DnsProvider {
  readonly type = 'powerdns' as const;
  private readonly serverUrl: string;
  private readonly apiKey: string;
  private readonly fetch: typeof fetch;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;

  constructor(
    readonly name: string,
    config: PowerDnsProviderConfig,
    deps: PowerDnsProviderDeps = {},
  ) {
    // Accept the API root with or without its /api/v1 suffix.
    const root = config.apiUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
    this.serverUrl = `${root}/api/v1/servers/${encodeURIComponent(config.serverId)}`;
    this.apiKey = config.apiKey;
    this.fetch = deps.fetch ?? fetch;
    this.requestTimeoutMs = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.now = deps.now ?? Date.now;
  }

  async get(ref: DnsRecordRef): Promise<DnsRecordSet | null> {
    this.checkInZone(ref);
    const name = canonical(ref.name);
    // rrset_name/rrset_type narrow the answer on PowerDNS >= 4.8; older servers send the whole zone.
    const query = new URLSearchParams({ rrset_name: name, rrset_type: ref.type });
    const res = await this.request(
      'GET',
      `${zonePath(ref.zone)}?${query.toString()}`,
      ref,
      `read ${describe(ref)}`,
    );
    const zone = (await this.readJson(res, ref, `read ${describe(ref)}`)) as { rrsets?: PdnsRrset[] };
    const rrset = (zone.rrsets ?? []).find((r) => canonical(r.name) === name && r.type === ref.type);
    const enabled = (rrset?.records ?? []).filter((r) => !r.disabled);
    if (!rrset || enabled.length === 0) return null;
    return normalizeRecordSet({
      ttl: rrset.ttl,
      values: enabled.map((r) => fromContent(ref.type, r.content)),
    });
  }

  async upsert(ref: DnsRecordRef, set: DnsRecordSet): Promise<DnsChange> {
    this.checkInZone(ref);
    if (set.values.length === 0) {
      throw this.error(`cannot upsert ${describe(ref)} with no values`, false);
    }
    const normalized = normalizeRecordSet(set);
    const body = {
      rrsets: [
        {
          name: canonical(ref.name),
          type: ref.type,
          ttl: normalized.ttl,
          changetype: 'REPLACE',
          records: normalized.values.map((v) => ({ content: toContent(ref.type, v), disabled: false })),
        },
      ],
    };
    const res = await this.request('PATCH', zonePath(ref.zone), ref, `upsert ${describe(ref)}`, body);
    await res.arrayBuffer(); // 204: nothing to read, but release the connection
    return { id: `pdns-${randomUUID()}`, status: 'INSYNC', submittedAt: new Date(this.now()).toISOString() };
  }

  /**
   * The simple set and, for A records, the weighted sets Switchyard keeps in one LUA record
   * (`pickwrandom`, docs/dns-strategies.md). A LUA record of another form is refused.
   */
  async getState(ref: DnsRecordRef): Promise<DnsRecordState> {
    this.checkInZone(ref);
    const name = canonical(ref.name);
    const query = new URLSearchParams({ rrset_name: name });
    const res = await this.request(
      'GET',
      `${zonePath(ref.zone)}?${query.toString()}`,
      ref,
      `read ${describe(ref)}`,
    );
    const zone = (await this.readJson(res, ref, `read ${describe(ref)}`)) as { rrsets?: PdnsRrset[] };
    const rrsets = (zone.rrsets ?? []).filter((r) => canonical(r.name) === name);
    const enabled = (type: string) => {
      const rrset = rrsets.find((r) => r.type === type);
      const records = (rrset?.records ?? []).filter((r) => !r.disabled);
      return rrset && records.length > 0 ? { ttl: rrset.ttl, records } : null;
    };
    const a = enabled(ref.type);
    const simple = a
      ? normalizeRecordSet({ ttl: a.ttl, values: a.records.map((r) => fromContent(ref.type, r.content)) })
      : null;
    const lua = ref.type === 'A' ? enabled('LUA') : null;
    const routed = lua ? lua.records.flatMap((r) => this.parseWeighted(ref, lua.ttl, r.content)) : [];
    return normalizeRecordState({ simple, routed });
  }

  /**
   * Weighted sets become one LUA record, `A "pickwrandom({{<weight>,'<address>' --[[<id>]]},...})"`,
   * answered by a weighted random pick per query (the server needs `enable-lua-records`); a simple
   * set is a plain record. One PATCH changes both rrsets, and nothing is sent when they already match.
   */
  async applyState(ref: DnsRecordRef, desired: DnsRecordState): Promise<DnsChange | null> {
    this.checkInZone(ref);
    const want = normalizeRecordState(desired);
    for (const r of want.routed) {
      if (r.failover !== undefined || r.weight === undefined) {
        throw this.error(`${describe(ref)}: failover record sets need Route 53`, false);
      }
      if (ref.type !== 'A' || r.values.length !== 1 || !/^[A-Za-z0-9._-]+$/.test(r.setIdentifier)) {
        throw this.error(
          `${describe(ref)}: weighted sets on PowerDNS need type A, one address and an identifier of letters, digits, '.', '_' or '-' (set ${r.setIdentifier})`,
          false,
        );
      }
    }
    if (want.simple && want.routed.length > 0) {
      throw this.error(`${describe(ref)}: a simple record set and weighted sets cannot share a name`, false);
    }
    const current = await this.getState(ref);
    if (sameRecordState(current, want)) return null;
    const name = canonical(ref.name);
    const rrsets: Record<string, unknown>[] = [];
    if (want.simple) {
      if (
        !current.simple ||
        !sameRecordState({ simple: current.simple, routed: [] }, { simple: want.simple, routed: [] })
      ) {
        rrsets.push({
          name,
          type: ref.type,
          ttl: want.simple.ttl,
          changetype: 'REPLACE',
          records: want.simple.values.map((v) => ({ content: toContent(ref.type, v), disabled: false })),
        });
      }
    } else if (current.simple) {
      rrsets.push({ name, type: ref.type, changetype: 'DELETE' });
    }
    if (want.routed.length > 0) {
      if (!sameRecordState({ simple: null, routed: current.routed }, { simple: null, routed: want.routed })) {
        rrsets.push({
          name,
          type: 'LUA',
          ttl: Math.min(...want.routed.map((r) => r.ttl)),
          changetype: 'REPLACE',
          records: [{ content: weightedLua(want.routed), disabled: false }],
        });
      }
    } else if (current.routed.length > 0) {
      rrsets.push({ name, type: 'LUA', changetype: 'DELETE' });
    }
    const res = await this.request('PATCH', zonePath(ref.zone), ref, `write ${describe(ref)}`, { rrsets });
    await res.arrayBuffer();
    return { id: `pdns-${randomUUID()}`, status: 'INSYNC', submittedAt: new Date(this.now()).toISOString() };
  }

  private parseWeighted(ref: DnsRecordRef, ttl: number, content: string): RoutedRecordSet[] {
    const sets = parseWeightedLua(content, ttl);
    if (!sets) {
      throw this.error(
        `${describe(ref)} has a LUA record Switchyard did not write (${content.slice(0, 80)}); Switchyard manages only its own pickwrandom records`,
        false,
      );
    }
    return sets;
  }

  async ensureHealthCheck(spec: HealthCheckSpec): Promise<string> {
    throw this.error(`health check ${spec.reference}: PowerDNS has no health checks (use Route 53)`, false);
  }

  async waitForSync(change: DnsChange, _options: WaitForSyncOptions): Promise<void> {
    if (change.status === 'INSYNC') return;
    throw this.error(`change ${change.id} is pending, but PowerDNS changes are applied at once`, false);
  }

  private async request(
    method: 'GET' | 'PATCH',
    path: string,
    ref: DnsRecordRef,
    what: string,
    body?: unknown,
  ): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetch(`${this.serverUrl}${path}`, {
        method,
        headers: {
          'X-API-Key': this.apiKey,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (err) {
      const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      const reason =
        e.name === 'TimeoutError'
          ? `no answer within ${this.requestTimeoutMs} ms`
          : (e.cause?.code ?? e.cause?.message ?? e.message ?? String(err));
      throw this.error(`${what} failed: ${reason}`, true);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    const pdnsError = errorText(text);
    if (res.status === 404) {
      throw this.error(`${what} failed: zone ${canonical(ref.zone)} not found (HTTP 404)`, false);
    }
    if (res.status === 401 || res.status === 403) {
      throw this.error(`${what} failed: the API key was refused (HTTP ${res.status})`, false);
    }
    const retryable = res.status >= 500 || res.status === 429;
    throw this.error(`${what} failed: HTTP ${res.status}${pdnsError ? `: ${pdnsError}` : ''}`, retryable);
  }

  private async readJson(res: Response, ref: DnsRecordRef, what: string): Promise<unknown> {
    try {
      return await res.json();
    } catch {
      throw this.error(`${what} failed: the answer for zone ${canonical(ref.zone)} was not JSON`, true);
    }
  }

  private checkInZone(ref: DnsRecordRef): void {
    const name = canonical(ref.name);
    const zone = canonical(ref.zone);
    if (name !== zone && !name.endsWith(`.${zone}`)) {
      throw this.error(`${describe(ref)}: the name is not inside the zone`, false);
    }
  }

  private error(message: string, retryable: boolean): DnsProviderError {
    const text = `PowerDNS provider "${this.name}": ${message}`.split(this.apiKey).join('***');
    return new DnsProviderError(text, this.name, retryable);
  }
}

/** PowerDNS names are canonical: lower case with a trailing dot. */
function canonical(name: string): string {
  return `${name.replace(/\.$/, '').toLowerCase()}.`;
}

function zonePath(zone: string): string {
  return `/zones/${encodeURIComponent(canonical(zone))}`;
}

function describe(ref: DnsRecordRef): string {
  return `${ref.type} ${ref.name.replace(/\.$/, '')} in zone ${ref.zone.replace(/\.$/, '')}`;
}

/** CNAME targets are absolute names in PowerDNS content; the port's values carry no trailing dot. */
function toContent(type: DnsRecordRef['type'], value: string): string {
  return type === 'CNAME' ? canonical(value) : value;
}

function fromContent(type: DnsRecordRef['type'], content: string): string {
  return type === 'CNAME' ? content.replace(/\.$/, '').toLowerCase() : content;
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: fall through to the raw text
  }
  return body.trim().slice(0, 300);
}

/** `A "pickwrandom({{10,'10.0.0.2' --[[west]]},{90,'10.0.0.1' --[[east]]}})"`: weights, addresses, identifiers. */
export function weightedLua(sets: RoutedRecordSet[]): string {
  const entries = sets.map((s) => `{${s.weight},'${s.values[0]}' --[[${s.setIdentifier}]]}`);
  return `A "pickwrandom({${entries.join(',')}})"`;
}

/** The sets of a LUA record written by `weightedLua`, or null for any other LUA record. */
export function parseWeightedLua(content: string, ttl: number): RoutedRecordSet[] | null {
  const whole = /^A "pickwrandom\(\{(.*)\}\)"$/.exec(content.trim());
  if (!whole) return null;
  const entry = /\{(\d+),'([0-9.]+)' --\[\[([A-Za-z0-9._-]+)\]\]\}/y;
  const sets: RoutedRecordSet[] = [];
  const body = whole[1]!;
  let at = 0;
  while (at < body.length) {
    entry.lastIndex = at;
    const m = entry.exec(body);
    if (!m) return null;
    sets.push({ setIdentifier: m[3]!, ttl, values: [m[2]!], weight: Number(m[1]) });
    at = entry.lastIndex;
    if (at < body.length) {
      if (body[at] !== ',') return null;
      at++;
    }
  }
  return sets.length > 0 ? sets : null;
}
