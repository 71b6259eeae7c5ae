import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { sha256Hex } from '../../apps/api/common/auth.guard';
import { createApi } from '../../apps/api/bootstrap';
import { BACKFILL_MAX_DAYS, backfillScheduleSchema } from '../../apps/api/schedules/schedules.dto';
import { parseConfig } from '../../infra/config/config.loader';

/**
 * What the fuzzer (test/e2e/api-fuzz.e2e.test.ts) found, each pinned by the request it sent: a
 * clear 400 instead of a 500. Every dependency but the database points at a closed port.
 */
const CLOSED = 'http://127.0.0.1:1';
const viewer = 'viewer-token-0123456789';
const operator = 'operator-token-0123456789';
const DB = path.join(mkdtempSync(path.join(tmpdir(), 'switchyard-fuzz-findings-')), 'switchyard.db');
const yaml = `
temporal: { address: 127.0.0.1:1, connectTimeoutSeconds: 1 }
database: { url: 'sqlite:${DB}' }
auth:
  tokens:
    - { principal: victor, roles: [viewer], sha256: ${sha256Hex(viewer)} }
    - { principal: alice, roles: [operator], sha256: ${sha256Hex(operator)} }
dnsProviders:
  pdns: { type: powerdns, apiUrl: ${CLOSED}, apiKey: k }
apps:
  shop:
    regions:
      - name: east
        role: active
        healthUrl: ${CLOSED}/healthz
        bucket: { name: east-bucket, endpoint: ${CLOSED}, accessKeyId: ak, secretAccessKey: sk }
        dns: { target: 10.0.0.1 }
      - name: west
        role: standby
        healthUrl: ${CLOSED}/healthz
        bucket: { name: west-bucket, endpoint: ${CLOSED}, accessKeyId: ak, secretAccessKey: sk }
        dns: { target: 10.0.0.2 }
    dns: { records: [{ provider: pdns, zone: shop.test, name: www.shop.test }] }
    verify: { url: http://www.shop.test/healthz }
`;

describe('fuzzer findings', () => {
  let api: NestExpressApplication;

  before(async () => {
    api = await createApi({ config: parseConfig(yaml, 'test.yaml', {}), logger: false });
    await api.init();
  });
  after(() => api.close());

  it('answers an audit cursor it never gave out with 400 naming query.cursor (was 500)', async () => {
    const res = await request(api.getHttpServer())
      .get('/v1/audit?cursor=0&limit=1')
      .set({ Authorization: `Bearer ${viewer}` });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error, 'validation-failed');
    assert.deepEqual(res.body.details.issues, [
      { path: 'query.cursor', message: 'not a cursor returned by this API' },
    ]);
  });

  it('answers a verification for an app named like an Object property with 404 (was a TypeError: 500)', async () => {
    for (const app of ['constructor', 'toString', 'hasOwnProperty']) {
      const res = await request(api.getHttpServer())
        .post(`/v1/apps/${app}/verifications`)
        .set({ Authorization: `Bearer ${operator}` })
        .send({ reason: 'verify after the outage' });
      assert.equal(res.status, 404, `${app}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'app-not-found');
    }
  });

  it('does not find an operation of an app this API does not serve (was sent to Temporal: a hang)', async () => {
    // Another deployment in the same namespace: its operations are neither read nor decided here.
    const id = 'elsewhere-06bffd66-30c7-43ae-9631-d826af695d25';
    const http = () => request(api.getHttpServer());
    const read = await http()
      .get(`/v1/operations/${id}`)
      .set({ Authorization: `Bearer ${viewer}` });
    assert.equal(read.status, 404, JSON.stringify(read.body));
    assert.equal(read.body.error, 'operation-not-found');
    const decide = await http()
      .post(`/v1/operations/${id}/approvals`)
      .set({ Authorization: `Bearer ${viewer}` })
      .send({ decision: 'reject' });
    assert.equal(decide.status, 404, JSON.stringify(decide.body));
    for (const action of ['cancel', 'undo', 'checkpoints/pause/confirm']) {
      const res = await http()
        .post(`/v1/operations/${id}/${action}`)
        .set({ Authorization: `Bearer ${operator}` })
        .send({ reason: 'not this deployment' });
      assert.equal(res.status, 404, `${action}: ${JSON.stringify(res.body)}`);
    }
  });

  it('refuses a backfill whose time does not parse with the field named (was a TypeError: 500)', () => {
    const parsed = backfillScheduleSchema.safeParse({
      from: '2000-01-01T00:00:00Z',
      to: '',
      reason: 'catch up after the outage',
    });
    assert.equal(parsed.success, false);
    assert.deepEqual(
      parsed.error!.issues.map((i) => i.path.join('.')),
      ['to'],
    );
    const reversed = backfillScheduleSchema.safeParse({
      from: '2001-01-01T00:00:00Z',
      to: '2000-01-01T00:00:00Z',
      reason: 'catch up after the outage',
    });
    assert.equal(reversed.success, false);
    assert.equal(reversed.error!.issues[0]!.message, 'must be after from');
  });

  it('refuses a backfill over more than one outage (a range of centuries kept Temporal busy past 10 s)', () => {
    const at = (days: number) =>
      new Date(Date.parse('2026-12-01T00:00:00Z') - days * 86_400_000).toISOString();
    const range = (days: number) =>
      backfillScheduleSchema.safeParse({ from: at(days), to: at(0), reason: 'catch up after the outage' });
    assert.equal(range(BACKFILL_MAX_DAYS).success, true);
    const tooLong = range(BACKFILL_MAX_DAYS + 1);
    assert.equal(tooLong.success, false);
    assert.deepEqual(
      tooLong.error!.issues.map((i) => i.path.join('.')),
      ['from'],
    );
    assert.equal(range(365_000).success, false);
  });
});
