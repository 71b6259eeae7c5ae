import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { freePort } from './free-port';
import { type StackInfo } from './stack-info';
import { type Component, type Supervisor } from './supervisor';
import { requireExecutable, toolPaths } from './tools';

export type PowerDnsInfo = StackInfo['powerdns'];

export interface PowerDnsServer extends PowerDnsInfo, Component {}

/** Where Debian's pdns-backend-sqlite3 ships the schema (compressed in some releases). */
const SCHEMA_CANDIDATES = [
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql',
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql.gz',
  '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql',
  '/usr/share/doc/pdns-backend-sqlite3/examples/schema.sqlite3.sql',
];

export function readPowerDnsSchema(): string {
  for (const file of SCHEMA_CANDIDATES) {
    if (!existsSync(file)) continue;
    const raw = readFileSync(file);
    return file.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  }
  throw new Error(
    `PowerDNS sqlite3 schema not found (looked in ${SCHEMA_CANDIDATES.join(', ')}): ` +
      'install pdns-backend-sqlite3 (`source infra/scripts/tools.sh`)',
  );
}

/** Creates the SQLite database from the schema, with python3's sqlite3 module (no sqlite3 CLI needed). */
function createDatabase(dbFile: string, schema: string): void {
  const script =
    'import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript(sys.stdin.read())\nc.commit()';
  const res = spawnSync('python3', ['-c', script, dbFile], { input: schema, encoding: 'utf8' });
  if (res.status !== 0) {
    throw new Error(`powerdns: creating ${dbFile} failed: ${res.error?.message ?? res.stderr}`);
  }
}

/**
 * Starts PowerDNS Authoritative unprivileged on loopback with a fresh SQLite backend, its
 * REST API and packet caches off (a change is visible in the next answer).
 */
export async function startPowerDns(
  sup: Supervisor,
  options: { timeoutMs?: number } = {},
): Promise<PowerDnsServer> {
  const bin = requireExecutable('pdns_server', toolPaths().pdnsServer);
  const dir = join(sup.runDir, 'powerdns');
  const socketDir = join(dir, 'run');
  mkdirSync(socketDir, { recursive: true });
  const dbFile = join(dir, 'pdns.sqlite3');
  if (!existsSync(dbFile)) createDatabase(dbFile, readPowerDnsSchema());

  const dnsPort = await freePort();
  const webPort = await freePort();
  const apiKey = randomBytes(18).toString('base64url');
  const conf = [
    'launch=gsqlite3',
    `gsqlite3-database=${dbFile}`,
    'local-address=127.0.0.1',
    `local-port=${dnsPort}`,
    'api=yes',
    `api-key=${apiKey}`,
    'webserver=yes',
    'webserver-address=127.0.0.1',
    `webserver-port=${webPort}`,
    'webserver-allow-from=127.0.0.0/8',
    'guardian=no',
    'daemon=no',
    `socket-dir=${socketDir}`,
    'disable-syslog=yes',
    'log-timestamp=no',
    'cache-ttl=0',
    'query-cache-ttl=0',
    'negquery-cache-ttl=0',
    // Weighted DNS shifts on PowerDNS are LUA records (docs/dns-strategies.md).
    'enable-lua-records=yes',
    'default-soa-content=ns1.switchyard.test. hostmaster.@ 0 10800 3600 604800 5',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'pdns.conf'), conf, { mode: 0o600 });

  const apiUrl = `http://127.0.0.1:${webPort}`;
  const proc = await sup.start({
    name: 'powerdns',
    command: bin,
    args: [`--config-dir=${dir}`],
    readiness: {
      kind: 'http',
      url: `${apiUrl}/api/v1/servers/localhost`,
      headers: { 'X-API-Key': apiKey },
    },
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  return {
    apiUrl,
    apiKey,
    serverId: 'localhost',
    dnsHost: '127.0.0.1',
    dnsPort,
    name: proc.name,
    pid: proc.pid,
    logFile: proc.logFile,
    stop: proc.stop,
  };
}

/**
 * One call of PowerDNS's API. Two writers at once (test files creating their zones concurrently)
 * make the SQLite backend fail with "database is locked" (SQLITE_BUSY on a lock upgrade, which
 * SQLite does not wait for; the API answers a bare 500, the reason is only in PowerDNS's log):
 * a 5xx is retried, with a growing jittered pause, as the DNS provider retries any 5xx. The
 * calls here are idempotent (REPLACE; a zone created by an attempt that answered 500 is a 409).
 */
async function pdnsApi(pdns: PowerDnsInfo, method: string, path: string, body: unknown): Promise<void> {
  const url = `${pdns.apiUrl}/api/v1/servers/${pdns.serverId}${path}`;
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url, {
      method,
      headers: { 'X-API-Key': pdns.apiKey, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.ok || (attempt > 1 && method === 'POST' && res.status === 409)) return;
    const text = await res.text();
    if (res.status >= 500 && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100));
      continue;
    }
    throw new Error(`PowerDNS ${method} ${path}: HTTP ${res.status} ${text}`);
  }
}

/** Creates a Native zone (if it does not exist yet) and sets one A record in it (REPLACE). */
export async function createPowerDnsZoneWithA(
  pdns: PowerDnsInfo,
  zone: string,
  record: { name: string; ip: string; ttl: number },
): Promise<void> {
  const zoneId = `${zone}.`;
  const exists = await fetch(`${pdns.apiUrl}/api/v1/servers/${pdns.serverId}/zones/${zoneId}`, {
    headers: { 'X-API-Key': pdns.apiKey },
  });
  if (exists.status === 404 || exists.status === 422) {
    await pdnsApi(pdns, 'POST', '/zones', { name: zoneId, kind: 'Native', nameservers: [`ns1.${zoneId}`] });
  } else if (!exists.ok) {
    throw new Error(`PowerDNS GET zone ${zoneId}: HTTP ${exists.status}`);
  }
  await pdnsApi(pdns, 'PATCH', `/zones/${zoneId}`, {
    rrsets: [
      {
        name: `${record.name}.`,
        type: 'A',
        ttl: record.ttl,
        changetype: 'REPLACE',
        records: [{ content: record.ip, disabled: false }],
      },
    ],
  });
}
