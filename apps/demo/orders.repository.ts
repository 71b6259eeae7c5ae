import { Pool } from 'pg';

/**
 * Service A of the demo ("orders"): numbers in a PostgreSQL table, one database per region.
 * `numbers(n bigint primary key, created_at timestamptz)`, created if missing, numbered by a
 * sequence. The sequence is part of what a pg_dump restores; if it ever lags behind the table
 * (a restore that brought rows but not the sequence), the insert catches up and tries again.
 */
export interface OrdersRepository {
  /** Allocates the next number and stores it; resolves once it is committed. */
  create(): Promise<number>;
  /** Every stored number, ascending. */
  list(): Promise<number[]>;
  close(): Promise<void>;
}

const SCHEMA = [
  'create table if not exists numbers (n bigint primary key, created_at timestamptz not null default now())',
  'create sequence if not exists numbers_n_seq owned by numbers.n',
];

const UNIQUE_VIOLATION = '23505';
const UNDEFINED_TABLE = '42P01';

export class PostgresOrders implements OrdersRepository {
  private readonly pool: Pool;
  private schema: Promise<void> | undefined;

  constructor(url: string, onError: (err: Error) => void = () => undefined) {
    this.pool = new Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5000 });
    // A dropped or restarted database ends idle connections; the pool reconnects on next use.
    this.pool.on('error', onError);
  }

  async create(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      await this.ensureSchema();
      try {
        const out = await this.pool.query<{ n: string }>(
          "insert into numbers (n, created_at) values (nextval('numbers_n_seq'), now()) returning n",
        );
        return Number(out.rows[0]!.n);
      } catch (err) {
        if (attempt >= 3) throw err;
        const code = (err as { code?: string }).code;
        if (code === UNIQUE_VIOLATION) {
          await this.pool.query(
            "select setval('numbers_n_seq', greatest((select coalesce(max(n), 0) from numbers), 1))",
          );
        } else if (code === UNDEFINED_TABLE) {
          // The database was replaced under us (a restore that dropped the table): create it again.
          this.schema = undefined;
        } else {
          throw err;
        }
      }
    }
  }

  async list(): Promise<number[]> {
    await this.ensureSchema();
    try {
      const out = await this.pool.query<{ n: string }>('select n from numbers order by n');
      return out.rows.map((r) => Number(r.n));
    } catch (err) {
      if ((err as { code?: string }).code !== UNDEFINED_TABLE) throw err;
      this.schema = undefined;
      return [];
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private ensureSchema(): Promise<void> {
    this.schema ??= (async () => {
      for (const statement of SCHEMA) await this.pool.query(statement);
    })().catch((err: unknown) => {
      this.schema = undefined;
      throw err;
    });
    return this.schema;
  }
}
