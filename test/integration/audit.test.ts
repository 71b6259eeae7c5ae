import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { AuditEvent } from '../../infra/audit/audit.port';
import { hashEvent } from '../../infra/audit/audit-chain';
import { toRow } from '../../infra/audit/audit-rows';
import { AuditSealer } from '../../infra/audit/audit-sealer';
import { AuditInputError, SqlAuditStore } from '../../infra/audit/sql-audit.store';
import { SqlTokenStore, TokenInputError } from '../../infra/auth/sql-token.store';
import { type Database, openDatabase } from '../../infra/database/database';
import { freePort } from '../../infra/stack/free-port';
import { localS3Client } from '../../infra/stack/versitygw.component';
import { objectRetention } from '../../infra/storage/object-lock';
import {
  appendFromProcesses,
  type FreshDatabaseFactory,
  freshPostgres,
  freshSqlite,
  regionsConfig,
} from '../support/sql-fixtures';
import { stack, uniqueName } from '../support/stack';

/** Opens a fresh database for one test and always closes and removes it. */
async function withDatabase(
  fresh: FreshDatabaseFactory,
  fn: (database: Database, url: string) => Promise<void>,
) {
  const target = await fresh();
  try {
    const database = await openDatabase(target.url);
    try {
      await fn(database, target.url);
    } finally {
      await database.close();
    }
  } finally {
    await target.dispose();
  }
}

async function appendMany(store: SqlAuditStore, n: number, from = 0): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (let i = from; i < from + n; i++) {
    events.push(
      await store.append({
        actor: i % 3 === 0 ? 'alice' : 'bob',
        action: i % 2 === 0 ? 'failover.requested' : 'approval.approved',
        target: `app:${i % 4 === 0 ? 'shop' : 'blog'}`,
        outcome: 'accepted',
        reason: `reason ${i}`,
        details: { i, nested: { list: [i, { deep: true }] } },
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      }),
    );
  }
  return events;
}

/** Rewrites rows from `sequence` on so that the chain is valid again: what a careful attacker does. */
/** Strings that SQLite or PostgreSQL give back differently from what a naive hash covered. */
const HOSTILE_STRINGS = [
  '\ud800',
  'a\udfffb',
  'x\u0000y',
  '\u0000',
  '\u0001\u001b[31m\u007f\u0085\u2028',
  'e\u0301',
  '\u202eevil\u202c',
  '\ud83d\ude00 ok',
  '\ufeff',
  'tab\tnew\r\nline',
  '\udc00\ud800',
];

async function rechainFrom(database: Database, sequence: number): Promise<void> {
  const store = new SqlAuditStore(database);
  let previousHash = sequence === 1 ? '0'.repeat(64) : (await eventAt(store, sequence - 1)).hash;
  for (let s = sequence; ; s++) {
    const page = await store.list({ cursor: Buffer.from(String(s - 1)).toString('base64url'), limit: 1 });
    const e = page.items[0];
    if (!e || e.sequence !== s) return;
    const fixed = { ...e, previousHash };
    fixed.hash = hashEvent(fixed);
    await database.db.updateTable('audit_events').set(toRow(fixed)).where('sequence', '=', s).execute();
    previousHash = fixed.hash;
  }
}

async function eventAt(store: SqlAuditStore, sequence: number): Promise<AuditEvent> {
  const cursor = sequence > 1 ? Buffer.from(String(sequence - 1)).toString('base64url') : undefined;
  const e = (await store.list({ cursor, limit: 1 })).items[0];
  assert.equal(e?.sequence, sequence);
  return e;
}

