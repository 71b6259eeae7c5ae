import { stringify } from 'yaml';
import type { BucketConfig } from '../config/config.schema';
import type { S3RegionInfo, StackInfo } from './stack-info';

/**
 * Builds a switchyard.yaml document for one app protected across the local stack's two S3
 * regions, with its DNS record in both moto (Route 53 API) and PowerDNS. Used by the demo stack
 * and by the end-to-end tests, so both run the configuration a user would write.
 */
export interface LocalAppSpec {
  app: string;
  zone: string;
  record: string;
  ttl: number;
  description?: string;
  /**
   * One entry per region, named like the stack's S3 regions; the first is active. `scratch`: the
   * base URL of the app's scratch instance there and its health path (docs/drills.md).
   */
  regions: {
    name: string;
    ip: string;
    port: number;
    scratch?: { url: string; healthPath?: string };
    /** The key that signs this region's fence and unfence hooks (the demo app checks it). */
    hookSecret?: string;
  }[];
  /** The `api` section: where it listens, and optionally its rate limits and /metrics access. */
  api: { host: string; port: number } & Record<string, unknown>;
  /** `vantage`: a monitor token's vantage point (it reports for that one only). */
  tokens: { principal: string; roles: string[]; sha256: string; vantage?: string }[];
  taskQueuePrefix?: string;
  /** `temporal.payloadCodec` (docs/temporal-security.md); its key comes from the environment. */
  payloadCodec?: 'none' | 'aes-256-gcm';
  /** `temporal.updateTimeoutSeconds`. */
  updateTimeoutSeconds?: number;
  /** Path of the verify URL on the app (default /healthz). */
  verifyPath?: string;
  verifyTimeoutSeconds?: number;
  /** Key prefix in the buckets (default switchyard/); tests isolate themselves with it. */
  bucketPrefix?: string;
  /** The failover approval policy; the schema's default (one approver) when absent. */
  failoverApproval?: {
    required?: number;
    roles?: string[];
    excludeRequester?: boolean;
    expiresAfterSeconds?: number;
  };
  /** More approval policies by kind (`policies.approvals.<kind>`), e.g. `{ 'dns-override': { required: 0 } }`. */
  approvals?: Record<string, { required?: number; roles?: string[]; excludeRequester?: boolean }>;
  /**
   * The app's `fencing.witness`: the stack's witness S3 server (same key prefix as the regions'),
   * a third bucket every quorum counts (docs/fencing.md).
   */
  witness?: boolean;
  /** `database.url`, e.g. `sqlite:/path/switchyard.db`. */
  databaseUrl?: string;
  /** The top-level `notifications` section, e.g. `{ webhooks: [{ url, secret }] }`. */
  notifications?: Record<string, unknown>;
  /** The app's stateful services (`apps.<app>.services`), e.g. `demoAppServices(...)`. */
  services?: LocalServiceSpec[];
  /** The app's `restorePoints` section (quiesce window, snapshot timeout, schedule, retention). */
  restorePoints?: Record<string, unknown>;
  /** The app's `softDelete` section (the undo window, e.g. `{ windowSeconds: 8 }`). */
  softDelete?: Record<string, unknown>;
  /** `policies.rpoSeconds` (the schema's default, 3600, when absent). */
  rpoSeconds?: number;
  /** The app's `checks` (test restores and drills). */
  checks?: Record<string, unknown>[];
  /** The app's `drills` section (region, rtoSeconds). */
  drills?: Record<string, unknown>;
}

/** One service as written in switchyard.yaml; `regions` maps each region name to its place. */
export interface LocalServiceSpec {
  name: string;
  type: 'postgres' | 'http' | 's3';
  dependsOn?: string[];
  regions: Record<string, Record<string, unknown>>;
}

/** Where one region's demo app instance runs, and its orders database. */
export interface DemoServiceRegion {
  name: string;
  ip: string;
  port: number;
  ordersDatabaseUrl: string;
  /** The region's scratch demo instance (its ledger hooks are the ledger's scratch place). */
  scratch?: { ip: string; port: number };
}

/**
 * The demo app's two services (docs/demo-app.md): `orders`, its PostgreSQL database in each region,
 * and `ledger`, which depends on orders (it stores the numbers orders hands it) and is reached
 * through the demo app's HTTP backup hooks at `http://<ip>:<port>/hooks/ledger`.
 */
export function demoAppServices(regions: DemoServiceRegion[], hookToken?: string): LocalServiceSpec[] {
  return [
    {
      name: 'orders',
      type: 'postgres',
      regions: Object.fromEntries(regions.map((r) => [r.name, { url: r.ordersDatabaseUrl }])),
    },
    {
      name: 'ledger',
      type: 'http',
      dependsOn: ['orders'],
      regions: Object.fromEntries(
        regions.map((r) => [
          r.name,
          {
            url: `http://${r.ip}:${r.port}/hooks/ledger`,
            ...(hookToken ? { token: hookToken } : {}),
            ...(r.scratch
              ? {
                  scratch: {
                    url: `http://${r.scratch.ip}:${r.scratch.port}/hooks/ledger`,
                    ...(hookToken ? { token: hookToken } : {}),
                  },
                }
              : {}),
          },
        ]),
      ),
    },
  ];
}

