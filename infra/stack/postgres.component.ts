import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './free-port';
import { type Component, type Supervisor, tailFile } from './supervisor';
import { requireExecutable } from './tools';

export interface PostgresServer extends Component {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust authentication, no password). */
  url: string;
  /** The same server's `postgres` database, for creating and dropping databases. */
  adminUrl: string;
  port: number;
  dataDir: string;
}

export interface PostgresOptions {
  /** Created once the server is ready; default `switchyard_test`. */
  database?: string;
  timeoutMs?: number;
}

/** PostgreSQL's bin dir: `pg_config --bindir` when it has the server, else the newest Debian one. */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // no pg_config (libpq-dev): look where Debian's postgresql-NN puts the server
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debian, v, 'bin')));
  }
  return candidates.find((dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) ?? '';
}

/**
 * Starts a throwaway PostgreSQL in the run dir (as root: in POSTGRES_HOMES) on a free loopback port, with trust authentication
 * and durability off (fsync): test data only. Ready when a real connection succeeds; then the
 * database `options.database` is created.
 */
export async function startPostgres(sup: Supervisor, options: PostgresOptions = {}): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  if (!binDir) {
    throw new Error(
      'PostgreSQL server not found (pg_config --bindir, /usr/lib/postgresql/*/bin): ' +
        'run `source infra/scripts/tools.sh` (it installs postgresql)',
    );
  }
  const initdb = requireExecutable('PostgreSQL initdb', join(binDir, 'initdb'));
  const postgres = requireExecutable('PostgreSQL server', join(binDir, 'postgres'));
  const database = options.database ?? 'switchyard_test';
  const owner = postgresOwner();
  const dir = owner ? privateHomeFor(sup.runDir, owner) : join(sup.runDir, 'postgres');
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(socketDir, { recursive: true });
  if (owner) for (const d of [dir, dataDir, socketDir]) chownSync(d, owner.uid, owner.gid);
  const asPostgres = (command: string, args: string[]): [string, string[]] =>
    owner ? ['setpriv', [...SETPRIV_AS_POSTGRES, command, ...args]] : [command, args];
  // Away from this process's cwd (the clone), which the postgres user may not enter.
  const cwd = dir;
  const removeHome = () => {
    if (owner) rmSync(dir, { recursive: true, force: true });
  };

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const logFile = join(sup.logDir, 'postgres-initdb.log');
    mkdirSync(sup.logDir, { recursive: true });
    const args = ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=trust'];
    args.push('-E', 'UTF8', '--no-locale', '--no-sync');
    try {
      const [command, commandArgs] = asPostgres(initdb, args);
      const out = await promisify(execFile)(command, commandArgs, { timeout: 60_000, cwd });
      writeFileSync(logFile, out.stdout + out.stderr);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      writeFileSync(logFile, `${e.stdout ?? ''}${e.stderr ?? ''}`);
      removeHome();
      throw new Error(
        `postgres: initdb failed: ${(e.stderr || e.message).trim()}\n` +
          `log file: ${logFile}\nlast lines of the log:\n${tailFile(logFile) || '  (empty)'}`,
        { cause: err },
      );
    }
  }

  const port = await freePort();
  // A Unix socket path is limited to 107 bytes; a deep run dir gets TCP only.
  const socketDirs = join(socketDir, `.s.PGSQL.${port}`).length < 100 ? socketDir : '';
  const serverArgs = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'];
  serverArgs.push('-c', `unix_socket_directories=${socketDirs}`);
  serverArgs.push('-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off');
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const [command, args] = asPostgres(postgres, serverArgs);
  const proc = await sup.start({
    name: 'postgres',
    command,
    args,
    cwd,
    afterStop: removeHome,
    readiness: { kind: 'fn', what: `a connection to ${adminUrl}`, check: () => connects(adminUrl) },
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  try {
    await createDatabase(adminUrl, database);
  } catch (err) {
    await proc.stop();
    throw new Error(`postgres: creating database ${database} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    adminUrl,
    port,
    dataDir,
    name: proc.name,
    pid: proc.pid,
    logFile: proc.logFile,
    stop: proc.stop,
  };
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user, which
 * must be able to reach its files and its working directory. The run dir may not allow that: it
 * sits in the clone, and a clone in root's home (0700) or any private directory is closed to other
 * users. So as root the server's files live in POSTGRES_HOMES, one directory per run dir (named by
 * a hash of its path), owned by postgres and private to it, and removed when the server stops.
 * setpriv, not runuser: setpriv execs, so the supervisor's SIGTERM reaches the postmaster itself;
 * runuser forks, and on SIGTERM it SIGKILLs its child two seconds later, mid-shutdown.
 */
export const POSTGRES_HOMES = '/var/tmp/switchyard-postgres';
const SETPRIV_AS_POSTGRES = ['--reuid=postgres', '--regid=postgres', '--init-groups', '--'];

/** The `postgres` user's ids when we are root (and must switch to it); undefined otherwise. */
function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    return {
      uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
    };
  } catch {
    throw new Error('postgres: running as root and there is no `postgres` OS user (install postgresql)');
  }
}

/** `<POSTGRES_HOMES>/<hash of runDir>`, made fresh; refuses a POSTGRES_HOMES root does not own. */
function privateHomeFor(runDir: string, owner: { uid: number; gid: number }): string {
  mkdirSync(POSTGRES_HOMES, { recursive: true, mode: 0o755 });
  // /var/tmp is world-writable: trust only a real directory that root owns and only root may write.
  const top = lstatSync(POSTGRES_HOMES);
  if (!top.isDirectory() || top.uid !== 0 || (top.mode & 0o022) !== 0) {
    throw new Error(
      `postgres: ${POSTGRES_HOMES} is not a directory owned and writable only by root; remove it and start again`,
    );
  }
  const dir = join(POSTGRES_HOMES, createHash('sha256').update(runDir).digest('hex').slice(0, 16));
  // Left by a stack whose process was killed: the run dir it belonged to is emptied at start too.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, owner.uid, owner.gid);
  return dir;
}

async function connects(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function createDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
