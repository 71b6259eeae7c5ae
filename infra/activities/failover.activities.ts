import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { AppConfig, SwitchyardConfig } from '../config/config.schema';
import {
  DnsProviderError,
  type DnsChange,
  type DnsProvider,
  type DnsRecordRef,
  type DnsRecordSet,
} from '../dns/dns.port';
import { checkEndpoint, type EndpointCheck } from '../health/endpoint-verifier';
import { probeHttp, type ProbeResult } from '../health/http-probe';
import { postSignedWebhook } from '../notify/webhook.notifier';
import type {
  ControlState,
  ControlStateStore,
  RegionReadResult,
  StoredControlState,
} from '../storage/control-state.store';

/**
 * Activities of the failover workflow. They are the only place the workflow touches the world;
 * each is idempotent, so Temporal may retry it after a crash without applying a change twice.
 * Secrets (provider keys) come from the worker's configuration, never from workflow history.
 */
export interface ActivityDeps {
  config: SwitchyardConfig;
  dns: ReadonlyMap<string, DnsProvider>;
  controlState: ControlStateStore;
  logger: Logger;
}

/** One of the app's DNS records (by its index in `apps.<app>.dns.records`) and the value it held. */
export interface CapturedRecord {
  index: number;
  provider: string;
  ref: DnsRecordRef;
  previous: DnsRecordSet | null;
}

export interface DnsWrite {
  index: number;
  set: DnsRecordSet;
}

export interface AppliedChange {
  index: number;
  provider: string;
  change: DnsChange;
}

function appOf(config: SwitchyardConfig, app: string): AppConfig {
  const a = config.apps[app];
  if (!a) throw ApplicationFailure.nonRetryable(`unknown app "${app}"`, 'unknown-app');
  return a;
}

function recordOf(deps: ActivityDeps, app: string, index: number) {
  const rec = appOf(deps.config, app).dns.records[index];
  if (!rec)
    throw ApplicationFailure.nonRetryable(`app "${app}" has no DNS record #${index}`, 'unknown-record');
  const provider = deps.dns.get(rec.provider);
  if (!provider)
    throw ApplicationFailure.nonRetryable(`unknown DNS provider "${rec.provider}"`, 'unknown-provider');
  const ref: DnsRecordRef = { zone: rec.zone, name: rec.name, type: rec.type };
  return { rec, provider, ref };
}

/** Provider refusals are final; everything else is left to the activity's retry policy. */
function classify(err: unknown): never {
  if (err instanceof DnsProviderError && !err.retryable) {
    throw ApplicationFailure.nonRetryable(err.message, 'dns-provider-refused');
  }
  throw err;
}

export function createCoordinatorActivities(deps: ActivityDeps) {
  return {
    async readControlState(input: { app: string }): Promise<ControlState> {
      appOf(deps.config, input.app);
      return (await deps.controlState.read(input.app)).state;
    },

    async captureDnsRecords(input: { app: string }): Promise<CapturedRecord[]> {
      const app = appOf(deps.config, input.app);
      return Promise.all(
        app.dns.records.map(async (_r, index) => {
          const { rec, provider, ref } = recordOf(deps, input.app, index);
          const previous = await provider.get(ref).catch(classify);
          return { index, provider: rec.provider, ref, previous };
        }),
      );
    },

    async applyDnsRecords(input: { app: string; writes: DnsWrite[] }): Promise<AppliedChange[]> {
      const out: AppliedChange[] = [];
      for (const w of input.writes) {
        const { rec, provider, ref } = recordOf(deps, input.app, w.index);
        const change = await provider.upsert(ref, w.set).catch(classify);
        deps.logger.info(
          { app: input.app, record: ref.name, provider: rec.provider, values: w.set.values },
          'dns record upserted',
        );
        out.push({ index: w.index, provider: rec.provider, change });
      }
      return out;
    },

    async waitDnsInSync(input: { app: string; changes: AppliedChange[] }): Promise<void> {
      const ctx = Context.current();
      for (const c of input.changes) {
        const provider = deps.dns.get(c.provider);
        if (!provider)
          throw ApplicationFailure.nonRetryable(`unknown DNS provider "${c.provider}"`, 'unknown-provider');
        const cfg = deps.config.dnsProviders[c.provider]!;
        await provider
          .waitForSync(c.change, {
            timeoutMs: cfg.syncTimeoutSeconds * 1000,
            onPoll: (status) => ctx.heartbeat({ change: c.change.id, status }),
            signal: ctx.cancellationSignal,
          })
          .catch(classify);
      }
    },

    /** Throws (and is retried) until the public name resolves to the target and answers healthy. */
    async verifyEndpoint(input: { app: string; expectedAddress: string }): Promise<EndpointCheck> {
      const app = appOf(deps.config, input.app);
      const check = await checkEndpoint(app.verify.url, app.verify.resolvers, 5_000);
      if (!check.resolvedAddresses.includes(input.expectedAddress) || check.resolvedAddresses.length !== 1) {
        throw new Error(
          `${new URL(app.verify.url).hostname} resolves to [${check.resolvedAddresses.join(', ')}], expected ${input.expectedAddress}`,
        );
      }
      if (!check.healthy) throw new Error(`${app.verify.url} via ${input.expectedAddress}: ${check.reason}`);
      return check;
    },

    /** Records the new active region and epoch in every region's bucket; the target region's copy is required. */
    async commitControlState(input: { state: StoredControlState }): Promise<RegionReadResult[]> {
      const results = await deps.controlState.write(input.state.app, input.state);
      const target = results.find((r) => r.region === input.state.activeRegion);
      if (!target?.ok) {
        throw new Error(
          `could not record the control state in region ${input.state.activeRegion}: ${target?.error ?? 'no such region'}`,
        );
      }
      return results;
    },
  };
}

