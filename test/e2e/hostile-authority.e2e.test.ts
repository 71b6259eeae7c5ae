import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ApprovalDecision } from '../../workflows/approval';
import { isTerminal } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';

/**
 * Authority that cannot be borrowed (issue 14, docs/security.md): a monitor token speaks for its
 * own vantage point only and cannot move the quorum's clock; reserved principal names cannot be
 * minted; an approval records the credential that made it; requests are rate-limited per
 * principal and per anonymous source; answers carry security headers.
 */
interface RegionView {
  region: string;
  state: string;
  votes: { byVantage: Record<string, { verdict: string }> };
}

describe('hostile client: authority that cannot be borrowed', () => {
  let h: ApiHarness;
  /** A second API on the same database and Temporal, with small rate limits. */
  let strict: NestExpressApplication;
  /** And a third with /metrics protected (api.metricsAccess: authenticated). */
  let guarded: NestExpressApplication;

  const report = (token: string, vantage: string, region: string, verdict: 'up' | 'down', at = new Date()) =>
    h
      .http()
      .post('/v1/monitor/reports')
      .set(h.as(token))
      .send({
        app: h.fx.app,
        vantage,
        region,
        verdict,
        at: at.toISOString(),
        latencyMs: 1,
        reason: verdict === 'up' ? 'HTTP 200' : 'HTTP 503',
      });

  async function region(name: string): Promise<RegionView> {
    const res = await h.http().get('/v1/regions').set(h.as(h.fx.tokens.viewer)).expect(200);
    const app = (res.body.items as { app: string; regions: RegionView[] }[]).find((a) => a.app === h.fx.app)!;
    return app.regions.find((r) => r.region === name)!;
  }

  before(async () => {
    const fx = await startAppFixture({
      ttl: 1,
      failoverApproval: { required: 2, roles: ['approver', 'admin'], excludeRequester: true },
    });
    // Three vantage points; damping off, so a region with a majority `up` is healthy at once.
    fx.config.apps[fx.app]!.monitoring.vantagePoints = ['east', 'west', 'third'];
    fx.config.apps[fx.app]!.monitoring.recoverAfterSeconds = 0;
    h = new ApiHarness(fx);
    await h.start();
    strict = await h.extraApi({
      ...fx.config,
      api: {
        ...fx.config.api,
        rateLimits: {
          principal: { limit: 5, windowSeconds: 60 },
          anonymous: { limit: 3, windowSeconds: 60 },
        },
      },
    });
    guarded = await h.extraApi({ ...fx.config, api: { ...fx.config.api, metricsAccess: 'authenticated' } });
  });
  after(() => h?.stop());

  it("a monitor token reports for its own vantage point only: forging another's is 403 and the region stays healthy", async () => {
    for (const v of ['east', 'west', 'third']) {
      const res = await report(h.fx.monitorToken(v), v, 'east', 'up');
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    await waitFor(async () => (await region('east')).state === 'healthy', {
      what: 'east healthy',
      timeoutMs: 10_000,
    });
    // east's monitor token speaks for west and third: two of three would make east `down`.
    for (const v of ['west', 'third']) {
      const forged = await report(h.fx.monitorToken('east'), v, 'east', 'down');
      assert.deepEqual(
        [forged.status, forged.body.error],
        [403, 'vantage-mismatch'],
        JSON.stringify(forged.body),
      );
    }
    const east = await region('east');
    assert.equal(east.state, 'healthy');
    assert.deepEqual(
      Object.fromEntries(Object.entries(east.votes.byVantage).map(([v, x]) => [v, x.verdict])),
      { east: 'up', west: 'up', third: 'up' },
    );
    // An admin token names no vantage point: it cannot report for any.
    const admin = await report(h.fx.tokens.admin, 'west', 'east', 'down');
    assert.deepEqual([admin.status, admin.body.error], [403, 'vantage-not-bound']);
    // A token minted for a vantage point is bound the same way.
    const minted = await h
      .http()
      .post('/v1/tokens')
      .set(h.as(h.fx.tokens.admin))
      .send({
        principal: 'probe-third',
        roles: ['monitor'],
        vantage: 'third',
        reason: 'second probe for third',
      });
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    assert.equal(minted.body.vantage, 'third');
    assert.equal((await report(minted.body.token, 'third', 'east', 'up')).status, 200);
    const other = await report(minted.body.token, 'west', 'east', 'down');
    assert.deepEqual([other.status, other.body.error], [403, 'vantage-mismatch']);
    assert.equal((await region('east')).state, 'healthy');
  });

  it("a report's `at` outside the clock skew is 422; the quorum orders by receive time, so later genuine reports count", async () => {
    const token = h.fx.monitorToken('west');
    const future = await report(token, 'west', 'west', 'down', new Date(Date.now() + 86_400_000));
    assert.deepEqual(
      [future.status, future.body.error],
      [422, 'report-clock-skew'],
      JSON.stringify(future.body),
    );
    assert.match(future.body.message, /30 s/);
    const past = await report(token, 'west', 'west', 'down', new Date(Date.now() - 86_400_000));
    assert.deepEqual([past.status, past.body.error], [422, 'report-clock-skew']);
    // Within the skew but ahead of the API's clock: it counts, and does not hide the next report.
    assert.equal((await report(token, 'west', 'west', 'down', new Date(Date.now() + 20_000))).status, 200);
    assert.equal((await region('west')).votes.byVantage.west!.verdict, 'down');
    assert.equal((await report(token, 'west', 'west', 'up')).status, 200);
    assert.equal(
      (await region('west')).votes.byVantage.west!.verdict,
      'up',
      'the later genuine report counts',
    );
  });

  it('refuses to mint tokens under reserved or configured principal names', async () => {
    const mint = (principal: string, roles = ['approver']) =>
      h
        .http()
        .post('/v1/tokens')
        .set(h.as(h.fx.tokens.admin))
        .send({ principal, roles, reason: 'hostile mint' });
    for (const name of ['system', 'System', 'system:automatic', 'anonymous', 'monitor:east']) {
      const res = await mint(name);
      assert.deepEqual(
        [res.status, res.body.error],
        [422, 'reserved-principal'],
        `${name}: ${JSON.stringify(res.body)}`,
      );
    }
    // bob is an approver from the configuration: a token under his name would be a second bob.
    for (const name of ['bob', 'monitor-east']) {
      const res = await mint(name);
      assert.deepEqual(
        [res.status, res.body.error],
        [409, 'principal-from-configuration'],
        JSON.stringify(res.body),
      );
    }
    const tokens = await h.http().get('/v1/tokens').set(h.as(h.fx.tokens.admin)).expect(200);
    assert.deepEqual(
      (tokens.body.items as { principal: string }[])
        .map((t) => t.principal)
        .filter((p) => p !== 'probe-third'),
      [],
    );
  });

  it('an approval records the credential that made it, in the decision and in the audit log; the new token is no-store', async () => {
    const minted = await h
      .http()
      .post('/v1/tokens')
      .set(h.as(h.fx.tokens.admin))
      .send({ principal: 'dave', roles: ['approver'], reason: 'second approver' });
    assert.equal(minted.status, 201);
    assert.equal(minted.headers['cache-control'], 'no-store');
    const id = await h.requestFailover('west', 'credential test');
    await h.awaitingRound(id, 1);
    const first = await h.decide(id, minted.body.token, 'approve', 'fine by dave');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const second = await h.decide(id, h.fx.tokens.approver, 'reject', 'not now');
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const done = await h.phase(id, isTerminal, 'to end');
    assert.equal(done.phase, 'Rejected');
    const decisions = done.approval!.decisions as ApprovalDecision[];
    assert.deepEqual(
      decisions.map((d) => [d.principal, d.decision, d.credential]),
      [
        ['dave', 'approve', `token:${minted.body.id}`],
        // bob is the fourth bootstrap token of the fixture's configuration.
        ['bob', 'reject', 'bootstrap:3'],
      ],
    );
    const events = await h.audit(`target=${encodeURIComponent(`operation:${id}`)}`);
    const audited = events
      .filter((e) => e.action === 'approval.approved' || e.action === 'approval.rejected')
      .map((e) => [e.actor, e.details.authenticatedWith]);
    assert.deepEqual(audited, [
      ['dave', `token:${minted.body.id}`],
      ['bob', 'bootstrap:3'],
    ]);
    const requests = events
      .filter((e) => e.action === 'approval.decide' && e.outcome === 'accepted')
      .map((e) => [e.actor, e.details.authenticatedWith]);
    assert.deepEqual(requests, [
      ['dave', `token:${minted.body.id}`],
      ['bob', 'bootstrap:3'],
    ]);
  });

  it('rate-limits per principal and per anonymous source: 429 rate-limited with Retry-After', async () => {
    const get = (token?: string) => {
      const req = h.http(strict).get(`/v1/apps/${h.fx.app}`);
      return token ? req.set(h.as(token)) : req;
    };
    for (let i = 0; i < 5; i++) assert.equal((await get(h.fx.tokens.viewer)).status, 200);
    const limited = await get(h.fx.tokens.viewer);
    assert.deepEqual(
      [limited.status, limited.body.error],
      [429, 'rate-limited'],
      JSON.stringify(limited.body),
    );
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`);
    // Another principal has its own budget.
    assert.equal((await get(h.fx.tokens.operator)).status, 200);
    // Without valid credentials: a wrong token counts against the source like none at all.
    assert.equal((await get()).status, 401);
    assert.equal((await get('not-a-token')).status, 401);
    assert.equal((await get()).status, 401);
    const anonymous = await get('still-not-a-token');
    assert.deepEqual([anonymous.status, anonymous.body.error], [429, 'rate-limited']);
    assert.ok(Number(anonymous.headers['retry-after']) > 0);
  });

  it('sends security headers, keeps /docs working, and protects /metrics when configured', async () => {
    const res = await h.http().get(`/v1/apps/${h.fx.app}`).set(h.as(h.fx.tokens.viewer)).expect(200);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.match(res.headers['content-security-policy'] ?? '', /default-src 'none'/);
    assert.match(res.headers['strict-transport-security'] ?? '', /max-age=/);
    assert.equal(res.headers['x-powered-by'], undefined);
    const docs = await h.http().get('/docs/').expect(200);
    assert.match(docs.headers['content-type'] ?? '', /text\/html/);
    assert.match(docs.headers['content-security-policy'] ?? '', /script-src 'self' 'unsafe-inline'/);
    assert.equal(docs.headers['x-content-type-options'], 'nosniff');

    assert.equal((await h.http().get('/metrics')).status, 200, 'public by default');
    const anonymous = await h.http(guarded).get('/metrics');
    assert.deepEqual([anonymous.status, anonymous.body.error], [401, 'unauthorized']);
    const wrong = await h.http(guarded).get('/metrics').set(h.as('not-a-token'));
    assert.deepEqual([wrong.status, wrong.body.error], [401, 'unauthorized']);
    const scraped = await h
      .http(guarded)
      .get('/metrics')
      .set(h.as(h.fx.monitorToken('east')));
    assert.equal(scraped.status, 200);
    assert.match(scraped.text, /switchyard_http_requests_total/);
    assert.equal((await h.http(guarded).get('/metrics').set(h.as(h.fx.tokens.viewer))).status, 200);
  });
});
