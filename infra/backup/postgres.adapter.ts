import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type {
  ArtifactSink,
  ArtifactSource,
  RestoreResult,
  ServiceAdapter,
  ServiceContext,
  ServiceOf,
  SnapshotResult,
  VerifyResult,
} from './service-adapter.port';

/**
 * PostgreSQL behind the ServiceAdapter port. The cut is a snapshot exported from a REPEATABLE READ
 * transaction: pg_dump imports it (`--snapshot`), so the dump holds exactly what was committed
 * when the snapshot was exported, whatever the app writes meanwhile. No write is held: quiesce
 * only checks that the database answers. The dump (custom format) streams from pg_dump's stdout
 * into the sink and back into pg_restore's stdin; nothing is staged on disk or held in memory.
 *
 * The password of the target's URL never reaches argv, logs or error messages: the tools get it
 * through PGPASSWORD, and every message is scrubbed of it.
 */

type PostgresService = ServiceOf<'postgres'>;
type Ctx = ServiceContext<PostgresService>;

export const PGDUMP_CONTENT_TYPE = 'application/vnd.postgresql.custom-dump';

export interface PostgresAdapterOptions {
  /** pg_dump to run; by default the first found (server's bin dir, Debian's, PATH) at least as new as the server. */
  pgDumpPath?: string;
  pgRestorePath?: string;
  /** How long a connection attempt may take: a dead database fails fast inside the quiesce window. */
  connectTimeoutMs?: number;
}

/** A libpq URL taken apart: what may be shown and passed in argv, and the password for PGPASSWORD. */
export interface PgTarget {
  /** The URL without its password (userinfo or `password=` parameter). */
  url: string;
  password?: string;
  /** `postgres://user@host:port/db`: for messages. */
  display: string;
  database: string;
}

/** A PostgreSQL identifier, double-quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function parsePostgresUrl(raw: string): PgTarget {
  const m = /^(postgres(?:ql)?:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?/.exec(raw);
  if (!m) throw new Error('expected postgres://user:password@host:port/database');
  const [, scheme = '', authority = '', path = '', query = ''] = m;
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at) : '';
  const hostPort = authority.slice(at + 1);
  const colon = userinfo.indexOf(':');
  const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  let password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : undefined;
  const params = new URLSearchParams(query.slice(1));
  if (params.has('password')) {
    password = params.get('password') ?? undefined;
    params.delete('password');
  }
  const rest = params.toString();
  const base = `${scheme}${user ? `${user}@` : ''}${hostPort}${path}`;
  return {
    url: rest ? `${base}?${rest}` : base,
    password: password || undefined,
    display: base,
    database: decode(path.replace(/^\//, '')),
  };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Removes the password (as given and URL-encoded) and any `user:secret@` from a message. */
export function scrubPassword(text: string, password?: string): string {
  let out = text;
  if (password) {
    for (const form of new Set([password, encodeURIComponent(password)])) out = out.split(form).join('***');
  }
  return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*):[^@\s]*@/g, '$1:***@');
}

interface PgTool {
  path: string;
  major: number;
}

/** Where PostgreSQL client programs live, best first: pg_config's bin dir, Debian's newest first, PATH. */
async function candidateDirs(): Promise<string[]> {
  const dirs: string[] = [];
  try {
    const { stdout } = await promisify(execFile)('pg_config', ['--bindir'], { timeout: 10_000 });
    dirs.push(stdout.trim());
  } catch {
    // no pg_config: Debian's versioned dirs and PATH remain
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => join(debian, v, 'bin')));
  }
  return dirs;
}

