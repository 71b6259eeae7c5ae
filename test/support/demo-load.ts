import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'pg';

/**
 * Continuous write load on the demo app's two services, and the check that they agree
 * (docs/demo-app.md). A writer runs `concurrency` loops, each POSTing /numbers to one region's
 * demo app until stopped; a quiesced app makes them wait (that is the point), a fenced one makes
 * them fail (counted, retried after a short pause).
 */

export interface LoadStats {
  /** Numbers the app acknowledged (201), in acknowledgement order. */
  acknowledged: number[];
  succeeded: number;
  failed: number;
  /** Failures by HTTP status, or by error code for requests that got no answer ("ECONNREFUSED"). */
  failures: Record<string, number>;
}

export interface LoadWriter {
  /** The counts so far (a copy). */
  stats(): LoadStats;
  /** Resolves once `count` writes in all have succeeded since the writer started. */
  reached(count: number, timeoutMs?: number): Promise<void>;
  /** Stops the loops; resolves with the final counts once every request in flight has answered. */
  stop(): Promise<LoadStats>;
}

export interface LoadOptions {
  /** Concurrent loops (default 4). */
  concurrency?: number;
  /** Pause after a failed write before the loop tries again (default 20 ms). */
  failurePauseMs?: number;
}

export function startLoad(regionUrl: string, options: LoadOptions = {}): LoadWriter {
  const concurrency = options.concurrency ?? 4;
  const pause = options.failurePauseMs ?? 20;
  const stats: LoadStats = { acknowledged: [], succeeded: 0, failed: 0, failures: {} };
  const waiters: { count: number; resolve: () => void }[] = [];
  let stopped = false;

  const fail = (why: string) => {
    stats.failed++;
    stats.failures[why] = (stats.failures[why] ?? 0) + 1;
  };
  const loop = async () => {
    while (!stopped) {
      try {
        const res = await fetch(`${regionUrl}/numbers`, { method: 'POST' });
        const body = (await res.json().catch(() => ({}))) as { n?: unknown };
        if (res.status === 201 && typeof body.n === 'number') {
          stats.acknowledged.push(body.n);
          stats.succeeded++;
          for (const w of waiters.filter((x) => stats.succeeded >= x.count)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
          continue;
        }
        fail(String(res.status));
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        fail(e.cause?.code ?? e.name);
      }
      if (!stopped) await delay(pause);
    }
  };
  const loops = Array.from({ length: concurrency }, () => loop());
  const copy = (): LoadStats => ({
    acknowledged: [...stats.acknowledged],
    succeeded: stats.succeeded,
    failed: stats.failed,
    failures: { ...stats.failures },
  });

  return {
    stats: copy,
    reached(count, timeoutMs = 30_000) {
      if (stats.succeeded >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(
            new Error(
              `the load on ${regionUrl} reached ${stats.succeeded} of ${count} writes in ${timeoutMs} ms ` +
                `(failures: ${JSON.stringify(stats.failures)})`,
            ),
          );
        }, timeoutMs);
        const entry = {
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        waiters.push(entry);
      });
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return copy();
    },
  };
}

export interface Consistency {
  /** Service A's numbers, ascending. */
  orders: number[];
  /** Service B's numbers, ascending. */
  ledger: number[];
  /** In A but not in B: B lost them (or has not received them yet, on a live app). */
  onlyInOrders: number[];
  /** In B but not in A: never acceptable. */
  onlyInLedger: number[];
}

/**
 * Both services' numbers in one region and where they differ. The ledger is read before the
 * orders (GET /numbers does so, and so does the direct read), so on a live app `onlyInLedger` is
 * always empty and `onlyInOrders` holds at most the numbers still in the handoff queue; on a
 * quiesced or restored app both are empty when the cut was consistent.
 * With `ordersDatabaseUrl`, A's numbers are read from its database directly.
 */
export async function checkConsistency(
  regionUrl: string,
  options: { ordersDatabaseUrl?: string } = {},
): Promise<Consistency> {
  const res = await fetch(`${regionUrl}/numbers`);
  if (res.status !== 200)
    throw new Error(`GET ${regionUrl}/numbers: HTTP ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { orders: number[]; ledger: number[] };
  const orders = options.ordersDatabaseUrl ? await readOrders(options.ordersDatabaseUrl) : body.orders;
  return compare(orders, body.ledger);
}

export function compare(orders: number[], ledger: number[]): Consistency {
  const inOrders = new Set(orders);
  const inLedger = new Set(ledger);
  const ascending = (a: number, b: number) => a - b;
  return {
    orders: [...orders].sort(ascending),
    ledger: [...ledger].sort(ascending),
    onlyInOrders: orders.filter((n) => !inLedger.has(n)).sort(ascending),
    onlyInLedger: ledger.filter((n) => !inOrders.has(n)).sort(ascending),
  };
}

/** Service A's numbers straight from its database. */
export async function readOrders(databaseUrl: string): Promise<number[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const out = await client.query<{ n: string }>('select n from numbers order by n');
    return out.rows.map((r) => Number(r.n));
  } finally {
    await client.end();
  }
}
