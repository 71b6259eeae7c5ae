import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from 'pg';
import { configSchema, type SwitchyardConfig } from '../../infra/config/config.schema';
import { stack, uniqueName } from './stack';

/** A database no other test uses; `dispose` removes it. */
export interface FreshDatabase {
  url: string;
  dispose(): Promise<void>;
}

export type FreshDatabaseFactory = () => Promise<FreshDatabase>;

/** A new SQLite file in its own temporary directory (which does not exist yet: openDatabase creates it). */
export const freshSqlite: FreshDatabaseFactory = () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-sql-'));
  return Promise.resolve({
    url: `sqlite:${join(dir, 'db', 'switchyard.db')}`,
    dispose: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
};

/** A new database on the harness's PostgreSQL, created through its admin connection. */
export const freshPostgres: FreshDatabaseFactory = async () => {
  const base = stack().postgres?.url;
  if (!base) throw new Error('the test servers have no PostgreSQL (StackInfo.postgres)');
  const name = uniqueName('sy').replace(/-/g, '_');
  const admin = new URL(base);
  await adminQuery(admin, `create database ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dispose: () => adminQuery(admin, `drop database if exists ${name} with (force)`),
  };
};

async function adminQuery(url: URL, text: string): Promise<void> {
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * The `apps` of a configuration whose one app has a region in each of the harness's S3 servers,
 * keeping its objects under `prefix`. `endpoints` replaces a region's S3 endpoint (e.g. with a
 * closed port, to make it unreachable).
 */
export function regionsConfig(
  prefix: string,
  endpoints: Record<string, string> = {},
): Pick<SwitchyardConfig, 'apps'> {
  return configSchema.parse({
    dnsProviders: { pdns: { type: 'powerdns', apiUrl: 'http://127.0.0.1:9', apiKey: 'unused' } },
    apps: {
      audited: {
        regions: stack().s3.map((r, i) => ({
          name: r.region,
          role: i === 0 ? 'active' : 'standby',
          healthUrl: 'http://127.0.0.1:9/healthz',
          bucket: {
            name: r.bucket,
            endpoint: endpoints[r.region] ?? r.endpoint,
            accessKeyId: r.accessKeyId,
            secretAccessKey: r.secretAccessKey,
            prefix,
          },
          dns: { target: `127.0.1.${i + 1}` },
        })),
        dns: { records: [{ provider: 'pdns', zone: 'audited.test', name: 'www.audited.test' }] },
        verify: { url: 'http://www.audited.test/healthz' },
      },
    },
  });
}

/**
 * Starts one appending process per actor on the same database, lets them all open it (and
 * migrate it) at once, then starts their appends together; resolves once all have finished.
 */
export async function appendFromProcesses(url: string, actors: string[], count: number): Promise<void> {
  const script = join(__dirname, 'audit-append-child.js');
  const children = actors.map((actor) => {
    const child = spawn(process.execPath, [script, url, actor, String(count)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<void>((resolve, reject) => {
      lines.on('line', (l) => l === 'ready' && resolve());
      child.once('exit', (code) => reject(new Error(`${actor} exited (${code}) before ready: ${stderr}`)));
    });
    const done = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`${actor} exited with ${code}: ${stderr}`)),
      );
    });
    done.catch(() => undefined); // awaited below; an early exit is reported through `ready`
    return { child, ready, done };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.stdin.write('go\n');
    await Promise.all(children.map((c) => c.done));
  } finally {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
}
