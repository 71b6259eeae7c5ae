import { createHash } from 'node:crypto';
import type { AppConfig, RegionConfig } from '../config/config.schema';
import type { DnsSwitchPlan, DnsTarget } from '../../workflows/dns-switch';
import type { DnsRecordState, HealthCheckSpec } from './dns.port';
import {
  DEFAULT_STEP_HEALTH_TIMEOUT_SECONDS,
  DEFAULT_STEP_WAIT_SECONDS,
  DEFAULT_WEIGHTED_STEPS,
  type HealthCheckSettings,
} from './dns-settings';

/**
 * From configuration to what a DNS switch does (docs/dns-strategies.md). Built by the API when an
 * operation starts and kept in its workflow history, so the workflow never reads configuration.
 */
export function buildDnsSwitchPlan(app: AppConfig, from: string, to: string): DnsSwitchPlan {
  const fromRegion = regionOf(app, from);
  const targetRegion = regionOf(app, to);
  const { dns } = app;
  const weighted = dns.strategy === 'weighted';
  return {
    strategy: dns.strategy,
    ttl: dns.ttl,
    waitForTtl: dns.waitForTtl,
    targetAddress: targetRegion.dns.target,
    fromAddress: fromRegion.dns.target,
    weightedSteps: weighted ? (dns.weighted?.steps ?? DEFAULT_WEIGHTED_STEPS) : [100],
    stepWaitSeconds: weighted ? (dns.weighted?.stepWaitSeconds ?? DEFAULT_STEP_WAIT_SECONDS) : 0,
    stepHealthTimeoutSeconds: dns.weighted?.healthTimeoutSeconds ?? DEFAULT_STEP_HEALTH_TIMEOUT_SECONDS,
    resolvers: dns.resolvers ?? app.verify.resolvers,
    fromRegion: fromRegion.name,
    targetRegion: targetRegion.name,
    resolverTimeoutSeconds: dns.resolverTimeoutSeconds,
  };
}

function regionOf(app: AppConfig, name: string): RegionConfig {
  const region = app.regions.find((r) => r.name === name);
  if (!region) {
    throw new Error(`no region "${name}" (regions: ${app.regions.map((r) => r.name).join(', ')})`);
  }
  return region;
}

/**
 * What one provider must hold under a record's name and type for `target`. Routed sets are named
 * after their region (SetIdentifier); failover sets carry the region's health check id.
 */
export function desiredRecordState(
  target: DnsTarget,
  healthCheckIds: Readonly<Record<string, string>> = {},
): DnsRecordState {
  switch (target.strategy) {
    case 'simple':
      return { simple: { ttl: target.ttl, values: [target.address] }, routed: [] };
    case 'weighted':
      return {
        simple: null,
        routed: target.weights.map((w) => ({
          setIdentifier: w.region,
          ttl: target.ttl,
          values: [w.address],
          weight: w.weight,
        })),
      };
    case 'failover-routing':
      return {
        simple: null,
        routed: (['primary', 'secondary'] as const).map((role) => {
          const r = target[role];
          const healthCheckId = healthCheckIds[r.region];
          if (!healthCheckId) throw new Error(`no health check id for region "${r.region}"`);
          return {
            setIdentifier: r.region,
            ttl: target.ttl,
            values: [r.address],
            failover: role === 'primary' ? ('PRIMARY' as const) : ('SECONDARY' as const),
            healthCheckId,
          };
        }),
      };
  }
}

/**
 * The Route 53 health check of a region: the settings of `failoverRouting.healthCheck`, the rest
 * taken from the region's healthUrl. Its reference names app and region and hashes the whole
 * configuration, so a changed configuration gets a new check and an unchanged one is reused.
 */
export function healthCheckSpecFor(
  app: string,
  region: RegionConfig,
  settings: HealthCheckSettings,
): HealthCheckSpec {
  const url = new URL(region.healthUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const type = settings.type ?? (url.protocol === 'https:' ? 'HTTPS' : 'HTTP');
  const port = settings.port ?? (url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80);
  const isIp = /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
  const spec: Omit<HealthCheckSpec, 'reference'> = {
    type,
    ...(isIp ? { ipAddress: host } : { fqdn: host }),
    port,
    ...(type !== 'TCP' ? { resourcePath: settings.path ?? `${url.pathname}${url.search}` } : {}),
    requestIntervalSeconds: settings.requestIntervalSeconds,
    failureThreshold: settings.failureThreshold,
  };
  const hash = createHash('sha256')
    .update(JSON.stringify({ app, region: region.name, ...spec }))
    .digest('hex');
  return { reference: `sy-${app.slice(0, 12)}-${region.name.slice(0, 12)}-${hash.slice(0, 32)}`, ...spec };
}
