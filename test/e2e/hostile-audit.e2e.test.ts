import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { AuditEvent, AuditVerification } from '../../infra/audit/audit.port';
import { hashEvent } from '../../infra/audit/audit-chain';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { startAppFixture } from '../support/app-fixture';
import { ApiHarness } from '../support/api-harness';
import { freshPostgres, type FreshDatabase } from '../support/sql-fixtures';
import { uniqueName } from '../support/stack';

/**
 * Hostile clients against the audit log (issue 14): requests that used to break the hash chain,
 * lose their event, run without one, or flood the log. Real worker, Temporal, S3 and databases.
 */

/** A JSON body as raw text: JSON.stringify would not let a test send `\ud800` the way a client can. */
const RAW_LONE_SURROGATE = '"\\ud800 and \\u0000 and \\u001b[2J"';

class Harness extends ApiHarness {
  async verify(api = this.api): Promise<AuditVerification> {
    const res = await this.http(api).get('/v1/audit/verify').set(this.as(this.fx.tokens.viewer)).expect(200);
    return res.body as AuditVerification;
  }

  async eventsOf(requestId: string, api = this.api): Promise<AuditEvent[]> {
    const res = await this.http(api)
      .get('/v1/audit?limit=1000')
      .set(this.as(this.fx.tokens.viewer))
      .expect(200);
    const all = (res.body as { items: AuditEvent[] }).items;
    return all.filter((e) => e.requestId === requestId);
  }

