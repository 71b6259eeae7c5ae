import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import { OFFLINE_TOKENS, offlineConfig } from '../support/offline-api';

/**
 * The HTTP layer on its own: authentication, roles, validation, error bodies, and what the API
 * says when Temporal or the buckets cannot be reached (here: every dependency points at a closed
 * port, which is exactly that situation, not a fake of it).
 */
const SECRET = 'super-secret-s3-key-value';
const tokens = OFFLINE_TOKENS;

describe('HTTP API', () => {
  let api: NestExpressApplication;
  const http = () => request(api.getHttpServer());
  const as = (t: string) => ({ Authorization: `Bearer ${t}` });

  before(async () => {
    api = await createApi({ config: offlineConfig('api', SECRET), logger: false });
    await api.init();
  });
  after(() => api.close());

  it('serves /healthz, /metrics and the OpenAPI document without credentials', async () => {
    await http().get('/healthz').expect(200, { status: 'ok' });
    const metrics = await http().get('/metrics').expect(200);
    assert.match(metrics.text, /switchyard_http_requests_total/);
    const doc = await http().get('/docs/openapi.json').expect(200);
    assert.ok(doc.body.paths['/v1/apps/{app}/failovers'].post, 'failover route documented');
  });

  it('needs a valid bearer token everywhere else', async () => {
    for (const [path, headers] of [
      ['/v1/apps', {}],
      ['/v1/apps', { Authorization: 'Bearer nope' }],
      ['/v1/apps', { Authorization: `Basic ${tokens.viewer}` }],
      ['/v1/operations', {}],
    ] as const) {
      const res = await http().get(path).set(headers).expect(401);
      assert.equal(res.body.error, 'unauthorized');
    }
  });

  it('lets a viewer read and refuses it a failover with 403', async () => {
    const res = await http().get('/v1/apps').set(as(tokens.viewer)).expect(200);
    assert.deepEqual(res.body.items, [{ name: 'shop', regions: ['east', 'west'] }]);
    const denied = await http()
      .post('/v1/apps/shop/failovers')
      .set(as(tokens.viewer))
      .send({ to: 'west', mode: 'planned', reason: 'because' })
      .expect(403);
    assert.equal(denied.body.error, 'forbidden');
    assert.match(denied.body.message, /victor lacks a role this needs: one of operator/);
  });

  it('validates bodies and queries, naming each bad field', async () => {
    const res = await http()
      .post('/v1/apps/shop/failovers')
      .set(as(tokens.operator))
      .send({ to: 7, mode: 'planned' })
      .expect(400);
    assert.equal(res.body.error, 'validation-failed');
    assert.deepEqual(
      res.body.details.issues.map((i: { path: string }) => i.path),
      ['body.to', 'body.reason'],
    );
    const bad = await http()
      .post('/v1/apps/shop/failovers')
      .set(as(tokens.operator))
      .set('Content-Type', 'application/json')
      .send('{"to": ')
      .expect(400);
    assert.equal(bad.body.error, 'bad-request');
    const q = await http().get('/v1/operations?phase=Bogus').set(as(tokens.viewer)).expect(400);
    assert.match(q.body.message, /query\.phase/);
  });

  it('answers 404 for unknown apps, operations and routes', async () => {
    assert.equal(
      (await http().get('/v1/apps/nope').set(as(tokens.viewer)).expect(404)).body.error,
      'app-not-found',
    );
    const op = await http().get('/v1/operations/not-an-id').set(as(tokens.viewer)).expect(404);
    assert.equal(op.body.error, 'operation-not-found');
    assert.equal(
      (await http().get('/v1/nothing').set(as(tokens.viewer)).expect(404)).body.error,
      'not-found',
    );
  });

  it('says 503 temporal-unavailable when Temporal cannot be reached, and nothing starts', async () => {
    const res = await http()
      .post('/v1/apps/shop/failovers')
      .set(as(tokens.operator))
      .send({ to: 'west', mode: 'planned', reason: 'because' })
      .expect(503);
    assert.equal(res.body.error, 'temporal-unavailable');
  });

  it('says 503 control-state-unavailable when no bucket can be read, without leaking credentials', async () => {
    const res = await http().get('/v1/apps/shop').set(as(tokens.viewer)).expect(503);
    assert.equal(res.body.error, 'control-state-unavailable');
    assert.ok(!JSON.stringify(res.body).includes(SECRET));
  });
});