function auditSuite(dialect: 'sqlite' | 'postgres', fresh: FreshDatabaseFactory): void {
  describe(`audit log and tokens on ${dialect}`, () => {
    it('appends a chain and lists it with filters and cursor paging', () =>
      withDatabase(fresh, async (database) => {
        assert.equal(database.dialect, dialect);
        const store = new SqlAuditStore(database);
        const appended = await appendMany(store, 25);
        assert.deepEqual(
          appended.map((e) => e.sequence),
          Array.from({ length: 25 }, (_, i) => i + 1),
        );
        assert.equal(appended[0]!.previousHash, '0'.repeat(64));
        appended.slice(1).forEach((e, i) => assert.equal(e.previousHash, appended[i]!.hash));

        const seen: AuditEvent[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list({ limit: 10, cursor });
          seen.push(...page.items);
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (cursor);
        assert.equal(pages, 3);
        assert.deepEqual(seen, appended, 'paging returns every event once, as appended');

        const alice = await store.list({ actor: 'alice' });
        assert.deepEqual(
          alice.items.map((e) => e.sequence),
          appended.filter((e) => e.actor === 'alice').map((e) => e.sequence),
        );
        const shopFailovers = await store.list({ action: 'failover.requested', target: 'app:shop' });
        assert.ok(shopFailovers.items.length > 0);
        assert.ok(
          shopFailovers.items.every((e) => e.action === 'failover.requested' && e.target === 'app:shop'),
        );
        const window = await store.list({ since: '2026-01-01T00:00:05Z', until: '2026-01-01T00:00:09.000Z' });
        assert.deepEqual(
          window.items.map((e) => e.sequence),
          [6, 7, 8, 9, 10],
        );
        const filteredPage = await store.list({ actor: 'bob', limit: 4 });
        assert.equal(filteredPage.items.length, 4);
        const next = await store.list({ actor: 'bob', limit: 4, cursor: filteredPage.nextCursor! });
        assert.ok(next.items[0]!.sequence > filteredPage.items[3]!.sequence);

        await assert.rejects(store.list({ cursor: 'not-a-cursor' }), AuditInputError);
        await assert.rejects(store.list({ limit: 0 }), AuditInputError);
        await assert.rejects(store.list({ since: 'yesterday' }), AuditInputError);
        assert.equal((await store.list({ limit: 5000 })).items.length, 25, 'a limit above 1000 is capped');
        await assert.rejects(
          store.append({ actor: '', action: 'x', target: 'y', outcome: 'info' }),
          AuditInputError,
        );
      }));

    it('redacts secret-named details before hashing and keeps the rest', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database);
        const e = await store.append({
          actor: 'admin',
          action: 'token.created',
          target: 'token:abc',
          outcome: 'succeeded',
          details: {
            tokenId: 'abc',
            token: 'sy_live_123',
            nested: { password: 'p', Authorization: 'Bearer x' },
          },
        });
        assert.deepEqual(e.details, {
          tokenId: 'abc',
          token: '[redacted]',
          nested: { password: '[redacted]', Authorization: '[redacted]' },
        });
        const row = await database.db.selectFrom('audit_events').select('details').executeTakeFirstOrThrow();
        assert.ok(!row.details.includes('sy_live_123') && !row.details.includes('Bearer x'));
        assert.equal((await store.verify()).ok, true);
      }));

    it('hashes exactly what it gives back for any string: lone surrogates, NUL, controls, non-NFC', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database);
        const appended: AuditEvent[] = [];
        // The canonical form is lossy (NUL and a lone surrogate both become U+FFFD): keys stay apart by index.
        for (const s of HOSTILE_STRINGS) {
          appended.push(
            await store.append({
              actor: `anonymous${s}`,
              action: `http.post${s}`,
              target: `path:/v1/apps/${s}/failovers`,
              reason: s,
              requestId: `req${s}`,
              outcome: 'refused',
              details: { [s]: s, nested: [s, { inner: s }], message: `bad ${s}` },
              idempotencyKey: `key${appended.length}${s}`,
            }),
          );
        }
        const v = await store.verify();
        assert.deepEqual([v.ok, v.checked, v.firstBreak], [true, HOSTILE_STRINGS.length, null]);
        const listed = await store.list({ limit: 1000 });
        assert.deepEqual(listed.items, appended, 'list() returns exactly what append() hashed and returned');
        for (const e of listed.items) assert.equal(hashEvent(e), e.hash);
        // What was stored holds no NUL and no lone surrogate: both would not survive a round trip.
        const text = JSON.stringify(listed.items.map((e) => [e.actor, e.target, e.reason, e.details]));
        assert.ok(!/\\u0000|\\ud[89a-f][0-9a-f]{2}/i.test(text), text);
        // A lookup with the raw string finds the events stored under its canonical form (a lone
        // surrogate and NUL share one: U+FFFD).
        const byTarget = await store.list({ target: `path:/v1/apps/${HOSTILE_STRINGS[0]}/failovers` });
        assert.deepEqual(
          byTarget.items.map((e) => e.sequence),
          [1, 4],
        );
        // The same idempotency key, hostile, still finds its one event.
        const again = await store.append({
          actor: 'x',
          action: 'y',
          target: 'z',
          outcome: 'info',
          idempotencyKey: `key1${HOSTILE_STRINGS[1]}`,
        });
        assert.deepEqual(again, appended[1]);
        // Non-NFC text is kept as given (canonical composition would change what the caller wrote).
        const nfd = appended.find((e) => e.reason === 'e\u0301')!;
        assert.equal(nfd.reason, 'e\u0301');
      }));

    it('stores one event per idempotency key', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database);
        const first = await store.append({
          actor: 'system',
          action: 'operation.step.completed',
          target: 'operation:x',
          outcome: 'succeeded',
          idempotencyKey: 'op-x-step-1',
        });
        const again = await store.append({
          actor: 'someone-else',
          action: 'operation.step.completed',
          target: 'operation:x',
          outcome: 'failed',
          idempotencyKey: 'op-x-step-1',
        });
        assert.deepEqual(again, first);
        const other = await store.append({
          actor: 'system',
          action: 'operation.step.completed',
          target: 'operation:x',
          outcome: 'succeeded',
          idempotencyKey: 'op-x-step-2',
        });
        assert.equal(other.sequence, 2);
        assert.equal((await store.list({})).items.length, 2);
      }));

    it('verifies an intact chain, and an empty one', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database, { verifyPageSize: 7 });
        assert.deepEqual(await store.verify(), {
          ok: true,
          checked: 0,
          lastSequence: 0,
          sealedThrough: 0,
          firstBreak: null,
          unreadableRegions: [],
          regionMismatches: [],
        });
        await appendMany(store, 30);
        const v = await store.verify();
        assert.equal(v.ok, true);
        assert.equal(v.checked, 30);
        assert.equal(v.lastSequence, 30);
      }));

    it('names the changed row: hash-mismatch at k', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database, { verifyPageSize: 4 });
        await appendMany(store, 12);
        await database.db
          .updateTable('audit_events')
          .set({ actor: 'mallory' })
          .where('sequence', '=', 9)
          .execute();
        const v = await store.verify();
        assert.equal(v.ok, false);
        assert.deepEqual([v.firstBreak?.sequence, v.firstBreak?.reason], [9, 'hash-mismatch']);
        assert.equal(v.lastSequence, 12);

        await database.db
          .updateTable('audit_events')
          .set({ details: '{"i":2}' })
          .where('sequence', '=', 3)
          .execute();
        assert.deepEqual((await store.verify()).firstBreak?.sequence, 3);
      }));

    it('names a deleted row: sequence-gap at k', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database, { verifyPageSize: 4 });
        await appendMany(store, 12);
        await database.db.deleteFrom('audit_events').where('sequence', '=', 5).execute();
        const v = await store.verify();
        assert.deepEqual([v.firstBreak?.sequence, v.firstBreak?.reason], [5, 'sequence-gap']);
      }));

    it('names the first of two swapped rows', () =>
      withDatabase(fresh, async (database) => {
        const store = new SqlAuditStore(database);
        const events = await appendMany(store, 12);
        const [a, b] = [events[3]!, events[7]!];
        // Each row takes the other's whole content, its stored hashes included.
        await database.db.deleteFrom('audit_events').where('sequence', 'in', [4, 8]).execute();
        await database.db
          .insertInto('audit_events')
          .values([toRow({ ...b, sequence: 4 }), toRow({ ...a, sequence: 8 })])
          .execute();
        const v = await store.verify();
        assert.deepEqual([v.firstBreak?.sequence, v.firstBreak?.reason], [4, 'hash-mismatch']);

        // Re-hashed in place, the swap still breaks the links.
        await rechainOnly(database, 4);
        assert.deepEqual((await store.verify()).firstBreak?.sequence, 4);
      }));

    it('seals to every region, idempotently, and catches truncation and rewritten history', async () => {
      const prefix = `${uniqueName('audit')}/`;
      await withDatabase(fresh, async (database) => {
        const sealer = new AuditSealer(database.db, regionsConfig(prefix), { segmentSize: 10 });
        const store = new SqlAuditStore(database, { sealer, verifyPageSize: 6 });
        try {
          await appendMany(store, 25);
          const first = await sealer.seal();
          assert.equal(first.ok, true);
          assert.equal(first.sealedThrough, 25);
          assert.deepEqual(
            first.segments.map((s) => [s.fromSequence, s.toSequence]),
            [
              [1, 10],
              [11, 20],
              [21, 25],
            ],
          );
          assert.deepEqual(
            first.targets.map((t) => [t.regions, t.written, t.sealedThrough]),
            [
              [['east'], 3, 25],
              [['west'], 3, 25],
            ],
          );
          const keys = await segmentKeys(prefix);
          for (const region of ['east', 'west']) {
            assert.deepEqual(keys[region], [
              `${prefix}audit/segments/000000000001-000000000010.json`,
              `${prefix}audit/segments/000000000011-000000000020.json`,
              `${prefix}audit/segments/000000000021-000000000025.json`,
            ]);
          }
          const again = await sealer.seal();
          assert.deepEqual(again.segments, []);
          assert.ok(again.targets.every((t) => t.written === 0 && t.copied === 0));

          await appendMany(store, 3, 25);
          assert.deepEqual((await sealer.seal()).segments, [{ fromSequence: 26, toSequence: 28 }]);
          const ok = await store.verify();
          assert.deepEqual([ok.ok, ok.checked, ok.sealedThrough, ok.unreadableRegions], [true, 28, 28, []]);

          // A careful attacker rewrites row 14 and re-chains everything after it: only the seals tell.
          await database.db
            .updateTable('audit_events')
            .set({ reason: 'nothing to see' })
            .where('sequence', '=', 14)
            .execute();
          assert.deepEqual(pick(await store.verify()), [14, 'hash-mismatch']);
          await rechainFrom(database, 14);
          const rewritten = await store.verify();
          assert.deepEqual(pick(rewritten), [14, 'sealed-mismatch']);
          assert.match(rewritten.firstBreak!.message, /reason/);
        } finally {
          sealer.close();
        }
      });
    });

    it('locks sealed segments, names the region whose copy was changed, and never spreads a bad copy', async () => {
      const prefix = `${uniqueName('audit')}/`;
      await withDatabase(fresh, async (database) => {
        const sealer = new AuditSealer(database.db, regionsConfig(prefix), { segmentSize: 10 });
        const store = new SqlAuditStore(database, { sealer });
        try {
          await appendMany(store, 20);
          assert.equal((await sealer.seal()).ok, true);
          const first = `${prefix}audit/segments/000000000001-000000000010.json`;
          // The stack's buckets have Object Lock: every sealed copy carries a compliance retention.
          for (const region of ['east', 'west']) {
            const r = await retentionOf(region, first);
            assert.equal(r?.mode, 'COMPLIANCE', `${region}: ${JSON.stringify(r)}`);
            assert.ok(Date.parse(r!.retainUntil!) > Date.now() + 86_400_000, r!.retainUntil);
          }
          assert.equal((await store.verify()).ok, true);

          // Someone with write access to east's bucket puts a new version of a segment.
          const forged = JSON.parse(await objectText('east', first)) as { events: AuditEvent[] };
          forged.events[3]!.reason = 'nothing to see';
          await putObjectText('east', first, JSON.stringify(forged));
          const v = await store.verify();
          assert.equal(v.ok, false);
          assert.equal(v.firstBreak, null, 'the database agrees with west: it was not changed');
          assert.deepEqual(
            v.regionMismatches.map((m) => [m.region, m.sequence]),
            [['east', 4]],
          );
          assert.match(v.regionMismatches[0]!.message, /reason/);

          // West loses its copy of the first segment, whose only other copy is east's forged one:
          // the sealer must not copy it, and still seals what is new.
          await deleteObject('west', first);
          await appendMany(store, 3, 20);
          const report = await sealer.seal();
          assert.equal(report.ok, false);
          assert.deepEqual(report.segments, [{ fromSequence: 21, toSequence: 23 }]);
          const west = report.targets.find((t) => t.regions.includes('west'))!;
          assert.equal(west.copied, 0);
          assert.match(west.error ?? '', /000000000001-000000000010\.json/);
          assert.deepEqual(
            report.refused.map((r) => [r.segment, r.from]),
            [['000000000001-000000000010.json', ['east']]],
          );
          assert.match(report.refused[0]!.message, /east: event 4 differs from the database \(.*reason/);
          assert.equal((await segmentKeys(prefix)).west!.includes(first), false, 'no bad copy in west');
          const after = await store.verify();
          assert.equal(after.ok, false);
          assert.deepEqual(
            after.regionMismatches.map((m) => [m.region, m.segment, m.sequence]),
            [['east', '000000000001-000000000010.json', 4]],
          );
          assert.equal(after.firstBreak, null);
          assert.equal(after.sealedThrough, 23);
        } finally {
          sealer.close();
        }
      });
    });

    it('detects deleted newest rows from the seals, also with one region unreachable', async () => {
      const prefix = `${uniqueName('audit')}/`;
      await withDatabase(fresh, async (database) => {
        const sealer = new AuditSealer(database.db, regionsConfig(prefix), { segmentSize: 10 });
        const closedPort = await freePort();
        const westDown = new AuditSealer(
          database.db,
          regionsConfig(prefix, { west: `http://127.0.0.1:${closedPort}` }),
          { segmentSize: 10 },
        );
        try {
          const store = new SqlAuditStore(database, { sealer });
          await appendMany(store, 15);
          await sealer.seal();

          // West is down while more events are sealed: east alone gets 16..22.
          await appendMany(store, 7, 15);
          const partial = await westDown.seal();
          assert.equal(partial.ok, false);
          const [east, west] = partial.targets;
          assert.deepEqual([east?.ok, east?.written, east?.sealedThrough], [true, 1, 22]);
          assert.equal(west?.ok, false);
          assert.ok(west?.error);

          const viaEast = new SqlAuditStore(database, { sealer: westDown });
          const v = await viaEast.verify();
          assert.deepEqual([v.ok, v.sealedThrough, v.unreadableRegions], [true, 22, ['west']]);

          // West is back: it gets east's segment byte for byte.
          const healed = await sealer.seal();
          assert.deepEqual(
            healed.targets.map((t) => [t.regions[0], t.copied, t.written, t.sealedThrough]),
            [
              ['east', 0, 0, 22],
              ['west', 1, 0, 22],
            ],
          );
          const name = `${prefix}audit/segments/000000000016-000000000022.json`;
          assert.equal(await objectText('east', name), await objectText('west', name));

          await database.db.deleteFrom('audit_events').where('sequence', '>=', 19).execute();
          for (const s of [store, viaEast]) {
            const truncated = await s.verify();
            assert.equal(truncated.ok, false);
            assert.deepEqual(pick(truncated), [19, 'missing-sealed-events']);
            assert.equal(truncated.lastSequence, 18);
          }
          assert.deepEqual((await viaEast.verify()).unreadableRegions, ['west']);
        } finally {
          sealer.close();
          westDown.close();
        }
      });
    });

    it('keeps the chain whole with two processes creating the schema and appending at once', async () => {
      // Not withDatabase: the children must be the first to open (and migrate) the database.
      const target = await fresh();
      try {
        await appendFromProcesses(target.url, ['proc-a', 'proc-b'], 200);
        const database = await openDatabase(target.url);
        try {
          const store = new SqlAuditStore(database);
          const v = await store.verify();
          assert.deepEqual([v.ok, v.checked, v.lastSequence, v.firstBreak], [true, 400, 400, null]);
          const count = await database.db
            .selectFrom('audit_events')
            .select((eb) => [eb.fn.countAll().as('n'), eb.fn.count('sequence').distinct().as('distinct')])
            .executeTakeFirstOrThrow();
          assert.deepEqual([Number(count.n), Number(count.distinct)], [400, 400]);
          for (const actor of ['proc-a', 'proc-b']) {
            assert.equal((await store.list({ actor, limit: 1000 })).items.length, 200);
          }
        } finally {
          await database.close();
        }
      } finally {
        await target.dispose();
      }
    });

    it('creates, finds, lists and revokes API tokens', () =>
      withDatabase(fresh, async (database) => {
        let now = '2026-06-01T00:00:01.000Z';
        const tokens = new SqlTokenStore(database, () => new Date(now));
        const sha = (c: string) => c.repeat(64);
        const a = await tokens.create({
          principal: 'ci',
          roles: ['operator', 'viewer'],
          sha256: sha('a'),
          createdBy: 'admin',
        });
        now = '2026-06-01T00:00:02.000Z';
        const b = await tokens.create({
          principal: 'bob',
          roles: ['approver'],
          sha256: sha('b'),
          createdBy: 'admin',
        });
        assert.match(a.id, /^[a-z2-7]{12}$/);
        assert.notEqual(a.id, b.id);
        assert.deepEqual(a, {
          id: a.id,
          principal: 'ci',
          roles: ['operator', 'viewer'],
          createdAt: '2026-06-01T00:00:01.000Z',
          createdBy: 'admin',
          revokedAt: null,
          revokedBy: null,
          vantage: null,
        });
        assert.deepEqual(await tokens.findActiveBySha256(sha('a')), a);
        await assert.rejects(
          tokens.create({ principal: 'x', roles: ['viewer'], sha256: sha('a'), createdBy: 'admin' }),
          TokenInputError,
        );
        await assert.rejects(
          tokens.create({ principal: 'x', roles: [], sha256: sha('c'), createdBy: 'admin' }),
          TokenInputError,
        );
        assert.deepEqual(await tokens.list(), [a, b]);

        now = '2026-06-01T00:00:03.000Z';
        const revoked = await tokens.revoke(a.id, 'carol');
        assert.deepEqual([revoked?.revokedAt, revoked?.revokedBy], ['2026-06-01T00:00:03.000Z', 'carol']);
        now = '2026-06-01T00:00:04.000Z';
        const twice = await tokens.revoke(a.id, 'dave');
        assert.deepEqual(twice, revoked, 'revoking twice keeps the first revocation');
        assert.equal(await tokens.revoke('nosuchtoken1', 'carol'), null);
        assert.equal(await tokens.findActiveBySha256(sha('a')), null);
        assert.deepEqual(await tokens.list(), [b]);
        assert.deepEqual(await tokens.list({ includeRevoked: true }), [revoked, b]);
        // A monitor token names its vantage point; only a monitor token does.
        const probe = await tokens.create({
          principal: 'probe-north',
          roles: ['monitor'],
          sha256: sha('d'),
          createdBy: 'admin',
          vantage: 'north',
        });
        assert.equal(probe.vantage, 'north');
        assert.deepEqual(await tokens.findActiveBySha256(sha('d')), probe);
        await assert.rejects(
          tokens.create({ principal: 'probe', roles: ['monitor'], sha256: sha('e'), createdBy: 'admin' }),
          TokenInputError,
        );
        await assert.rejects(
          tokens.create({
            principal: 'op',
            roles: ['operator'],
            sha256: sha('f'),
            createdBy: 'admin',
            vantage: 'x',
          }),
          TokenInputError,
        );
        assert.equal(await tokens.findActiveBySha256(sha('c')), null);
      }));
  });
}

