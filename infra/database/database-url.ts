import type { SwitchyardConfig } from '../config/config.schema';

export type DatabaseDialect = 'sqlite' | 'postgres';

export type DatabaseTarget =
  { dialect: 'sqlite'; file: string } | { dialect: 'postgres'; connectionString: string };

/** The database URL in force: DATABASE_URL when set (and not empty), else `database.url`. */
export function databaseUrl(
  config: Pick<SwitchyardConfig, 'database'>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const fromEnv = env.DATABASE_URL?.trim();
  return fromEnv ? fromEnv : config.database.url;
}

/** `sqlite:<file>` (`sqlite::memory:` for an in-memory database) or `postgres(ql)://...`. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file) return { dialect: 'sqlite', file };
  } else if (/^postgres(ql)?:\/\/.+/.test(url)) {
    return { dialect: 'postgres', connectionString: url };
  }
  throw new Error(
    `unsupported database URL "${redactDatabaseUrl(url)}": expected sqlite:<file> or postgres://user:password@host:port/db`,
  );
}

/** The URL without its password, for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
