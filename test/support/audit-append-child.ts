import { createInterface } from 'node:readline';
import { openDatabase } from '../../infra/database/database';
import { SqlAuditStore } from '../../infra/audit/sql-audit.store';

/**
 * A second process appending to the audit log, for the concurrency tests:
 *   node audit-append-child.js <database url> <actor> <count>
 * Opens the database (running the migrations, possibly at the same time as another process),
 * prints `ready`, waits for a line on stdin, appends <count> events, prints `done <ms>`.
 */
async function main(): Promise<void> {
  const [url, actor, count] = process.argv.slice(2);
  if (!url || !actor || !count)
    throw new Error('usage: audit-append-child.js <database url> <actor> <count>');
  const database = await openDatabase(url);
  const store = new SqlAuditStore(database);
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  lines.close();
  const started = Date.now();
  for (let i = 0; i < Number(count); i++) {
    await store.append({
      actor,
      action: 'test.appended',
      target: `item:${i}`,
      outcome: 'info',
      details: { i },
    });
  }
  process.stdout.write(`done ${Date.now() - started}\n`);
  await database.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