/** Re-hashes one row in place (its own hash only): content and hash agree, links do not. */
async function rechainOnly(database: Database, sequence: number): Promise<void> {
  const e = await eventAt(new SqlAuditStore(database), sequence);
  await database.db
    .updateTable('audit_events')
    .set({ hash: hashEvent(e) })
    .where('sequence', '=', sequence)
    .execute();
}

function pick(v: { firstBreak: { sequence: number; reason: string } | null }): [number?, string?] {
  return [v.firstBreak?.sequence, v.firstBreak?.reason];
}

async function segmentKeys(prefix: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const region of stack().s3) {
    const s3 = localS3Client(region);
    try {
      const res = await s3.send(
        new ListObjectsV2Command({ Bucket: region.bucket, Prefix: `${prefix}audit/segments/` }),
      );
      out[region.region] = (res.Contents ?? []).map((o) => o.Key!).sort();
    } finally {
      s3.destroy();
    }
  }
  return out;
}

async function objectText(regionName: string, key: string): Promise<string> {
  const region = stack().s3.find((r) => r.region === regionName)!;
  const s3 = localS3Client(region);
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: region.bucket, Key: key }));
    return await res.Body!.transformToString('utf8');
  } finally {
    s3.destroy();
  }
}

async function putObjectText(regionName: string, key: string, body: string): Promise<void> {
  const region = stack().s3.find((r) => r.region === regionName)!;
  const s3 = localS3Client(region);
  try {
    await s3.send(new PutObjectCommand({ Bucket: region.bucket, Key: key, Body: body }));
  } finally {
    s3.destroy();
  }
}

async function deleteObject(regionName: string, key: string): Promise<void> {
  const region = stack().s3.find((r) => r.region === regionName)!;
  const s3 = localS3Client(region);
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: region.bucket, Key: key }));
  } finally {
    s3.destroy();
  }
}

async function retentionOf(
  regionName: string,
  key: string,
): Promise<{ mode?: string; retainUntil?: string } | null> {
  const region = stack().s3.find((r) => r.region === regionName)!;
  const s3 = localS3Client(region);
  try {
    return await objectRetention(s3, region.bucket, key, undefined);
  } finally {
    s3.destroy();
  }
}

auditSuite('sqlite', freshSqlite);
auditSuite('postgres', freshPostgres);
