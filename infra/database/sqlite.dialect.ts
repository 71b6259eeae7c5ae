import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  SqliteDialect,
  SqliteDriver,
  type SqliteDialectConfig,
} from 'kysely';

/**
 * The API and the worker are separate processes writing one SQLite file. Kysely's SqliteDriver
 * begins transactions with a plain (deferred) BEGIN: two processes that both read and then write
 * would fail with SQLITE_BUSY at the upgrade, which busy_timeout cannot wait out. BEGIN IMMEDIATE
 * takes the write lock up front, so the second writer waits (busy_timeout) and then reads fresh.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly dialectConfig: SqliteDialectConfig) {
    super(dialectConfig);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.dialectConfig);
  }
}

/**
 * How long a writer waits for another process's transaction. better-sqlite3 waits synchronously,
 * blocking this process's event loop meanwhile; transactions here last milliseconds.
 */
const BUSY_TIMEOUT_MS = 10_000;

/** Opens (creating its directory) a SQLite file in WAL mode, so readers never block the writer. */
export function createSqliteDialect(file: string): SqliteDialect {
  const memory = file === ':memory:';
  if (!memory) mkdirSync(dirname(file), { recursive: true });
  const database = new BetterSqlite3(file);
  // busy_timeout first: switching to WAL needs a lock that another process may hold.
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (!memory) enableWal(database);
  return new ImmediateSqliteDialect({ database });
}

/**
 * WAL mode is a property of the file: once one process switched it, the others find it so. The
 * switch itself may answer SQLITE_BUSY at once, without the busy handler (two processes opening a
 * new file together, e.g. the API and the worker at start), so it is retried for a bounded time.
 */
function enableWal(database: BetterSqlite3.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      if (String(database.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') return;
      database.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, 25);
    }
  }
}
