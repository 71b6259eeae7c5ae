import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import { BACKFILL_MAX_DAYS, backfillScheduleSchema } from '../../apps/api/schedules/schedules.dto';
import { SCHEDULE_NOTE_MAX_BYTES, scheduleNote } from '../../infra/temporal/schedules.repository';
import { OFFLINE_TOKENS, offlineConfig } from '../support/offline-api';

/**
 * What the fuzzer (test/e2e/api-fuzz.e2e.test.ts) found, each pinned by the request it sent: a
 * clear 400 instead of a 500. Every dependency but the database points at a closed port.
 */
const { viewer, operator } = OFFLINE_TOKENS;

describe('fuzzer findings', () => {
  let api: NestExpressApplication;

  before(async () => {
    api = await createApi({ config: offlineConfig('fuzz-findings'), logger: false });
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

  it('cuts a schedule note to what Temporal takes (a 2000-character pause reason was 500)', () => {
    assert.equal(scheduleNote('maintenance'), 'maintenance');
    const exact = 'x'.repeat(SCHEDULE_NOTE_MAX_BYTES);
    assert.equal(scheduleNote(exact), exact);
    for (const long of ['0'.repeat(2000), 'é'.repeat(700), '🛠'.repeat(400)]) {
      const note = scheduleNote(long);
      assert.ok(
        Buffer.byteLength(note, 'utf8') <= SCHEDULE_NOTE_MAX_BYTES,
        `${long[0]}: ${Buffer.byteLength(note)}`,
      );
      assert.ok(note.endsWith('…'));
      assert.ok(
        long.startsWith(note.slice(0, -1)),
        'the note keeps the start of the text, whole characters only',
      );
    }
  });
});
