import { z } from 'zod';

/**
 * The DNS strategy settings of `apps.<app>.dns` (docs/dns-strategies.md): how a failover moves the
 * app's records. Spread into the app's `dns` object by config.schema.ts; `checkDnsStrategy` runs in
 * the app's refinement and `dnsStrategyProviderIssues` where the providers are known.
 */

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:53');

export const DNS_STRATEGIES = ['simple', 'weighted', 'failover-routing'] as const;
export type DnsStrategy = (typeof DNS_STRATEGIES)[number];

export const DEFAULT_WEIGHTED_STEPS = [10, 50, 100];
export const DEFAULT_STEP_WAIT_SECONDS = 30;
export const DEFAULT_STEP_HEALTH_TIMEOUT_SECONDS = 15;

const weightedSchema = z
  .object({
    /** Percent of the traffic sent to the target at each step; rising, ending at 100. */
    steps: z
      .array(z.number().int().min(1, 'a step sends at least 1%').max(100, 'a step sends at most 100%'))
      .min(1, 'name at least one step (100)')
      .default(DEFAULT_WEIGHTED_STEPS),
    /** After each step is in sync: wait this long, then check the target answers healthy. */
    stepWaitSeconds: z.number().int().min(0).max(3600).default(DEFAULT_STEP_WAIT_SECONDS),
    /** How long the target may take to answer healthy after a step before the shift is rolled back. */
    healthTimeoutSeconds: z.number().int().min(1).max(3600).default(DEFAULT_STEP_HEALTH_TIMEOUT_SECONDS),
  })
  .strict();

const healthCheckSchema = z
  .object({
    /** Default: the scheme of the region's healthUrl. */
    type: z.enum(['HTTP', 'HTTPS', 'TCP']).optional(),
    /** Default: the port of the region's healthUrl. */
    port: z.number().int().min(1).max(65535).optional(),
    /** Default: the path of the region's healthUrl. */
    path: z.string().startsWith('/', 'expected a path starting with /').optional(),
    requestIntervalSeconds: z.union([z.literal(10), z.literal(30)]).default(30),
    failureThreshold: z.number().int().min(1).max(10).default(3),
  })
  .strict();

const failoverRoutingSchema = z
  .object({
    healthCheck: healthCheckSchema.default({ requestIntervalSeconds: 30, failureThreshold: 3 }),
  })
  .strict();

export const dnsStrategyFields = {
  strategy: z.enum(DNS_STRATEGIES).default('simple'),
  weighted: weightedSchema.optional(),
  failoverRouting: failoverRoutingSchema.optional(),
  /**
   * DNS servers asked, after the change is in sync and the TTL has passed, whether they answer
   * the target's address. Default: `verify.resolvers`; `[]` skips the check.
   */
  resolvers: z.array(hostPort).optional(),
  resolverTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
};

export type WeightedSettings = z.output<typeof weightedSchema>;
export type FailoverRoutingSettings = z.output<typeof failoverRoutingSchema>;
export type HealthCheckSettings = z.output<typeof healthCheckSchema>;

interface DnsStrategyConfig {
  strategy: DnsStrategy;
  weighted?: WeightedSettings;
  failoverRouting?: FailoverRoutingSettings;
}

/** Steps rising and ending at 100; a strategy's section only with that strategy. Paths under the app. */
export function checkDnsStrategy(dns: DnsStrategyConfig, ctx: z.RefinementCtx): void {
  if (dns.weighted && dns.strategy !== 'weighted') {
    ctx.addIssue({
      code: 'custom',
      path: ['dns', 'weighted'],
      message: `applies only with strategy "weighted" (strategy is "${dns.strategy}")`,
    });
  }
  if (dns.failoverRouting && dns.strategy !== 'failover-routing') {
    ctx.addIssue({
      code: 'custom',
      path: ['dns', 'failoverRouting'],
      message: `applies only with strategy "failover-routing" (strategy is "${dns.strategy}")`,
    });
  }
  const steps = dns.weighted?.steps ?? [];
  steps.forEach((s, i) => {
    if (i > 0 && s <= steps[i - 1]!) {
      ctx.addIssue({
        code: 'custom',
        path: ['dns', 'weighted', 'steps', i],
        message: `steps must rise: ${s} follows ${steps[i - 1]}`,
      });
    }
  });
  if (steps.length > 0 && steps[steps.length - 1] !== 100) {
    ctx.addIssue({
      code: 'custom',
      path: ['dns', 'weighted', 'steps'],
      message: `the last step must be 100 (all traffic on the target), not ${steps[steps.length - 1]}`,
    });
  }
}

/**
 * Failover routing needs Route 53 (failover record sets and health checks); weighted works on
 * Route 53 (weighted sets) and PowerDNS (a LUA record). A record on another provider is refused
 * for failover routing. Returns the issues as [path under the app, message].
 */
export function dnsStrategyProviderIssues(
  dns: { strategy: DnsStrategy; records: { provider: string }[] },
  providerTypes: Readonly<Record<string, string>>,
): [(string | number)[], string][] {
  if (dns.strategy !== 'failover-routing') return [];
  const issues: [(string | number)[], string][] = [];
  dns.records.forEach((rec, i) => {
    const type = providerTypes[rec.provider];
    if (type !== undefined && type !== 'route53') {
      issues.push([
        ['dns', 'records', i, 'provider'],
        `strategy "failover-routing" needs Route 53 failover record sets and health checks; provider "${rec.provider}" is ${type} (use strategy "simple" or "weighted", or a route53 provider)`,
      ]);
    }
  });
  return issues;
}
