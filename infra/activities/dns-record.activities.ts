import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { AppConfig, SwitchyardConfig } from '../config/config.schema';
import { buildDnsSwitchPlan, desiredRecordState, healthCheckSpecFor } from '../dns/dns-plan';
import { DnsProviderError, type DnsProvider, type DnsRecordRef } from '../dns/dns.port';
import {
  changedDetails,
  changedMessage,
  type DnsRecordMismatch,
  type DnsRecordSnapshot,
  planConditionalWrite,
  recordName,
} from '../dns/dns-record-state';
import { dnsTargets } from '../../workflows/dns-switch';

/**
 * Activities of the soft DNS changes (docs/soft-deletes.md, DNS records): read one record of an
 * app exactly as its providers hold it, and write it conditionally — only where it still holds
 * what Switchyard left there, so a record someone changed since is never overwritten.
 */
export interface DnsRecordActivityDeps {
  config: SwitchyardConfig;
  dns: ReadonlyMap<string, DnsProvider>;
  logger: Logger;
}

/** Codes of the refusals these activities raise (non-retryable). */
export const DNS_RECORD_REFUSALS = {
  notFound: 'dns-record-not-found',
  changed: 'dns-record-changed',
} as const;

function appOf(config: SwitchyardConfig, app: string): AppConfig {
  const a = config.apps[app];
  if (!a) throw ApplicationFailure.nonRetryable(`unknown app "${app}"`, 'unknown-app');
  return a;
}

/** The entries of `apps.<app>.dns.records` with that name (one per provider). */
export function recordEntries(app: AppConfig, appName: string, name: string) {
  const wanted = recordName(name);
  const entries = app.dns.records
    .filter((r) => recordName(r.name) === wanted)
    .map((r) => ({
      provider: r.provider,
      ref: { zone: r.zone, name: r.name, type: r.type } as DnsRecordRef,
    }));
  if (entries.length === 0) {
    const known = [...new Set(app.dns.records.map((r) => recordName(r.name)))].join(', ');
    throw ApplicationFailure.create({
      type: DNS_RECORD_REFUSALS.notFound,
      nonRetryable: true,
      message: `app "${appName}" has no DNS record "${wanted}" (records: ${known})`,
    });
  }
  return entries;
}

/** Provider refusals are final; everything else is left to the activity's retry policy. */
function classify(err: unknown): never {
  if (err instanceof DnsProviderError && !err.retryable) {
    throw ApplicationFailure.nonRetryable(err.message, 'dns-provider-refused');
  }
  throw err;
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Called outside an activity (a unit test): nothing to heartbeat.
  }
}

export function createDnsRecordActivities(deps: DnsRecordActivityDeps) {
  const log = deps.logger;
  const providerOf = (name: string): DnsProvider => {
    const p = deps.dns.get(name);
    if (!p) throw ApplicationFailure.nonRetryable(`unknown DNS provider "${name}"`, 'unknown-provider');
    return p;
  };

  async function read(input: { app: string; name: string }): Promise<DnsRecordSnapshot[]> {
    const app = appOf(deps.config, input.app);
    const out: DnsRecordSnapshot[] = [];
    for (const e of recordEntries(app, input.app, input.name)) {
      out.push({ ...e, state: await providerOf(e.provider).getState(e.ref).catch(classify) });
    }
    return out;
  }

  return {
    /** Every record set of the record's name and type on each of its providers, exactly. */
    readDnsRecord: read,

    /**
     * Whether the record may go from `from` to `to` (each entry holds one of them): the
     * mismatches, none when it may. Changes nothing.
     */
    async checkDnsRecord(input: {
      app: string;
      name: string;
      from: DnsRecordSnapshot[];
      to: DnsRecordSnapshot[];
    }): Promise<DnsRecordMismatch[]> {
      return planConditionalWrite(await read(input), input.from, input.to).mismatches;
    },

    /**
     * Writes `to` where the record still holds `from` (already at `to`: nothing to do). When any
     * entry holds something else, nothing is written: non-retryable `dns-record-changed`, its
     * details (DnsRecordChangedDetails) show both values. Waits until the changes are in sync.
     * `since` words what `from` is in the message: `left`, `set`.
     */
    async writeDnsRecord(input: {
      app: string;
      name: string;
      from: DnsRecordSnapshot[];
      to: DnsRecordSnapshot[];
      since: string;
    }): Promise<{ written: string[]; unchanged: string[] }> {
      const plan = planConditionalWrite(await read(input), input.from, input.to);
      if (plan.mismatches.length > 0) {
        throw ApplicationFailure.create({
          type: DNS_RECORD_REFUSALS.changed,
          nonRetryable: true,
          message: changedMessage(input.name, plan.mismatches, input.since),
          details: [changedDetails(input.name, plan.mismatches)],
        });
      }
      const written: string[] = [];
      for (const w of plan.writes) {
        const provider = providerOf(w.provider);
        const change = await provider.applyState(w.ref, w.state).catch(classify);
        if (change) {
          const timeoutMs = (deps.config.dnsProviders[w.provider]?.syncTimeoutSeconds ?? 300) * 1000;
          await provider
            .waitForSync(change, { timeoutMs, onPoll: (status) => heartbeat({ change: change.id, status }) })
            .catch(classify);
        }
        written.push(w.provider);
        log.info(
          { app: input.app, record: w.ref.name, provider: w.provider },
          'dns record written (soft change)',
        );
      }
      const unchanged = input.to.map((t) => t.provider).filter((p) => !written.includes(p));
      return { written, unchanged };
    },

    /**
     * The record as a failover from `from` to `to` leaves it, with the app's strategy (the last
     * target of the switch; failover routing creates or reuses the regions' health checks).
     */
    async dnsRecordAsFailoverWrites(input: {
      app: string;
      name: string;
      from: string;
      to: string;
    }): Promise<DnsRecordSnapshot[]> {
      const app = appOf(deps.config, input.app);
      const targets = dnsTargets(buildDnsSwitchPlan(app, input.from, input.to));
      const target = targets[targets.length - 1]!;
      const out: DnsRecordSnapshot[] = [];
      for (const e of recordEntries(app, input.app, input.name)) {
        const ids: Record<string, string> = {};
        if (target.strategy === 'failover-routing') {
          const settings = app.dns.failoverRouting?.healthCheck ?? {
            requestIntervalSeconds: 30 as const,
            failureThreshold: 3,
          };
          for (const region of [target.primary.region, target.secondary.region]) {
            const r = app.regions.find((x) => x.name === region)!;
            ids[region] = await providerOf(e.provider)
              .ensureHealthCheck(healthCheckSpecFor(input.app, r, settings))
              .catch(classify);
          }
        }
        out.push({ ...e, state: desiredRecordState(target, ids) });
      }
      return out;
    },
  };
}

export type DnsRecordActivities = ReturnType<typeof createDnsRecordActivities>;
