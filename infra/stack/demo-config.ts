import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { parseConfig } from '../config/config.loader';
import { demoAppServices, localAppConfig, toYaml } from './app-config';
import { type DemoInfo, type StackInfo } from './stack-info';

/** The demo: app `shop`, served from east (127.0.1.1) or west (127.0.1.2) under one DNS name. */
export const DEMO = {
  app: 'shop',
  zone: 'shop.switchyard.test',
  record: 'www.shop.switchyard.test',
  ttl: 5,
  port: 18080,
  regions: [
    { name: 'east', ip: '127.0.1.1', role: 'active' },
    { name: 'west', ip: '127.0.1.2', role: 'standby' },
  ],
  providers: { route53: 'route53-local', powerdns: 'powerdns-local' },
  /** The orders service's database in each region, on the stack's PostgreSQL. */
  databases: { east: 'shop_east', west: 'shop_west' },
  /**
   * The demo's scratch instance (docs/drills.md): a second demo app in the standby region whose
   * orders database is the derived scratch database (`shop_west_scratch`, created and dropped by
   * each drill) and whose ledger hooks are the ledger's scratch place.
   */
  scratch: { region: 'west', ip: '127.0.1.2', port: 18081 },
} as const;

/** What drills and test restores of the demo check in the restored scratch copy. */
export const DEMO_CHECKS = [
  {
    name: 'orders-restored',
    type: 'sql',
    service: 'orders',
    query: 'select count(*) > 0 from numbers',
    expect: true,
  },
  { name: 'serves-numbers', type: 'http', path: '/numbers', expectStatus: 200, expectBody: '"ledger":[' },
];

/** The scratch database of a region's orders database URL (infra/config/scratch.ts derives the same). */
export function demoScratchDatabaseUrl(url: string): string {
  const u = new URL(url);
  u.pathname = `${u.pathname}_scratch`;
  return u.toString();
}

/**
 * Restore points of the demo: the hooks drain in milliseconds, so a short quiesce window; small
 * artifacts, so a short snapshot bound; one every 5 minutes (well inside the default RPO of an
 * hour), so the walkthrough finds recent ones; and a retention that fits a session of a few hours.
 */
export const DEMO_RESTORE_POINTS = {
  quiesceTimeoutSeconds: 10,
  snapshotTimeoutSeconds: 300,
  schedule: { enabled: true, everySeconds: 300, catchupWindowSeconds: 600 },
  retention: { keepLast: 24, keepDaily: 2, keepWeekly: 0 },
};

/** What the demo's services need: each region's orders database, and the hooks' bearer token. */
export interface DemoServicesInfo {
  ordersDatabaseUrls: Record<string, string>;
  hookToken: string;
}

/**
 * Creates the orders databases (DEMO.databases) on the stack's PostgreSQL when missing and returns
 * their URLs by region. `serverUrl` is any database URL of that server (e.g. StackInfo.postgres.url).
 */
export async function createDemoDatabases(serverUrl: string): Promise<Record<string, string>> {
  const admin = new URL(serverUrl);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const urls: Record<string, string> = {};
    for (const [region, name] of Object.entries(DEMO.databases)) {
      const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (exists.rowCount === 0) await client.query(`create database "${name}"`);
      const url = new URL(serverUrl);
      url.pathname = `/${name}`;
      urls[region] = url.toString();
    }
    return urls;
  } finally {
    await client.end();
  }
}

export const DEMO_PRINCIPALS = [
  { principal: 'alice', role: 'operator' },
  { principal: 'bob', role: 'approver' },
  { principal: 'carol', role: 'admin' },
  { principal: 'viewer', role: 'viewer' },
  // One per monitor, bound to its vantage point (docs/security.md): it reports region health for
  // that vantage point and can do nothing else.
  ...DEMO.regions.map((r) => ({ principal: `monitor-${r.name}`, role: 'monitor' as const, vantage: r.name })),
] as const;

export type DemoToken = NonNullable<DemoInfo['tokens']>[number];

/** A fresh `hookSecret` per demo region: the worker signs its fence hooks, the instance checks them. */
export function demoHookSecrets(): Record<string, string> {
  return Object.fromEntries(DEMO.regions.map((r) => [r.name, randomBytes(32).toString('base64url')]));
}

/** Fresh random bearer tokens (32 bytes, base64url) for the demo principals. */
export function demoTokens(): DemoToken[] {
  return DEMO_PRINCIPALS.map((p) => ({ ...p, token: randomBytes(32).toString('base64url') }));
}

/**
 * The demo's switchyard.yaml, validated against the config schema before it is returned so
 * that a schema change shows up here and not as a crash of the worker or API.
 */
export function demoConfigYaml(
  info: Pick<StackInfo, 'runDir' | 'temporal' | 's3' | 'witness' | 'moto' | 'powerdns'>,
  tokens: DemoToken[],
  api: { host: string; port: number },
  services?: DemoServicesInfo,
  /** Each region's `hookSecret` (the demo instance gets the same as DEMO_HOOK_SECRET). */
  hookSecrets?: Record<string, string>,
): string {
  const config = localAppConfig(info, {
    app: DEMO.app,
    description: 'Demo shop: one instance per region, switched by DNS',
    zone: DEMO.zone,
    record: DEMO.record,
    ttl: DEMO.ttl,
    regions: DEMO.regions.map((r) => ({
      name: r.name,
      ip: r.ip,
      port: DEMO.port,
      ...(hookSecrets?.[r.name] ? { hookSecret: hookSecrets[r.name] } : {}),
      ...(services && r.name === DEMO.scratch.region
        ? { scratch: { url: `http://${DEMO.scratch.ip}:${DEMO.scratch.port}`, healthPath: '/numbers' } }
        : {}),
    })),
    api,
    // History holds no readable plan, facts or identities: the key reaches the worker and the API
    // by environment only (docs/temporal-security.md).
    payloadCodec: 'aes-256-gcm',
    // Two regions and the stack's witness bucket: an unplanned failover away from a lost region
    // can still fence it and give the other a write lease (docs/fencing.md#the-fencing-witness).
    witness: Boolean(info.witness),
    ...(services
      ? {
          services: demoAppServices(
            DEMO.regions.map((r) => {
              const ordersDatabaseUrl = services.ordersDatabaseUrls[r.name];
              if (!ordersDatabaseUrl) throw new Error(`no orders database for region ${r.name}`);
              return {
                name: r.name,
                ip: r.ip,
                port: DEMO.port,
                ordersDatabaseUrl,
                ...(r.name === DEMO.scratch.region
                  ? { scratch: { ip: DEMO.scratch.ip, port: DEMO.scratch.port } }
                  : {}),
              };
            }),
            services.hookToken,
          ),
          restorePoints: DEMO_RESTORE_POINTS,
          checks: DEMO_CHECKS,
        }
      : {}),
    // The demo keeps the default approval policy: one approver other than the requester.
    databaseUrl: `sqlite:${join(info.runDir, 'switchyard.db')}`,
    tokens: tokens.map((t) => ({
      principal: t.principal,
      roles: [t.role],
      sha256: createHash('sha256').update(t.token, 'utf8').digest('hex'),
      ...(t.vantage ? { vantage: t.vantage } : {}),
    })),
  });
  const text = toYaml(
    config,
    '# Generated by `node dist/infra/stack/main.js up` for the local demo stack; rewritten at every start.\n',
  );
  parseConfig(text, 'generated demo switchyard.yaml', {});
  return text;
}
