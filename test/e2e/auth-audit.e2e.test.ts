import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { sha256Hex } from '../../apps/api/common/auth.guard';
import type { AuditVerification } from '../../infra/audit/audit.port';
import { oidcSchema } from '../../infra/auth/jwt.verifier';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { startAppFixture } from '../support/app-fixture';
import { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/stack';

/**
 * Who may call what, API tokens, OIDC bearer JWTs and the tamper-evident audit log, end to end:
 * real worker, real Temporal, the API listening on a loopback port (the CLI talks to it).
 */

type Who = 'none' | 'viewer' | 'operator' | 'approver' | 'admin' | 'monitor';
const WHO: Who[] = ['none', 'viewer', 'operator', 'approver', 'admin', 'monitor'];
/** 'allowed': anything but 401/403 and below 500. */
type Expect = number | 'allowed';

/** The shared harness, listening on loopback for the CLI, plus what these tests need. */
class Harness extends ApiHarness {
  override start(): Promise<void> {
    return super.start({ listen: true });
  }

  token(who: Exclude<Who, 'none'>): string {
    return who === 'monitor' ? this.fx.monitorToken('east') : this.fx.tokens[who];
  }

  /** Rejects the operation (as bob) once it awaits approval, and waits for it to end. */
  async rejectAndFinish(id: string): Promise<OperationStatus> {
    await waitFor(async () => (await this.operation(id)).phase === 'AwaitingApproval', {
      what: `operation ${id} awaiting approval`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    await this.http()
      .post(`/v1/operations/${id}/approvals`)
      .set(this.as(this.fx.tokens.approver))
      .send({ decision: 'reject', comment: 'test cleanup' })
      .expect(200);
    const done = await waitFor(
      async () => {
        const op = await this.operation(id);
        return isTerminal(op.phase) ? op : false;
      },
      { what: `operation ${id} to finish`, timeoutMs: 60_000, intervalMs: 100 },
    );
    // The operation's last audit event is appended after its terminal phase is published.
    await waitFor(
      async () =>
        (await this.audit()).some((e) => e.action === 'operation.finished' && e.target === `operation:${id}`),
      { what: `operation.finished of ${id} in the audit log`, timeoutMs: 30_000, intervalMs: 100 },
    );
    return done;
  }

  async verify(): Promise<AuditVerification> {
    const res = await this.http().get('/v1/audit/verify').set(this.as(this.fx.tokens.viewer)).expect(200);
    return res.body as AuditVerification;
  }
}

function checkStatus(what: string, status: number, want: Expect, body: unknown): void {
  const msg = `${what}: ${status} ${JSON.stringify(body)}`;
  if (want === 'allowed') {
    assert.ok(status !== 401 && status !== 403 && status < 500, msg);
  } else {
    assert.equal(status, want, msg);
  }
}

describe('authorisation, tokens, OIDC and the audit log', () => {
  let h: Harness;
  const NO_OP = () => `${h.fx.app}-00000000-0000-4000-8000-000000000000`;

  before(async () => {
    const fx = await startAppFixture({ failoverApproval: { required: 1 } });
    h = new Harness(fx);
    await h.start();
  });
  after(() => h?.stop());

  it('answers every route of the OpenAPI document for each role exactly as the matrix says', async () => {
    const { fx } = h;
    let operationId: string | undefined;

    interface Row {
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
      path: string;
      url: () => string;
      body?: () => object;
      expect: Record<Who, Expect>;
      /** Public routes are not in the OpenAPI document. */
      public?: true;
      /** Awaited after an accepted request, before the next role's (an asynchronous effect). */
      settled?: () => Promise<unknown>;
    }
    const all = (e: Expect): Record<Who, Expect> => ({
      none: e,
      viewer: e,
      operator: e,
      approver: e,
      admin: e,
      monitor: e,
    });
    // A monitor token reports region health and nothing else, not even reading.
    const read = (e: Expect = 200): Record<Who, Expect> => ({ ...all(e), none: 401, monitor: 403 });
    const adminOnly = (e: Expect): Record<Who, Expect> => ({ ...all(403), none: 401, admin: e });
    const operatorOnly = (e: Expect): Record<Who, Expect> => ({ ...adminOnly(e), operator: e });
    const SCHEDULES = () => `/v1/apps/${fx.app}/schedules`;

    // Order matters only in that the failover row runs before GET /v1/operations/{id}.
    const rows: Row[] = [
      { method: 'GET', path: '/healthz', url: () => '/healthz', expect: all(200), public: true },
      { method: 'GET', path: '/metrics', url: () => '/metrics', expect: all(200), public: true },
      { method: 'GET', path: '/docs', url: () => '/docs', expect: all(200), public: true },
      {
        method: 'GET',
        path: '/docs/openapi.json',
        url: () => '/docs/openapi.json',
        expect: all(200),
        public: true,
      },
      { method: 'GET', path: '/v1/apps', url: () => '/v1/apps', expect: read() },
      { method: 'GET', path: '/v1/apps/{app}', url: () => `/v1/apps/${fx.app}`, expect: read() },
      {
        method: 'POST',
        path: '/v1/apps/{app}/failovers',
        url: () => `/v1/apps/${fx.app}/failovers`,
        body: () => ({ to: 'west', mode: 'planned', reason: 'role matrix' }),
        expect: {
          none: 401,
          viewer: 403,
          approver: 403,
          monitor: 403,
          operator: 'allowed',
          admin: 'allowed',
        },
      },
      { method: 'GET', path: '/v1/operations', url: () => `/v1/operations?app=${fx.app}`, expect: read() },
      {
        method: 'GET',
        path: '/v1/operations/{id}',
        url: () => `/v1/operations/${operationId ?? NO_OP()}`,
        expect: read(),
      },
      {
        method: 'POST',
        path: '/v1/operations/{id}/approvals',
        url: () => `/v1/operations/${NO_OP()}/approvals`,
        body: () => ({ decision: 'approve', comment: 'role matrix' }),
        expect: read(404),
      },
      {
        method: 'POST',
        path: '/v1/operations/{id}/undo',
        url: () => `/v1/operations/${NO_OP()}/undo`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      { method: 'GET', path: '/v1/approvals', url: () => `/v1/approvals?app=${fx.app}`, expect: read() },
      // The failover above holds the app's operation slot: a failback is refused (409).
      {
        method: 'POST',
        path: '/v1/apps/{app}/failbacks',
        url: () => `/v1/apps/${fx.app}/failbacks`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(409),
      },
      {
        method: 'POST',
        path: '/v1/operations/{id}/checkpoints/{step}/confirm',
        url: () => `/v1/operations/${NO_OP()}/checkpoints/sign-off/confirm`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      {
        method: 'POST',
        path: '/v1/operations/{id}/cancel',
        url: () => `/v1/operations/${NO_OP()}/cancel`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      // Restore points: this app declares no services, so taking one is refused (422) and the
      // restore point asked for does not exist (404); the roles are checked before either.
      {
        method: 'GET',
        path: '/v1/apps/{app}/restore-points',
        url: () => `/v1/apps/${fx.app}/restore-points`,
        expect: read(),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/restore-points',
        url: () => `/v1/apps/${fx.app}/restore-points`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(422),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/verifications',
        url: () => `/v1/apps/${fx.app}/verifications`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(422),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/drills',
        url: () => `/v1/apps/${fx.app}/drills`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(422),
      },
      {
        method: 'GET',
        path: '/v1/restore-points/{id}',
        url: () => `/v1/restore-points/${fx.app}-20260101T000000Z-00000000`,
        expect: read(404),
      },
      // A bulk delete matching nothing (this app has no restore points) is refused: 422.
      {
        method: 'DELETE',
        path: '/v1/apps/{app}/restore-points',
        url: () => `/v1/apps/${fx.app}/restore-points?olderThan=2020-01-01T00:00:00Z&reason=role%20matrix`,
        expect: operatorOnly(422),
      },
      {
        method: 'DELETE',
        path: '/v1/restore-points/{id}',
        url: () => `/v1/restore-points/${fx.app}-20260101T000000Z-00000000?reason=role%20matrix`,
        expect: operatorOnly(404),
      },
      // Region removal and overrides: refused for a region the app does not have (no change).
      {
        method: 'DELETE',
        path: '/v1/apps/{app}/regions/{region}',
        url: () => `/v1/apps/${fx.app}/regions/north?reason=role%20matrix`,
        expect: operatorOnly(404),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/overrides',
        url: () => `/v1/apps/${fx.app}/overrides`,
        body: () => ({ action: 'halt', region: 'north', reason: 'role matrix' }),
        expect: operatorOnly(422),
      },
      // DNS record changes: refused for a record the app does not have (no change).
      {
        method: 'DELETE',
        path: '/v1/apps/{app}/dns-records/{name}',
        url: () => `/v1/apps/${fx.app}/dns-records/nope.example.test?reason=role%20matrix`,
        expect: operatorOnly(404),
      },
      {
        method: 'PUT',
        path: '/v1/apps/{app}/dns-records/{name}',
        url: () => `/v1/apps/${fx.app}/dns-records/nope.example.test`,
        body: () => ({ region: 'west', reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/restores',
        url: () => `/v1/apps/${fx.app}/restores`,
        body: () => ({
          restorePointId: `${fx.app}-20260101T000000Z-00000000`,
          region: 'west',
          reason: 'role matrix',
        }),
        expect: operatorOnly(404),
      },
      // Region health: the report names a region outside the app, so nothing changes. Only monitor
      // tokens report, each for its own vantage point; operators no longer do.
      { method: 'GET', path: '/v1/regions', url: () => '/v1/regions', expect: read() },
      {
        method: 'POST',
        path: '/v1/monitor/reports',
        url: () => '/v1/monitor/reports',
        body: () => ({
          app: fx.app,
          vantage: 'east',
          region: 'matrix',
          verdict: 'down',
          at: new Date().toISOString(),
          latencyMs: 1,
          reason: 'role matrix',
        }),
        // A report needs a token bound to its vantage point: an admin's is not (403 vantage-not-bound).
        expect: { ...adminOnly(403), monitor: 422 },
      },
      { method: 'GET', path: '/v1/audit', url: () => '/v1/audit?limit=5', expect: read() },
      { method: 'GET', path: '/v1/audit/verify', url: () => '/v1/audit/verify', expect: read() },
      {
        method: 'POST',
        path: '/v1/tokens',
        url: () => '/v1/tokens',
        body: () => ({ principal: 'matrix-probe', roles: ['viewer'], reason: 'role matrix' }),
        expect: adminOnly(201),
      },
      { method: 'GET', path: '/v1/tokens', url: () => '/v1/tokens', expect: adminOnly(200) },
      {
        method: 'DELETE',
        path: '/v1/tokens/{id}',
        url: () => '/v1/tokens/no-such-token?reason=role%20matrix',
        expect: adminOnly(404),
      },
      // Schedules: `matrix` is created paused (the operator's 201, then the admin's 409) and
      // deleted last; the actions that would run something go to a schedule that does not exist.
      { method: 'GET', path: '/v1/apps/{app}/schedules', url: () => SCHEDULES(), expect: read() },
      {
        method: 'POST',
        path: '/v1/apps/{app}/schedules',
        url: () => SCHEDULES(),
        body: () => ({ kind: 'restore-point', name: 'matrix', paused: true, reason: 'role matrix' }),
        expect: operatorOnly('allowed'),
      },
      {
        method: 'GET',
        path: '/v1/apps/{app}/schedules/{name}',
        url: () => `${SCHEDULES()}/matrix`,
        expect: read(),
      },
      {
        method: 'PATCH',
        path: '/v1/apps/{app}/schedules/{name}',
        url: () => `${SCHEDULES()}/matrix`,
        body: () => ({ everySeconds: 7200, reason: 'role matrix' }),
        expect: operatorOnly(200),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/schedules/{name}/pause',
        url: () => `${SCHEDULES()}/matrix/pause`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(200),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/schedules/{name}/unpause',
        url: () => `${SCHEDULES()}/no-such-schedule/unpause`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/schedules/{name}/trigger',
        url: () => `${SCHEDULES()}/no-such-schedule/trigger`,
        body: () => ({ reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      {
        method: 'POST',
        path: '/v1/apps/{app}/schedules/{name}/backfill',
        url: () => `${SCHEDULES()}/no-such-schedule/backfill`,
        body: () => ({ from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', reason: 'role matrix' }),
        expect: operatorOnly(404),
      },
      {
        method: 'DELETE',
        path: '/v1/apps/{app}/schedules/{name}',
        url: () => `${SCHEDULES()}/matrix?reason=role%20matrix`,
        // A soft delete (202); the admin's second delete finds it already deleted (409).
        expect: { ...operatorOnly(202), admin: 409 },
        // The operation tombstones the schedule just after answering; the admin's delete comes then.
        settled: () =>
          waitFor(
            async () => {
              const res = await h.http().get(`${SCHEDULES()}/matrix`).set(h.as(h.fx.tokens.viewer));
              return (res.body as { deleted?: unknown }).deleted !== undefined;
            },
            { what: 'the schedule matrix to be tombstoned', timeoutMs: 30_000 },
          ),
      },
    ];

    // The matrix covers exactly the documented routes: a new route without a row fails here.
    const doc = await h.http().get('/docs/openapi.json').expect(200);
    const documented = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, ops]) =>
        Object.keys(ops)
          .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
          .map((m) => `${m.toUpperCase()} ${p}`),
      )
      .sort();
    const covered = rows
      .filter((r) => !r.public)
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    assert.deepEqual(covered, documented);

    for (const row of rows) {
      for (const who of WHO) {
        let req = h
          .http()
          [row.method.toLowerCase() as 'get' | 'post' | 'put' | 'patch' | 'delete'](row.url());
        if (who !== 'none') req = req.set(h.as(h.token(who)));
        const res = row.body ? await req.send(row.body()) : await req;
        const what = `${row.method} ${row.path} as ${who}`;
        checkStatus(what, res.status, row.expect[who], res.body);
        if (row.settled && res.status < 300) await row.settled();
        if (row.method === 'POST' && row.path === '/v1/apps/{app}/failovers' && res.status === 202) {
          operationId = (res.body as { operationId: string }).operationId;
        }
        if (row.path === '/v1/operations/{id}/approvals' && who !== 'none' && who !== 'monitor') {
          assert.equal(res.body.error, 'operation-not-found', what);
        }
        if (res.status === 401) assert.equal(res.body.error, 'unauthorized', what);
        // A report needs a token bound to its vantage point, which an admin's is not.
        const refusal =
          row.path === '/v1/monitor/reports' && who === 'admin' ? 'vantage-not-bound' : 'forbidden';
        if (res.status === 403) assert.equal(res.body.error, refusal, what);
      }
    }

    assert.ok(operationId, 'the operator started a failover');
    const done = await h.rejectAndFinish(operationId);
    assert.equal(done.phase, 'Rejected');
  });

  it('creates, lists and revokes tokens through the API and the CLI, audited without the token', async () => {
    const { fx } = h;
    const admin = h.as(fx.tokens.admin);

    const missing = await h
      .http()
      .post('/v1/tokens')
      .set(admin)
      .send({ principal: 'dave', roles: ['approver'] });
    assert.deepEqual([missing.status, missing.body.error], [400, 'validation-failed']);

    const created = await h
      .http()
      .post('/v1/tokens')
      .set(admin)
      .send({ principal: 'dave', roles: ['approver'], reason: 'dave joins the on-call rota' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { token, id } = created.body as { token: string; id: string };
    assert.match(token, /^sy_/);
    assert.ok(id);

    await h.http().get('/v1/apps').set(h.as(token)).expect(200);

    const listed = await h.http().get('/v1/tokens').set(admin).expect(200);
    const mine = (listed.body.items as { id: string; principal: string }[]).find((t) => t.id === id);
    assert.equal(mine?.principal, 'dave');
    const listedJson = JSON.stringify(listed.body);
    assert.ok(!listedJson.includes(token), 'the list holds no token');
    assert.ok(!listedJson.includes(sha256Hex(token)), 'the list holds no token hash');

    const cliList = await h.cli(fx.tokens.admin, 'tokens', 'list', '--json');
    assert.equal(cliList.code, 0, cliList.stderr);
    const cliItems = (JSON.parse(cliList.stdout) as { items: { id: string; principal: string }[] }).items;
    assert.equal(cliItems.find((t) => t.id === id)?.principal, 'dave');

    const noReason = await h.http().delete(`/v1/tokens/${id}`).set(admin);
    assert.deepEqual([noReason.status, noReason.body.error], [400, 'validation-failed']);
    await h.http().get('/v1/apps').set(h.as(token)).expect(200);

    const revoked = await h.cli(fx.tokens.admin, 'tokens', 'revoke', id, '--reason', 'dave left the rota');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`token ${id} of dave revoked`));

    const after = await h.http().get('/v1/apps').set(h.as(token));
    assert.deepEqual([after.status, after.body.error], [401, 'unauthorized']);

    const events = await h.audit();
    const create = events.filter((e) => e.action === 'token.create' && e.outcome !== 'refused');
    const revoke = events.filter((e) => e.action === 'token.revoke' && e.outcome !== 'refused');
    assert.ok(
      create.some((e) => e.actor === 'carol' && e.target === `token:${id}`),
      JSON.stringify(create),
    );
    assert.ok(
      revoke.some(
        (e) => e.actor === 'carol' && e.target === `token:${id}` && e.reason === 'dave left the rota',
      ),
      JSON.stringify(revoke),
    );
    for (const e of events) {
      const json = JSON.stringify(e);
      assert.ok(!json.includes(token), `audit event ${e.sequence} holds dave's token`);
      assert.ok(!json.includes(sha256Hex(token)), `audit event ${e.sequence} holds dave's token hash`);
    }
  });

  it('accepts JWTs of the configured identity provider and maps their groups to roles', async () => {
    const { fx } = h;
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks: Server = createServer((req, res) => {
      if (req.url === '/.well-known/jwks.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}`;
    try {
      const oidc = oidcSchema.parse({
        issuer,
        audience: 'switchyard',
        rolesClaim: 'groups',
        roleMapping: { 'sre-approvers': ['approver'], sre: ['operator'] },
      });
      const config: SwitchyardConfig = { ...fx.config, auth: { ...fx.config.auth, oidc } };
      const api = await h.extraApi(config);

      const jwt = (
        claims: { groups?: string[]; aud?: string; exp?: number | string; sub?: string },
        key = privateKey,
        kid = 'k1',
      ) =>
        new SignJWT({ groups: claims.groups ?? [] })
          .setProtectedHeader({ alg: 'RS256', kid })
          .setIssuer(issuer)
          .setAudience(claims.aud ?? 'switchyard')
          .setSubject(claims.sub ?? 'erin')
          .setIssuedAt()
          .setExpirationTime(claims.exp ?? '5m')
          .sign(key);

      const sre = await jwt({ groups: ['sre'] });
      await h.http(api).get('/v1/apps').set(h.as(sre)).expect(200);
      const started = await h
        .http(api)
        .post(`/v1/apps/${fx.app}/failovers`)
        .set(h.as(sre))
        .send({ to: 'west', mode: 'planned', reason: 'oidc operator' });
      checkStatus('failover as an OIDC operator', started.status, 'allowed', started.body);
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const opId = (started.body as { operationId: string }).operationId;
      assert.equal((await h.operation(opId)).requestedBy, 'erin');

      const unmapped = await h
        .http(api)
        .get('/v1/apps')
        .set(h.as(await jwt({ groups: ['marketing'] })));
      assert.deepEqual([unmapped.status, unmapped.body.error], [403, 'forbidden']);
      const approverOnly = await h
        .http(api)
        .post(`/v1/apps/${fx.app}/failovers`)
        .set(h.as(await jwt({ groups: ['sre-approvers'] })))
        .send({ to: 'west', mode: 'planned', reason: 'oidc approver' });
      assert.deepEqual([approverOnly.status, approverOnly.body.error], [403, 'forbidden']);

      const expired = await h
        .http(api)
        .get('/v1/apps')
        .set(h.as(await jwt({ groups: ['sre'], exp: Math.floor(Date.now() / 1000) - 3600 })));
      assert.deepEqual([expired.status, expired.body.error], [401, 'unauthorized']);
      const otherAudience = await h
        .http(api)
        .get('/v1/apps')
        .set(h.as(await jwt({ groups: ['sre'], aud: 'someone-else' })));
      assert.deepEqual([otherAudience.status, otherAudience.body.error], [401, 'unauthorized']);
      const { privateKey: stranger } = await generateKeyPair('RS256');
      const forged = await h
        .http(api)
        .get('/v1/apps')
        .set(h.as(await jwt({ groups: ['sre'] }, stranger)));
      assert.deepEqual([forged.status, forged.body.error], [401, 'unauthorized']);
      // The bootstrap tokens still work next to OIDC.
      await h.http(api).get('/v1/apps').set(h.as(fx.tokens.viewer)).expect(200);

      const request = (await h.audit(`action=failover.request&actor=erin`)).filter(
        (e) => e.outcome === 'accepted',
      );
      assert.equal(request.length, 1, JSON.stringify(request));
      assert.equal(request[0]!.target, `app:${fx.app}`);

      await h.rejectAndFinish(opId);

      // The identity provider goes away. The verifier above fetched its keys moments ago and
      // (jose's 30 s cooldown) would refuse an unknown kid with 401 without asking again, so a
      // fresh API, which must fetch, meets the outage: 503, not 401.
      jwks.closeAllConnections();
      await new Promise<void>((resolve) => jwks.close(() => resolve()));
      const { privateKey: rotated } = await generateKeyPair('RS256');
      const fresh = await h.extraApi(config);
      const down = await h
        .http(fresh)
        .get('/v1/apps')
        .set(h.as(await jwt({ groups: ['sre'] }, rotated, 'k2')));
      assert.deepEqual([down.status, down.body.error], [503, 'identity-provider-unavailable']);
      // Opaque tokens do not depend on the identity provider.
      await h.http(fresh).get('/v1/apps').set(h.as(fx.tokens.viewer)).expect(200);
    } finally {
      if (jwks.listening) {
        jwks.closeAllConnections();
        await new Promise<void>((resolve) => jwks.close(() => resolve()));
      }
    }
  });

  // Last: it breaks the chain.
  it('detects a changed and a truncated sealed row through the API and the CLI', async () => {
    const { fx } = h;
    const before = await h.verify();
    assert.equal(before.ok, true, JSON.stringify(before));
    const target = before.lastSequence;
    assert.ok(target > 5, `expected a few events, have ${target}`);
    const sealed = await waitFor(
      async () => {
        const v = await h.verify();
        return v.sealedThrough >= target ? v : false;
      },
      { what: `audit sealed through #${target}`, timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal(sealed.ok, true, JSON.stringify(sealed));
    assert.equal(sealed.firstBreak, null);

    const file = fx.config.database.url.replace(/^sqlite:/, '');
    const db = new Database(file);
    try {
      const mid = Math.floor(sealed.sealedThrough / 2);
      const row = db.prepare('select actor from audit_events where sequence = ?').get(mid) as {
        actor: string;
      };
      db.prepare('update audit_events set actor = ? where sequence = ?').run('mallory', mid);

      const changed = await h.verify();
      assert.equal(changed.ok, false);
      assert.deepEqual(
        [changed.firstBreak?.sequence, changed.firstBreak?.reason],
        [mid, 'hash-mismatch'],
        JSON.stringify(changed),
      );
      const cli = await h.cli(fx.tokens.viewer, 'audit', 'verify');
      assert.equal(cli.code, 1, cli.stdout + cli.stderr);
      assert.match(cli.stdout, new RegExp(`BROKEN at #${mid} \\(hash-mismatch\\)`));

      db.prepare('update audit_events set actor = ? where sequence = ?').run(row.actor, mid);
      const restored = await h.verify();
      assert.equal(restored.ok, true, JSON.stringify(restored));
      const cliOk = await h.cli(fx.tokens.viewer, 'audit', 'verify');
      assert.equal(cliOk.code, 0, cliOk.stdout + cliOk.stderr);

      // Truncation: the newest sealed event and everything after it are gone.
      const cut = restored.sealedThrough;
      db.prepare('delete from audit_events where sequence >= ?').run(cut);
      const truncated = await h.verify();
      assert.equal(truncated.ok, false);
      assert.deepEqual(
        [truncated.firstBreak?.sequence, truncated.firstBreak?.reason],
        [cut, 'missing-sealed-events'],
        JSON.stringify(truncated),
      );
      const cliCut = await h.cli(fx.tokens.viewer, 'audit', 'verify');
      assert.equal(cliCut.code, 1, cliCut.stdout + cliCut.stderr);
      assert.match(cliCut.stdout, new RegExp(`BROKEN at #${cut} \\(missing-sealed-events\\)`));
    } finally {
      db.close();
    }
  });
});
