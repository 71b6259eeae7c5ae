import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { ArtifactMismatchError, ObjectIo } from '../../infra/backup/artifact.store';
import { PGDUMP_CONTENT_TYPE, PostgresAdapter } from '../../infra/backup/postgres.adapter';
import { freePort } from '../../infra/stack/free-port';
import type { ServiceOf } from '../../infra/backup/service-adapter.port';
import { bucketConfig, serviceContext, testSink, testSource } from '../support/artifact-fixtures';
import { type FreshDatabase, freshPostgres } from '../support/sql-fixtures';
import { stack, uniqueName, waitFor } from '../support/stack';

/*
 * The PostgreSQL adapter against the harness's PostgreSQL and the east versitygw bucket: a dump
 * of an exported snapshot streamed into the bucket, restored into other databases, compared row
 * for row. Every test works in databases of its own.
 */

type PostgresService = ServiceOf<'postgres'>;

const ROWS = 3000;

function serviceAt(url: string): PostgresService {
  return { name: 'orders', type: 'postgres', dependsOn: [], regions: { east: { url } } };
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Tables with bytea, a view, a sequence in use, an index; and 3 MiB of incompressible attachments,
 * dumped first (pg_dump goes by name): a dump larger than the pipe's buffers, so pg_dump is still
 * at work when the test writes during the snapshot.
 */
async function fill(url: string): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`
      CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, avatar bytea, joined timestamptz);
      CREATE TABLE orders (
        id bigserial PRIMARY KEY,
        customer_id int NOT NULL REFERENCES customers(id),
        total numeric(12, 2) NOT NULL,
        note text
      );
      CREATE INDEX orders_customer ON orders (customer_id);
      CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 500;
      INSERT INTO customers (name, avatar, joined)
        SELECT 'customer ' || i, decode(md5(i::text) || md5((i * 7)::text), 'hex') || '\\x00ff00'::bytea,
               timestamptz '2026-01-01' + i * interval '1 minute'
        FROM generate_series(1, 300) i;
      INSERT INTO orders (customer_id, total, note)
        SELECT 1 + i % 300, (i * 37 % 100000) / 100.0, CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END
        FROM generate_series(1, ${ROWS}) i;
      CREATE TABLE attachments AS
        SELECT i, decode(string_agg(md5(i::text || ':' || j), '' ORDER BY j), 'hex') AS b
        FROM generate_series(1, 2000) i, generate_series(1, 100) j GROUP BY i;`);
  });
}

type Rows = Record<string, unknown>[];

async function contents(url: string) {
  return withClient(url, async (c) => ({
    customers: (await c.query('SELECT * FROM customers ORDER BY id')).rows as Rows,
    orders: (await c.query('SELECT * FROM orders ORDER BY id')).rows as Rows,
    attachments: (
      await c.query(`SELECT count(*)::int AS n, sum(length(b))::int AS bytes,
        md5(string_agg(md5(b), '' ORDER BY i)) AS digest FROM attachments`)
    ).rows[0] as Rows[number],
  }));
}

/** Sequences are not transactional: a dump holds their value when pg_dump read them, not at the cut. */
async function lastOrderId(url: string): Promise<number> {
  const r = await withClient(url, (c) =>
    c.query<{ v: string }>('SELECT last_value::text AS v FROM orders_id_seq'),
  );
  return Number(r.rows[0]!.v);
}