  async count(api = this.api): Promise<number> {
    let n = 0;
    let cursor: string | null = null;
    do {
      const q: string = `/v1/audit?limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await this.http(api).get(q).set(this.as(this.fx.tokens.viewer)).expect(200);
      const page = res.body as { items: AuditEvent[]; nextCursor: string | null };
      n += page.items.length;
      cursor = page.nextCursor;
    } while (cursor);
    return n;
  }

  async anonymousRefused(): Promise<number> {
    const text = (await this.http().get('/metrics').expect(200)).text;
    return text
      .split('\n')
      .filter((l) => l.startsWith('switchyard_http_anonymous_refused_total'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  }

  async operationIds(): Promise<string[]> {
    const res = await this.http()
      .get(`/v1/operations?app=${this.fx.app}`)
      .set(this.as(this.fx.tokens.viewer))
      .expect(200);
    const body = res.body as { items?: { id: string }[] } | { id: string }[];
    return (Array.isArray(body) ? body : (body.items ?? [])).map((o) => o.id);
  }
}

/** The fixture's configuration on another database, with its own sealed-segment prefix. */
function onDatabase(config: SwitchyardConfig, url: string): SwitchyardConfig {
  const prefix = `${uniqueName('pg-audit')}/`;
  const apps = Object.fromEntries(
    Object.entries(config.apps).map(([name, app]) => [
      name,
      { ...app, regions: app.regions.map((r) => ({ ...r, bucket: { ...r.bucket, prefix } })) },
    ]),
  );
  return { ...config, database: { url }, apps } as SwitchyardConfig;
}

/** RAW_LONE_SURROGATE's text as the audit log records it: each refused character as `\u{…}`. */
const ESCAPED_REASON = '\\u{D800} and \\u{0} and \\u{1B}[2J';

describe('hostile clients against the audit log', () => {
  let h: Harness;
  let pg: FreshDatabase | undefined;

  before(async () => {
    h = new Harness(await startAppFixture({ failoverApproval: { required: 1 } }));
    await h.start();
  });
  after(async () => {
    await h?.stop();
    await pg?.dispose();
  });

  it('an unauthenticated request with a lone surrogate in its reason leaves the chain verifying', async () => {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/failovers`)
      .set('Content-Type', 'application/json')
      .set('X-Request-Id', 'hostile-anonymous-1')
      .send(`{"to":"west","mode":"planned","reason":${RAW_LONE_SURROGATE}}`);
    assert.equal(res.status, 401, JSON.stringify(res.body));
    const v = await h.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    const sampled = await h.eventsOf('hostile-anonymous-1');
    assert.equal(sampled.length, 1, JSON.stringify(sampled));
    // What the client sent, escaped by the API (apps/api/common/audit-trail.ts); the store alone
    // would keep it as U+FFFD (test/integration/audit.test.ts).
    assert.equal(sampled[0]!.reason, ESCAPED_REASON);
  });

  it("an operator's own reason with a lone surrogate and NUL leaves the chain verifying", async () => {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/failovers`)
      .set(h.as(h.fx.tokens.operator))
      .set('Content-Type', 'application/json')
      .set('X-Request-Id', 'hostile-operator-1')
      .send(`{"to":"nowhere","mode":"planned","reason":${RAW_LONE_SURROGATE}}`);
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${JSON.stringify(res.body)}`);
    const events = await h.eventsOf('hostile-operator-1');
    // Each of its own events matches its hash, whatever an earlier test left in the log.
    for (const e of events) assert.equal(hashEvent(e), e.hash, `event ${e.sequence} vs its hash`);
    const v = await h.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.deepEqual(
      events.map((e) => [e.action, e.outcome, e.reason]),
      [
        ['request.received', 'info', ESCAPED_REASON],
        ['failover.request', 'refused', ESCAPED_REASON],
      ],
    );
  });

  it('a NUL in a reason is audited on PostgreSQL, and the chain verifies there', async () => {
    pg = await freshPostgres();
    const api = await h.extraApi(onDatabase(h.fx.config, pg.url));
    const res = await h
      .http(api)
      .post(`/v1/apps/${h.fx.app}/failovers`)
      .set(h.as(h.fx.tokens.operator))
      .set('X-Request-Id', 'hostile-pg-nul')
      .send({ to: 'nowhere', mode: 'planned', reason: 'before\u0000after' });
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${JSON.stringify(res.body)}`);
    const events = await h.eventsOf('hostile-pg-nul', api);
    assert.deepEqual(
      events.map((e) => [e.action, e.reason]),
      [
        ['request.received', 'before\\u{0}after'],
        ['failover.request', 'before\\u{0}after'],
      ],
    );
    const v = await h.verify(api);
    assert.equal(v.ok, true, JSON.stringify(v));
  });

  it('200 anonymous refusals at once: all 401, counted, sampled into a few rows, chain intact', async () => {
    const rowsBefore = await h.count();
    const countedBefore = await h.anonymousRefused();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        h
          .http()
          .post(`/v1/apps/${h.fx.app}/failovers`)
          .send({ to: 'west', mode: 'planned', reason: `flood ${i}` }),
      ),
    );
    assert.deepEqual(
      [...new Set(answers.map((r) => r.status))],
      [401],
      'every anonymous request is refused with 401',
    );
    assert.equal((await h.anonymousRefused()) - countedBefore, 200);
    const added = (await h.count()) - rowsBefore;
    assert.ok(added <= 2, `${added} audit rows for 200 anonymous refusals`);
    assert.equal((await h.verify()).ok, true);
  });

  it('fails closed: with the audit store refusing writes a failover gets 503 and nothing starts', async () => {
    const file = h.fx.config.database.url.replace(/^sqlite:/, '');
    const db = new Database(file);
    const before = await h.operationIds();
    try {
      db.exec(
        "create trigger audit_down before insert on audit_events begin select raise(abort, 'audit store down'); end",
      );
      const res = await h.postFailover('west', 'while the audit store is down');
      assert.deepEqual([res.status, res.body.error], [503, 'audit-unavailable'], JSON.stringify(res.body));
      assert.deepEqual(await h.operationIds(), before, 'no operation started');
    } finally {
      db.exec('drop trigger if exists audit_down');
      db.close();
    }
    assert.equal((await h.verify()).ok, true);
  });
});