async function toolMajor(path: string): Promise<number | null> {
  try {
    const { stdout } = await promisify(execFile)(path, ['--version'], { timeout: 10_000 });
    const m = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * A running pg_dump or pg_restore. `exit` resolves (never rejects) with null on exit 0 and with an
 * error carrying the tool's stderr otherwise. `output` is its stdout, ended only after exit 0 and
 * failed otherwise, so a reader never mistakes a dump cut short for a complete one.
 */
class ToolRun {
  readonly child: ChildProcess;
  readonly exit: Promise<Error | null>;
  readonly output = new PassThrough({ highWaterMark: 1024 * 1024 });
  private stderr = '';
  /** Why Switchyard stopped it, when it did. */
  reason: string | undefined;

  constructor(run: {
    name: 'pg_dump' | 'pg_restore';
    tool: PgTool;
    args: string[];
    target: PgTarget;
    stdin: 'pipe' | 'ignore';
    /** For messages: "of postgres://user@host/db", "into ...". */
    describe: string;
  }) {
    const { name, tool, args, target, stdin, describe } = run;
    const env: NodeJS.ProcessEnv = { ...process.env, PGAPPNAME: `switchyard-${name}` };
    if (target.password) env.PGPASSWORD = target.password;
    env.PGCONNECT_TIMEOUT ??= '10';
    this.child = spawn(tool.path, args, { env, stdio: [stdin, 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 16_384) this.stderr += d.toString('utf8');
    });
    this.child.stdout!.pipe(this.output, { end: false });
    // Whoever reads `output` sees its error; unread, a failed run must not crash the worker.
    this.output.on('error', () => undefined);
    this.exit = new Promise<Error | null>((resolve) => {
      this.child.once('error', (err) =>
        resolve(
          new Error(`${name} (${tool.path}) could not run: ${scrubPassword(err.message, target.password)}`),
        ),
      );
      this.child.once('close', (code, signal) => {
        if (code === 0) return resolve(null);
        const why = this.reason ?? (signal ? `killed by ${signal}` : `exit ${code}`);
        const stderr = scrubPassword(this.stderr.trim(), target.password);
        resolve(new Error(`${name} ${describe} failed (${why})${stderr ? `: ${stderr}` : ''}`));
      });
    }).then((err) => {
      if (err) this.output.destroy(err);
      else this.output.end();
      return err;
    });
  }

  stop(reason: string, signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.reason ??= reason;
    this.child.kill(signal);
  }
}

/** Heartbeats now, then every second until stopped (and once more then). */
function heartbeatEverySecond(ctx: Ctx, details: () => Record<string, unknown>): () => void {
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    ctx.heartbeat(details());
  };
}

/**
 * Passes everything on but keeps the latest chunk until its input has ended cleanly. A source that
 * fails its checksum at the end (see ArtifactSource.open) thus fails before pg_restore has the
 * whole archive, so pg_restore cannot commit a restore of bytes that did not verify.
 */
function holdLastChunk(onBytes: (n: number) => void): Transform {
  let held: Buffer | null = null;
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      onBytes(bytes);
      const previous = held;
      held = chunk;
      done(null, previous ?? undefined);
    },
    flush(done) {
      done(null, held ?? undefined);
    },
  });
}

const COUNT_TABLES = `SELECT count(*)::int AS n FROM information_schema.tables
  WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`;

export class PostgresAdapter implements ServiceAdapter<PostgresService> {
  private candidates: Promise<string[]> | undefined;
  private readonly tools = new Map<string, Promise<PgTool | null>>();

  constructor(private readonly options: PostgresAdapterOptions = {}) {}

