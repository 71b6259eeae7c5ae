import { promises as dnsp } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { AppConfig, SwitchyardConfig } from '../config/config.schema';
import { desiredRecordState, healthCheckSpecFor } from '../dns/dns-plan';
import {
  DnsProviderError,
  type DnsChange,
  type DnsProvider,
  type DnsRecordRef,
  type DnsRecordSet,
  type RoutedRecordSet,
} from '../dns/dns.port';
import { recordName } from '../dns/dns-record-state';
import type { DnsTarget } from '../../workflows/dns-switch';

/**
 * Activities of the DNS switch (workflows/dns-switch.ts). Every write names the state it wants,
 * not a delta: a retried activity finds the state already there and submits nothing.
 */
export interface DnsActivityDeps {
  config: SwitchyardConfig;
  dns: ReadonlyMap<string, DnsProvider>;
  logger: Logger;
}

/** One of the app's records (its index in `apps.<app>.dns.records`) as the provider held it. */
export interface CapturedDnsRecord {
  index: number;
  provider: string;
  ref: DnsRecordRef;
  /** The simple record set, or null. */
  previous: DnsRecordSet | null;
  /** Weighted or failover record sets of the name and type. */
  routed: RoutedRecordSet[];
}

export interface AppliedDnsChange {
  index: number;
  provider: string;
  change: DnsChange;
}

export interface ResolverAnswer {
  resolver: string;
  name: string;
  addresses: string[];
}

const RESOLVER_POLL_MS = 250;
const HEALTH_POLL_MS = 500;
const HEALTH_REQUEST_TIMEOUT_MS = 3_000;

function appOf(config: SwitchyardConfig, app: string): AppConfig {
  const a = config.apps[app];
  if (!a) throw ApplicationFailure.nonRetryable(`unknown app "${app}"`, 'unknown-app');
  return a;
}

function providerOf(deps: DnsActivityDeps, name: string): DnsProvider {
  const provider = deps.dns.get(name);
  if (!provider) throw ApplicationFailure.nonRetryable(`unknown DNS provider "${name}"`, 'unknown-provider');
  return provider;
}

/** Provider refusals are final; everything else is left to the activity's retry policy. */
function classify(err: unknown): never {
  if (err instanceof DnsProviderError && !err.retryable) {
    throw ApplicationFailure.nonRetryable(err.message, 'dns-provider-refused');
  }
  throw err;
}

/** The app's records but those named in `skip` (removed: docs/soft-deletes.md), with their index. */
function records(app: AppConfig, skip: readonly string[] = []) {
  const skipped = new Set(skip.map(recordName));
  return app.dns.records
    .map((rec, index) => ({
      index,
      provider: rec.provider,
      ref: { zone: rec.zone, name: rec.name, type: rec.type } as DnsRecordRef,
    }))
    .filter((r) => !skipped.has(recordName(r.ref.name)));
}

