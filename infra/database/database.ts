import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import { Pool, types as pgTypes } from 'pg';
import { type DatabaseDialect, parseDatabaseUrl, redactDatabaseUrl } from './database-url';
import { migrationProvider } from './migrations';
import { type Schema } from './schema';
import { createSqliteDialect } from './sqlite.dialect';

/** One query layer over SQLite (default) and PostgreSQL (production). */
export interface Database {
  db: Kysely<Schema>;
  dialect: DatabaseDialect;
  close(): Promise<void>;
}

/** Arbitrary but fixed: every Switchyard process migrating the same PostgreSQL database takes it. */
const PG_MIGRATION_LOCK = 7_346_190_215_031;

/** Opens the database and brings its schema up to date (safe when several processes open at once). */
export async function openDatabase(url: string, options: { poolSize?: number } = {}): Promise<Database> {
  const target = parseDatabaseUrl(url);
  const dialect =
    target.dialect === 'sqlite'
      ? createSqliteDialect(target.file)
      : new PostgresDialect({ pool: createPool(target.connectionString, options.poolSize ?? 10) });
  const db = new Kysely<Schema>({ dialect });
  try {
    await migrate(db, target.dialect);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new Error(`database ${redactDatabaseUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  return { db, dialect: target.dialect, close: () => db.destroy() };
}

function createPool(connectionString: string, max: number): Pool {
  const pool = new Pool({
    connectionString,
    max,
    // bigint (sequence numbers, counts) as a JS number: exact up to 2^53, far beyond any audit log.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === pgTypes.builtins.INT8 && format !== 'binary'
          ? (value: string) => Number(value)
          : pgTypes.getTypeParser(oid, format)) as typeof pgTypes.getTypeParser,
    },
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * Runs the migrations on one connection holding a lock that other processes wait for: SQLite's
 * write lock (BEGIN IMMEDIATE, the whole migration is one transaction), PostgreSQL's advisory
 * lock. Kysely's own PostgreSQL lock does not cover its "create the migration tables" step, and it
 * has none at all for SQLite.
 */
async function migrate(db: Kysely<Schema>, dialect: DatabaseDialect): Promise<void> {
  await db.connection().execute(async (conn) => {
    const migrator = new Migrator({ db: conn, provider: migrationProvider(dialect) });
    if (dialect === 'sqlite') {
      await sql`begin immediate`.execute(conn);
      try {
        throwOnError(await migrator.migrateToLatest());
        await sql`commit`.execute(conn);
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw err;
      }
    } else {
      await sql`select pg_advisory_lock(${sql.lit(PG_MIGRATION_LOCK)})`.execute(conn);
      try {
        throwOnError(await migrator.migrateToLatest());
      } finally {
        await sql`select pg_advisory_unlock(${sql.lit(PG_MIGRATION_LOCK)})`.execute(conn);
      }
    }
  });
}

function throwOnError(result: Awaited<ReturnType<Migrator['migrateToLatest']>>): void {
  if (result.error === undefined) return;
  const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
  const cause = result.error instanceof Error ? result.error.message : String(result.error);
  throw new Error(`migration ${failed ?? '(setup)'} failed: ${cause}`, { cause: result.error });
}