/** Waits until no session of the adapter or its tools is connected to the database. */
function sessionsEnd(url: string, what: string) {
  return waitFor(
    () =>
      withClient(url, async (c) => {
        const r = await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name LIKE 'switchyard%'`);
        return r.rows[0]!.n === 0;
      }),
    { what },
  );
}

describe('postgres adapter', () => {
  const adapter = new PostgresAdapter();
  const io = new ObjectIo();
  const east = stack().s3[0]!;
  const place = { bucket: bucketConfig(east), folder: `${uniqueName('pg-adapter')}/` };
  const databases: FreshDatabase[] = [];
  const fresh = async () => {
    const db = await freshPostgres();
    databases.push(db);
    return db;
  };

  after(async () => {
    await Promise.all(databases.map((d) => d.dispose()));
    await io.purgePrefix(place.bucket, place.folder);
    io.buckets.close();
  });

  describe('snapshot and restore', () => {
    let source: FreshDatabase;
    let atCut: Awaited<ReturnType<typeof contents>>;
    let artifact: Awaited<ReturnType<PostgresAdapter['snapshot']>>['artifact'];

    before(async () => {
      source = await fresh();
      await fill(source.url);
      atCut = await contents(source.url);
    });

    it('quiesce checks the database answers; the marker names its WAL position and snapshot', async () => {
      const ctx = serviceContext(serviceAt(source.url), 'east');
      await adapter.quiesce(ctx);
      const marker = await adapter.marker(ctx);
      assert.match(String(marker.lsn), /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.match(String(marker.txidSnapshot), /^\d+:\d+:/);
      assert.match(String(marker.serverVersion), /^\d+/);
      await adapter.release();
    });

    it('dumps the exported snapshot: writes committed during the dump are not in it', async (t) => {
      const ctx = serviceContext(serviceAt(source.url), 'east');
      const sink = testSink(io, place, ctx.restorePointId, 'orders', {
        // pg_dump is running (the snapshot is exported) and waits for this reader.
        beforeRead: () =>
          withClient(source.url, async (c) => {
            await waitFor(
              async () => {
                const r = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity
                  WHERE application_name = 'switchyard-pg_dump' AND datname = current_database()`);
                return r.rows[0].n === 1;
              },
              { what: 'pg_dump to connect' },
            );
            await c.query(`INSERT INTO orders (customer_id, total, note) VALUES (1, 1, 'after the cut')`);
            await c.query(`UPDATE customers SET name = 'renamed after the cut' WHERE id <= 10`);
            await c.query(`DELETE FROM orders WHERE id <= 100`);
            await c.query(`CREATE TABLE created_after_the_cut (x int)`);
          }),
      });
      const started = Date.now();
      const result = await adapter.snapshot(ctx, sink);
      const dumpMs = Date.now() - started;
      artifact = result.artifact;
      assert.equal(artifact.key, `restore-points/${ctx.restorePointId}/orders.pgdump`);
      assert.equal(artifact.contentType, PGDUMP_CONTENT_TYPE);
      assert.ok(
        artifact.size > 3_200_000,
        `a dump of ${ROWS} orders and 3 MiB of attachments (${artifact.size} bytes)`,
      );
      assert.match(String(result.marker?.snapshot), /^[0-9A-F]+-[0-9A-F]+-\d+$/);
      assert.equal(ctx.heartbeats.at(-1)?.bytes, artifact.size, 'the last heartbeat reports every byte');
      const stored = await io.hash(place.bucket, place.folder + artifact.key);
      assert.deepEqual(
        { size: stored.size, sha256: stored.sha256 },
        { size: artifact.size, sha256: artifact.sha256 },
      );

      await sessionsEnd(source.url, 'the exporting session and pg_dump to end');

      const target = await fresh();
      const restoreStarted = Date.now();
      const restored = await adapter.restore(
        serviceContext(serviceAt(target.url), 'east'),
        testSource(io, place, artifact),
      );
      const restoreMs = Date.now() - restoreStarted;
      const dbName = new URL(target.url).pathname.slice(1);
      assert.equal(restored.detail, `pg_restore into ${dbName}: 3 tables`);
      assert.deepEqual(await contents(target.url), atCut, 'row for row as at the cut');
      assert.ok((await lastOrderId(target.url)) >= ROWS, 'the sequence is never behind the rows');
      assert.ok(atCut.customers.every((r) => Buffer.isBuffer(r.avatar) && r.avatar.length === 35));
      t.diagnostic(`${ROWS} orders: pg_dump ${dumpMs} ms (${artifact.size} bytes), restore ${restoreMs} ms`);

      const verified = await adapter.verify(serviceContext(serviceAt(target.url), 'east'));
      assert.deepEqual(verified, { ok: true, detail: `${dbName}: 3 tables` });
    });

    it('restores again over a changed database (--clean), leaving it as at the cut', async () => {
      const target = await fresh();
      const ctx = serviceContext(serviceAt(target.url), 'east');
      await adapter.restore(ctx, testSource(io, place, artifact));
      await withClient(target.url, async (c) => {
        await c.query(`INSERT INTO orders (customer_id, total) VALUES (2, 2)`);
        await c.query(`UPDATE customers SET avatar = NULL`);
        await c.query(`DROP VIEW big_orders`);
      });
      await adapter.restore(ctx, testSource(io, place, artifact));
      assert.deepEqual(await contents(target.url), atCut);
      const view = await withClient(target.url, (c) => c.query('SELECT count(*)::int AS n FROM big_orders'));
      assert.equal(view.rows[0].n, atCut.orders.filter((o) => Number(o.total) > 500).length);
      assert.ok(ctx.heartbeats.some((h) => h.phase === 'pg_restore'));
    });

    it('restores nothing from an artifact that fails its checksum: the database stays as it was', async () => {
      const target = await fresh();
      await withClient(target.url, (c) => c.query(`CREATE TABLE keep (x int); INSERT INTO keep VALUES (42)`));
      const tampered = { ...artifact, sha256: '0'.repeat(64) };
      await assert.rejects(
        adapter.restore(serviceContext(serviceAt(target.url), 'east'), testSource(io, place, tampered)),
        ArtifactMismatchError,
      );
      const tables = await withClient(target.url, (c) =>
        c.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`),
      );
      assert.deepEqual(
        tables.rows.map((r) => r.table_name),
        ['keep'],
        'pg_restore was stopped before its single transaction could commit',
      );
    });

    it('a cancelled snapshot stops pg_dump and ends its transaction', async () => {
      // The attachments keep pg_dump at work (blocked on its full pipe) when the abort comes.
      const controller = new AbortController();
      const ctx = serviceContext(serviceAt(source.url), 'east', { signal: controller.signal });
      const sink = testSink(io, place, uniqueName('cancelled'), 'orders', {
        beforeRead: async () => controller.abort(),
      });
      await assert.rejects(adapter.snapshot(ctx, sink), /pg_dump of .* failed \(cancelled\)/);
      await sessionsEnd(source.url, "pg_dump's and the exporting session to end");
    });
  });

  describe('failures', () => {
    let closedPort: number;

    before(async () => {
      closedPort = await freePort();
    });

    it('an unreachable database fails fast with its host and name, never its password', async () => {
      const url = `postgres://backup:s3cr%40t-pw@127.0.0.1:${closedPort}/orders_east?sslmode=disable`;
      const ctx = serviceContext(serviceAt(url), 'east');
      const started = Date.now();
      for (const call of [
        () => adapter.quiesce(ctx),
        () => adapter.marker(ctx),
        () => adapter.snapshot(ctx, testSink(io, place, 'unreachable', 'orders')),
        () => adapter.restore(ctx, testSource(io, place, { key: 'x', size: 0, sha256: '', contentType: '' })),
      ]) {
        await assert.rejects(call(), (err: Error) => {
          assert.match(err.message, /postgres service "orders" in east: cannot connect to/);
          assert.ok(
            err.message.includes(`postgres://backup@127.0.0.1:${closedPort}/orders_east`),
            err.message,
          );
          assert.match(err.message, /ECONNREFUSED/);
          assert.ok(!/s3cr/.test(err.message), `no password in: ${err.message}`);
          return true;
        });
      }
      assert.ok(Date.now() - started < 5000, 'a refused connection fails at once');
      const verified = await adapter.verify(ctx);
      assert.equal(verified.ok, false);
      assert.ok(!verified.detail.includes('s3cr'), verified.detail);
    });

    it("pg_dump's failure is reported with its stderr, scrubbed of the password", async () => {
      const db = await fresh();
      const role = uniqueName('limited').replace(/-/g, '_');
      const password = 'Sup3r-secret-pw';
      await withClient(db.url, (c) =>
        c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}';
          CREATE TABLE secrets (x int); REVOKE ALL ON secrets FROM PUBLIC`),
      );
      const url = new URL(db.url);
      url.username = role;
      url.password = password;
      const ctx = serviceContext(serviceAt(url.toString()), 'east');
      try {
        await assert.rejects(
          adapter.snapshot(ctx, testSink(io, place, uniqueName('denied'), 'orders')),
          (err: Error) => {
            assert.match(
              err.message,
              /^pg_dump of postgres:\/\/limited_[^@]+@127\.0\.0\.1:\d+\/\S+ failed \(exit 1\): /,
            );
            assert.match(err.message, /permission denied for table secrets/);
            assert.ok(!err.message.includes(password), err.message);
            return true;
          },
        );
      } finally {
        await withClient(db.url, (c) => c.query(`DROP TABLE secrets; DROP ROLE ${role}`));
      }
    });
  });
});
