import { type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DatabaseDialect } from './database-url';

/**
 * Migrations live in code, not in files read at run time, so the compiled dist/ is all a process
 * needs. Names sort in the order they run; never rename or edit one that has shipped: add another.
 */
function migrations(dialect: DatabaseDialect): Record<string, Migration> {
  // SQLite's `integer primary key` is the rowid itself (no second index); PostgreSQL wants bigint.
  const sequenceType = dialect === 'sqlite' ? 'integer' : 'bigint';
  return {
    '0001-audit-events-and-api-tokens': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('audit_events')
          .addColumn('sequence', sequenceType, (c) => c.primaryKey())
          .addColumn('time', 'text', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('target', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('request_id', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('details', 'text', (c) => c.notNull())
          .addColumn('idempotency_key', 'text', (c) => c.unique())
          .addColumn('previous_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        // Filtered listings are ordered by sequence: (column, sequence) serves both.
        for (const column of ['actor', 'action', 'target', 'time']) {
          await db.schema
            .createIndex(`audit_events_${column}_idx`)
            .on('audit_events')
            .columns([column, 'sequence'])
            .execute();
        }

        await db.schema
          .createTable('api_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('principal', 'text', (c) => c.notNull())
          .addColumn('roles', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addColumn('revoked_by', 'text')
          .execute();
      },
    },
    '0002-api-tokens-vantage': {
      async up(db: Kysely<unknown>) {
        // A monitor token names the vantage point it reports for (docs/security.md).
        await db.schema.alterTable('api_tokens').addColumn('vantage', 'text').execute();
      },
    },
  };
}

export function migrationProvider(dialect: DatabaseDialect): MigrationProvider {
  return { getMigrations: () => Promise.resolve(migrations(dialect)) };
}