export function createDnsActivities(deps: DnsActivityDeps) {
  const log = deps.logger;

  /** Health check ids of the target's regions on one provider (created or reused). */
  async function healthChecks(
    appName: string,
    app: AppConfig,
    provider: DnsProvider,
    regions: string[],
  ): Promise<Record<string, string>> {
    const settings = app.dns.failoverRouting?.healthCheck ?? {
      requestIntervalSeconds: 30 as const,
      failureThreshold: 3,
    };
    const ids: Record<string, string> = {};
    for (const name of regions) {
      const region = app.regions.find((r) => r.name === name);
      if (!region) throw ApplicationFailure.nonRetryable(`unknown region "${name}"`, 'unknown-region');
      ids[name] = await provider
        .ensureHealthCheck(healthCheckSpecFor(appName, region, settings))
        .catch(classify);
    }
    return ids;
  }

  return {
    async captureDnsState(input: { app: string; skip?: string[] }): Promise<CapturedDnsRecord[]> {
      const app = appOf(deps.config, input.app);
      return Promise.all(
        records(app, input.skip).map(async (r) => {
          const state = await providerOf(deps, r.provider).getState(r.ref).catch(classify);
          return { ...r, previous: state.simple, routed: state.routed };
        }),
      );
    },

    /** Every record of the app to `target`; only what differs is submitted. */
    async applyDnsTarget(input: {
      app: string;
      target: DnsTarget;
      skip?: string[];
    }): Promise<AppliedDnsChange[]> {
      const app = appOf(deps.config, input.app);
      const out: AppliedDnsChange[] = [];
      for (const r of records(app, input.skip)) {
        const provider = providerOf(deps, r.provider);
        const t = input.target;
        const ids =
          t.strategy === 'failover-routing'
            ? await healthChecks(input.app, app, provider, [t.primary.region, t.secondary.region])
            : {};
        const change = await provider.applyState(r.ref, desiredRecordState(t, ids)).catch(classify);
        log.info(
          {
            app: input.app,
            record: r.ref.name,
            provider: r.provider,
            strategy: t.strategy,
            changed: !!change,
          },
          'dns record written',
        );
        if (change) out.push({ index: r.index, provider: r.provider, change });
      }
      return out;
    },

    /** Compensation: every captured record back to exactly what it held (sets created since are deleted). */
    async restoreDnsState(input: { app: string; records: CapturedDnsRecord[] }): Promise<AppliedDnsChange[]> {
      appOf(deps.config, input.app);
      const out: AppliedDnsChange[] = [];
      for (const c of input.records) {
        const change = await providerOf(deps, c.provider)
          .applyState(c.ref, { simple: c.previous, routed: c.routed })
          .catch(classify);
        log.info(
          { app: input.app, record: c.ref.name, provider: c.provider, changed: !!change },
          'dns record restored',
        );
        if (change) out.push({ index: c.index, provider: c.provider, change });
      }
      return out;
    },

    async waitDnsChangesInSync(input: { app: string; changes: AppliedDnsChange[] }): Promise<void> {
      const ctx = Context.current();
      for (const c of input.changes) {
        const cfg = deps.config.dnsProviders[c.provider];
        if (!cfg)
          throw ApplicationFailure.nonRetryable(`unknown DNS provider "${c.provider}"`, 'unknown-provider');
        await providerOf(deps, c.provider)
          .waitForSync(c.change, {
            timeoutMs: cfg.syncTimeoutSeconds * 1000,
            onPoll: (status) => ctx.heartbeat({ change: c.change.id, status }),
            signal: ctx.cancellationSignal,
          })
          .catch(classify);
      }
    },

    /**
     * The app's verify URL requested from `address` (the target region, whatever DNS answers now),
     * until it answers 2xx or `timeoutSeconds` pass. Returns the verdict; never throws for an
     * unhealthy target, so the workflow decides (and rolls back).
     */
    async checkDnsTargetHealth(input: {
      app: string;
      address: string;
      timeoutSeconds: number;
    }): Promise<{ healthy: boolean; detail: string }> {
      const app = appOf(deps.config, input.app);
      const ctx = Context.current();
      const deadline = Date.now() + input.timeoutSeconds * 1000;
      for (;;) {
        const result = await requestVia(app.verify.url, input.address, HEALTH_REQUEST_TIMEOUT_MS);
        ctx.heartbeat(result);
        if (result.healthy || Date.now() >= deadline) return result;
        await ctx.sleep(HEALTH_POLL_MS);
      }
    },

    /**
     * Asks every resolver for every record name until each answers exactly `expected`. After
     * `timeoutSeconds`, fails (not retried) naming the resolver, the name and what it answered.
     */
    async checkDnsResolvers(input: {
      app: string;
      expected: string;
      resolvers: string[];
      timeoutSeconds: number;
      skip?: string[];
    }): Promise<ResolverAnswer[]> {
      const app = appOf(deps.config, input.app);
      const ctx = Context.current();
      const names = [...new Set(records(app, input.skip).map((r) => r.ref.name))];
      const started = Date.now();
      const deadline = started + input.timeoutSeconds * 1000;
      for (;;) {
        const answers = await Promise.all(
          input.resolvers.flatMap((resolver) => names.map((name) => ask(resolver, name))),
        );
        const wrong = answers.find((a) => a.error || a.addresses.join(',') !== input.expected);
        ctx.heartbeat({ wrong });
        if (!wrong) return answers.map(({ resolver, name, addresses }) => ({ resolver, name, addresses }));
        if (Date.now() >= deadline) {
          const answered = wrong.error ?? `[${wrong.addresses.join(', ')}]`;
          throw ApplicationFailure.nonRetryable(
            `resolver ${wrong.resolver} answered ${answered} for ${wrong.name} after ${Math.round((Date.now() - started) / 1000)}s, expected [${input.expected}]`,
            'dns-resolver-stale',
          );
        }
        await ctx.sleep(RESOLVER_POLL_MS);
      }
    },
  };
}

async function ask(resolver: string, name: string): Promise<ResolverAnswer & { error?: string }> {
  const r = new dnsp.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([resolver]);
  try {
    return { resolver, name, addresses: (await r.resolve4(name)).sort() };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { resolver, name, addresses: [], error: e.code ?? e.message ?? String(err) };
  }
}

/** GET `url` from `address` (its host name kept for the Host header and TLS). */
export function requestVia(
  url: string,
  address: string,
  timeoutMs: number,
): Promise<{ healthy: boolean; detail: string }> {
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) {
      (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
        { address, family: 4 },
      ]);
    } else cb(null, address, 4);
  };
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    const req = client.get(url, { lookup, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const healthy = status >= 200 && status < 300;
        resolve({ healthy, detail: `${url} via ${address}: HTTP ${status}` });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ healthy: false, detail: `${url} via ${address}: ${err.message}` }));
  });
}

export type DnsActivities = ReturnType<typeof createDnsActivities>;