/** The local stack's two DNS providers, as `dnsProviders` of switchyard.yaml: moto and PowerDNS. */
export function localDnsProviders(
  stack: Pick<StackInfo, 'moto' | 'powerdns'>,
): Record<string, Record<string, unknown>> {
  return {
    'route53-local': {
      type: 'route53',
      endpoint: stack.moto.endpoint,
      region: stack.moto.region,
      accessKeyId: stack.moto.accessKeyId,
      secretAccessKey: stack.moto.secretAccessKey,
      syncTimeoutSeconds: 30,
    },
    'powerdns-local': {
      type: 'powerdns',
      apiUrl: stack.powerdns.apiUrl,
      apiKey: stack.powerdns.apiKey,
      serverId: stack.powerdns.serverId,
    },
  };
}

export function localAppConfig(
  stack: Pick<StackInfo, 'temporal' | 's3' | 'witness' | 'moto' | 'powerdns'>,
  spec: LocalAppSpec,
): Record<string, unknown> {
  const port = spec.regions[0]!.port;
  if (spec.witness && !stack.witness) throw new Error('the stack has no fencing witness S3 server');
  const bucketOf = (s3: S3RegionInfo) => ({
    name: s3.bucket,
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...(spec.bucketPrefix ? { prefix: spec.bucketPrefix } : {}),
  });
  return {
    temporal: {
      address: stack.temporal.address,
      namespace: stack.temporal.namespace,
      ...(spec.taskQueuePrefix ? { taskQueuePrefix: spec.taskQueuePrefix } : {}),
      ...(spec.payloadCodec ? { payloadCodec: spec.payloadCodec } : {}),
      ...(spec.updateTimeoutSeconds ? { updateTimeoutSeconds: spec.updateTimeoutSeconds } : {}),
    },
    api: spec.api,
    auth: { tokens: spec.tokens },
    ...(spec.databaseUrl ? { database: { url: spec.databaseUrl } } : {}),
    ...(spec.notifications ? { notifications: spec.notifications } : {}),
    dnsProviders: localDnsProviders(stack),
    apps: {
      [spec.app]: {
        description: spec.description ?? 'Demo app protected across two local regions',
        regions: spec.regions.map((r, i) => {
          const s3 = stack.s3.find((x) => x.region === r.name);
          if (!s3) throw new Error(`the stack has no S3 region "${r.name}"`);
          return {
            name: r.name,
            role: i === 0 ? 'active' : 'standby',
            healthUrl: `http://${r.ip}:${r.port}/healthz`,
            fenceUrl: `http://${r.ip}:${r.port}/fence`,
            unfenceUrl: `http://${r.ip}:${r.port}/unfence`,
            ...(r.hookSecret ? { hookSecret: r.hookSecret } : {}),
            bucket: bucketOf(s3),
            dns: { target: r.ip },
            ...(r.scratch ? { scratch: r.scratch } : {}),
          };
        }),
        dns: {
          ttl: spec.ttl,
          records: [
            { provider: 'route53-local', zone: spec.zone, name: spec.record },
            { provider: 'powerdns-local', zone: spec.zone, name: spec.record },
          ],
        },
        verify: {
          url: `http://${spec.record}:${port}${spec.verifyPath ?? '/healthz'}`,
          resolvers: [`${stack.powerdns.dnsHost}:${stack.powerdns.dnsPort}`],
          timeoutSeconds: spec.verifyTimeoutSeconds ?? 60,
        },
        ...(spec.witness && stack.witness
          ? { fencing: { witness: { bucket: bucketOf(stack.witness) } } }
          : {}),
        ...(spec.services ? { services: spec.services } : {}),
        ...(spec.restorePoints ? { restorePoints: spec.restorePoints } : {}),
        ...(spec.softDelete ? { softDelete: spec.softDelete } : {}),
        ...(spec.checks ? { checks: spec.checks } : {}),
        ...(spec.drills ? { drills: spec.drills } : {}),
        ...(spec.failoverApproval || spec.approvals || spec.rpoSeconds
          ? {
              policies: {
                ...(spec.rpoSeconds ? { rpoSeconds: spec.rpoSeconds } : {}),
                ...(spec.failoverApproval || spec.approvals
                  ? {
                      approvals: {
                        ...spec.approvals,
                        ...(spec.failoverApproval ? { failover: spec.failoverApproval } : {}),
                      },
                    }
                  : {}),
              },
            }
          : {}),
      },
    },
  };
}

/** One bucket of a local S3 region as parsed configuration (the schema's defaults included). */
export function localBucketConfig(region: S3RegionInfo, name = region.bucket, prefix = ''): BucketConfig {
  return {
    name,
    endpoint: region.endpoint,
    region: 'us-east-1',
    accessKeyId: region.accessKeyId,
    secretAccessKey: region.secretAccessKey,
    forcePathStyle: true,
    prefix,
    checksumAlgorithm: 'CRC32',
  };
}

export function toYaml(doc: Record<string, unknown>, header = ''): string {
  return header + stringify(doc);
}