  /** Nothing to hold: the exported snapshot is the cut. A database that does not answer fails now. */
  async quiesce(ctx: Ctx): Promise<void> {
    const client = await this.connect(ctx);
    try {
      await this.query(ctx, client, 'SELECT 1');
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async marker(ctx: Ctx): Promise<Record<string, unknown>> {
    const client = await this.connect(ctx);
    try {
      const info = await this.serverInfo(ctx, client);
      const lsn = info.inRecovery ? 'pg_last_wal_replay_lsn()' : 'pg_current_wal_lsn()';
      const snapshot = info.versionNum >= 130000 ? 'pg_current_snapshot()' : 'txid_current_snapshot()';
      const { rows } = await this.query<{ lsn: string | null; snapshot: string }>(
        ctx,
        client,
        `SELECT ${lsn}::text AS lsn, ${snapshot}::text AS snapshot`,
      );
      return { lsn: rows[0]?.lsn, txidSnapshot: rows[0]?.snapshot, serverVersion: info.version };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async snapshot(ctx: Ctx, sink: ArtifactSink): Promise<SnapshotResult> {
    ctx.signal.throwIfAborted();
    const target = parsePostgresUrl(ctx.target.url);
    const client = await this.connect(ctx, { queryTimeout: false });
    try {
      const info = await this.serverInfo(ctx, client);
      const pgDump = await this.tool(ctx, 'pg_dump', info.major, this.options.pgDumpPath);
      // The exporting transaction must outlive the dump's start; a server-wide idle timeout must not end it.
      await this.query(ctx, client, 'SET idle_in_transaction_session_timeout = 0');
      await this.query(ctx, client, 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows } = await this.query<{ id: string }>(ctx, client, 'SELECT pg_export_snapshot() AS id');
      const snapshotId = rows[0]!.id;

      const args = ['--snapshot', snapshotId, '--format=custom', '--no-owner', '--no-acl'];
      const dump = new ToolRun({
        name: 'pg_dump',
        tool: pgDump,
        args: [...args, '--dbname', target.url],
        target,
        stdin: 'ignore',
        describe: `of ${target.display}`,
      });
      const cancel = () => dump.stop('cancelled');
      ctx.signal.addEventListener('abort', cancel, { once: true });
      let bytes = 0;
      const stopHeartbeat = heartbeatEverySecond(ctx, () => ({ phase: 'pg_dump', bytes }));
      try {
        let artifact;
        try {
          artifact = await sink.put(dump.output, {
            extension: 'pgdump',
            contentType: PGDUMP_CONTENT_TYPE,
            onProgress: (n) => (bytes = n),
          });
        } catch (err) {
          // pg_dump's own failure (or the cancellation) explains a broken upload better than the upload's error.
          dump.stop('the upload failed');
          const dumpError = await dump.exit;
          throw dumpError && dump.reason !== 'the upload failed' ? dumpError : err;
        }
        const failed = await dump.exit;
        if (failed) throw failed;
        await this.query(ctx, client, 'COMMIT');
        ctx.logger.info(
          { bytes: artifact.size, snapshot: snapshotId },
          `pg_dump of ${target.display} stored`,
        );
        return { artifact, marker: { snapshot: snapshotId, serverVersion: info.version } };
      } finally {
        stopHeartbeat();
        ctx.signal.removeEventListener('abort', cancel);
        dump.stop('the snapshot ended');
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async release(): Promise<void> {}

  /**
   * Replaces the objects the dump holds (tables, their data, sequences, functions...) in one
   * transaction: pg_restore --clean --single-transaction. Objects the dump does not hold stay.
   */
  async restore(ctx: Ctx, source: ArtifactSource): Promise<RestoreResult> {
    ctx.signal.throwIfAborted();
    const target = parsePostgresUrl(ctx.target.url);
    const client = await this.connect(ctx, { queryTimeout: false });
    try {
      const info = await this.serverInfo(ctx, client);
      const pgRestore = await this.tool(ctx, 'pg_restore', info.major, this.options.pgRestorePath);
      const input = await source.open();
      const args = ['--clean', '--if-exists', '--no-owner', '--no-acl', '--single-transaction'];
      args.push('--exit-on-error', '--dbname', target.url);
      const run = new ToolRun({
        name: 'pg_restore',
        tool: pgRestore,
        args,
        target,
        stdin: 'pipe',
        describe: `into ${target.display}`,
      });
      run.output.resume();
      // Kill before pipeline closes stdin: an end of input must not look like a complete archive.
      input.once('error', () => run.stop('its input failed', 'SIGKILL'));
      const cancel = () => run.stop('cancelled', 'SIGKILL');
      ctx.signal.addEventListener('abort', cancel, { once: true });
      let bytes = 0;
      const stopHeartbeat = heartbeatEverySecond(ctx, () => ({ phase: 'pg_restore', bytes }));
      try {
        const fed = pipeline(
          input,
          holdLastChunk((n) => (bytes = n)),
          run.child.stdin!,
        ).then(
          () => null,
          (err: Error) => err,
        );
        const exited = run.exit.then((err) => {
          if (err) input.destroy();
          return err;
        });
        const [exitError, feedError] = await Promise.all([exited, fed]);
        if (feedError && run.reason === 'its input failed') throw feedError;
        if (exitError) throw exitError;
        // EPIPE after exit 0: pg_restore had all it needed before the input's very end.
        if (feedError && (feedError as NodeJS.ErrnoException).code !== 'EPIPE') throw feedError;
      } finally {
        stopHeartbeat();
        ctx.signal.removeEventListener('abort', cancel);
        run.stop('the restore ended', 'SIGKILL');
      }
      const { rows } = await this.query<{ n: number }>(ctx, client, COUNT_TABLES);
      return { detail: `pg_restore into ${target.database}: ${rows[0]?.n ?? 0} tables` };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async verify(ctx: Ctx): Promise<VerifyResult> {
    const target = parsePostgresUrl(ctx.target.url);
    let client: Client;
    try {
      client = await this.connect(ctx);
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
    try {
      const { rows } = await this.query<{ n: number }>(ctx, client, COUNT_TABLES);
      return { ok: true, detail: `${target.database}: ${rows[0]?.n ?? 0} tables` };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async prepareScratch(ctx: Ctx): Promise<void> {
    const target = parsePostgresUrl(ctx.target.url);
    await this.onServer(ctx, async (admin) => {
      await this.query(ctx, admin, `DROP DATABASE IF EXISTS ${quoteIdent(target.database)} WITH (FORCE)`);
      await this.query(ctx, admin, `CREATE DATABASE ${quoteIdent(target.database)}`);
    });
  }

  async discardScratch(ctx: Ctx): Promise<{ detail: string }> {
    const target = parsePostgresUrl(ctx.target.url);
    await this.onServer(ctx, (admin) =>
      this.query(ctx, admin, `DROP DATABASE IF EXISTS ${quoteIdent(target.database)} WITH (FORCE)`),
    );
    return { detail: `scratch database ${target.database} dropped` };
  }

  /** Runs `work` connected to the server's `postgres` database (to create or drop the target's). */
  private async onServer(ctx: Ctx, work: (admin: Client) => Promise<unknown>): Promise<void> {
    const url = new URL(ctx.target.url);
    url.pathname = '/postgres';
    const client = await this.connect({ ...ctx, target: { ...ctx.target, url: url.toString() } });
    try {
      await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private what(ctx: Ctx): string {
    return `postgres service "${ctx.service.name}" in ${ctx.region}`;
  }

  private async connect(ctx: Ctx, opts: { queryTimeout?: false } = {}): Promise<Client> {
    const target = parsePostgresUrl(ctx.target.url);
    const client = new Client({
      connectionString: ctx.target.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      application_name: 'switchyard',
      ...(opts.queryTimeout === false ? {} : { query_timeout: 30_000 }),
    });
    // A connection lost while idle is reported through the next query, not as a process crash.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      const reason = scrubPassword((err as Error).message || String(err), target.password);
      // Not attached as the cause: only the driver's scrubbed message may leave the adapter.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`${this.what(ctx)}: cannot connect to ${target.display}: ${reason}`);
    }
  }

  private async query<R extends object>(ctx: Ctx, client: Client, text: string) {
    try {
      return await client.query<R>(text);
    } catch (err) {
      const target = parsePostgresUrl(ctx.target.url);
      const reason = scrubPassword((err as Error).message, target.password);
      // eslint-disable-next-line preserve-caught-error -- as in connect(): the scrubbed message only
      throw new Error(`${this.what(ctx)}: ${text.split('\n')[0]} on ${target.display} failed: ${reason}`);
    }
  }

  private async serverInfo(ctx: Ctx, client: Client) {
    const { rows } = await this.query<{ version: string; num: string; recovery: boolean }>(
      ctx,
      client,
      `SELECT current_setting('server_version') AS version,
        current_setting('server_version_num') AS num, pg_is_in_recovery() AS recovery`,
    );
    const versionNum = Number(rows[0]!.num);
    return {
      version: rows[0]!.version,
      versionNum,
      major: Math.floor(versionNum / 10000),
      inRecovery: rows[0]!.recovery,
    };
  }

  /** The program to run against a server of `major`: at least that new (pg_dump refuses older ones). */
  private async tool(ctx: Ctx, name: 'pg_dump' | 'pg_restore', major: number, explicit?: string) {
    const paths = explicit
      ? [explicit]
      : [...(await (this.candidates ??= candidateDirs())).map((d) => join(d, name)), name];
    const found: string[] = [];
    for (const path of paths) {
      if (path.includes('/') && !existsSync(path)) continue;
      let probe = this.tools.get(path);
      if (!probe) {
        probe = toolMajor(path).then((m) => (m === null ? null : { path, major: m }));
        this.tools.set(path, probe);
      }
      const tool = await probe;
      if (tool && tool.major >= major) return tool;
      if (tool) found.push(`${tool.path} (${tool.major})`);
    }
    throw new Error(
      `${this.what(ctx)}: no ${name} of PostgreSQL ${major} or newer ` +
        `(found: ${found.join(', ') || 'none'}); install postgresql-client-${major} or set ${name === 'pg_dump' ? 'pgDumpPath' : 'pgRestorePath'}`,
    );
  }
}