export function createRegionActivities(deps: ActivityDeps) {
  return {
    async probeRegionHealth(input: { app: string; region: string }): Promise<ProbeResult> {
      const app = appOf(deps.config, input.app);
      const region = app.regions.find((r) => r.name === input.region);
      if (!region)
        throw ApplicationFailure.nonRetryable(`unknown region "${input.region}"`, 'unknown-region');
      return probeHttp(region.healthUrl, app.policies.healthTimeoutSeconds * 1000);
    },

    /**
     * Calls the region's fence (or unfence) hook with the epoch: its instances refuse (or accept
     * again) writes at once. Runs on the region's own task queue. A region without the hook is
     * reported as such; a 4xx is a refusal (not retried), anything else is retried. With the
     * region's `hookSecret` the call is signed like a webhook (docs/fencing.md#signed-hooks), so
     * the app can refuse anyone else's unfence.
     */
    async callFenceHook(input: {
      app: string;
      region: string;
      action: 'fence' | 'unfence';
      epoch: number;
      operationId: string;
    }): Promise<{ called: boolean; detail: string }> {
      const app = appOf(deps.config, input.app);
      const region = app.regions.find((r) => r.name === input.region);
      if (!region)
        throw ApplicationFailure.nonRetryable(`unknown region "${input.region}"`, 'unknown-region');
      const url = input.action === 'fence' ? region.fenceUrl : region.unfenceUrl;
      if (!url) {
        return { called: false, detail: `region ${input.region} has no ${input.action}Url` };
      }
      const sent = await callRegionHook(url, region.hookSecret, {
        ...input,
        event: `region.${input.action}`,
        body: JSON.stringify({ epoch: input.epoch, operationId: input.operationId }),
      });
      if ('noAnswer' in sent) {
        throw new Error(`${input.action} hook of region ${input.region}: ${sent.noAnswer}`);
      }
      const { res } = sent;
      const text = sent.text.slice(0, 300);
      if (res.status >= 400 && res.status < 500) {
        throw ApplicationFailure.nonRetryable(
          `${input.action} hook of region ${input.region} refused: HTTP ${res.status} ${text}`,
          'fence-hook-refused',
        );
      }
      if (!res.ok)
        throw new Error(`${input.action} hook of region ${input.region}: HTTP ${res.status} ${text}`);
      deps.logger.info(
        { app: input.app, region: input.region, epoch: input.epoch },
        `${input.action} hook called`,
      );
      return { called: true, detail: `${input.action} hook answered ${res.status} (epoch ${input.epoch})` };
    },
  };
}

export type CoordinatorActivities = ReturnType<typeof createCoordinatorActivities>;
export type RegionActivities = ReturnType<typeof createRegionActivities>;

const HOOK_TIMEOUT_SECONDS = 5;

/**
 * One POST of a region hook: signed with the region's `hookSecret` (the webhook scheme of
 * infra/notify/webhook.notifier.ts: HMAC-SHA256 of `<timestamp>.<body>`) when it has one, plain
 * otherwise. Never rejects for a request that failed: resolves with why there was no answer.
 */
async function callRegionHook(
  url: string,
  secret: string | undefined,
  call: { operationId: string; region: string; epoch: number; event: string; body: string },
): Promise<{ res: Response; text: string } | { noAnswer: string }> {
  if (secret) {
    return postSignedWebhook(fetch, {
      url,
      timeoutSeconds: HOOK_TIMEOUT_SECONDS,
      secret,
      userAgent: 'switchyard-region-hook',
      event: call.event,
      deliveryId: `${call.operationId}:${call.region}:${call.event}:${call.epoch}`,
      timestamp: Math.floor(Date.now() / 1000),
      body: call.body,
    });
  }
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: call.body,
      signal: AbortSignal.timeout(HOOK_TIMEOUT_SECONDS * 1000),
    });
    return { res, text: await res.text() };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    return {
      noAnswer:
        e.name === 'TimeoutError'
          ? `no answer within ${HOOK_TIMEOUT_SECONDS} s`
          : (e.cause?.code ?? String(err)),
    };
  }
}
