import { AuditSealer } from '../audit/audit-sealer';
import { SqlAuditStore } from '../audit/sql-audit.store';
import { SqlTokenStore } from '../auth/sql-token.store';
import type { SwitchyardConfig } from '../config/config.schema';
import { type Database, openDatabase } from './database';
import { databaseUrl } from './database-url';

/** Everything Switchyard keeps in SQL, opened once per process over one database. */
export interface Persistence {
  database: Database;
  audit: SqlAuditStore;
  sealer: AuditSealer;
  tokens: SqlTokenStore;
  close(): Promise<void>;
}

export async function openPersistence(
  config: SwitchyardConfig,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Persistence> {
  const database = await openDatabase(databaseUrl(config, env));
  const sealer = new AuditSealer(database.db, config);
  return {
    database,
    sealer,
    audit: new SqlAuditStore(database, { sealer }),
    tokens: new SqlTokenStore(database),
    close: async () => {
      sealer.close();
      await database.close();
    },
  };
}
