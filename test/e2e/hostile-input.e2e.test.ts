import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent, AuditVerification } from '../../infra/audit/audit.port';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { startAppFixture } from '../support/app-fixture';
import { ApiHarness, assertNoProcessErrors } from '../support/api-harness';

/**
 * A hostile client against the real API and worker (issue 14): every request here once crashed
 * the API, answered 500, or let text through that a person or the audit chain cannot trust.
 * Each `it` names what the code before the fix did.
 */

type Issue = { path: string; message: string; position?: number; codePoint?: string };
type ErrorBody = { error: string; message: string; details?: { issues?: Issue[] } };

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];

/** Each kind of text free text may not hold, where it sits (code points from 0) and what it is. */
const HOSTILE: { what: string; text: string; position: number; codePoint: string; inQuery: boolean }[] = [
  { what: 'NUL', text: 'rollback\u0000now', position: 8, codePoint: 'U+0000', inQuery: true },
  { what: 'lone surrogate', text: 'broken \ud800 pair', position: 7, codePoint: 'U+D800', inQuery: false },
  { what: 'bidi override', text: 'approve \u202Eefas si', position: 8, codePoint: 'U+202E', inQuery: true },
  { what: 'C0 control', text: '\u001b[2Jcleared', position: 0, codePoint: 'U+001B', inQuery: true },
];
const OVER_LENGTH = 'x'.repeat(2001);

describe('hostile input', () => {
  let h: ApiHarness;
  const app = () => h.fx.app;

  before(async () => {
    h = new ApiHarness(await startAppFixture({ failoverApproval: { required: 1 } }));
    await h.start();
  });
  after(() => h?.stop());

  const operations = async (): Promise<OperationStatus[]> =>
    (
      (await h.http().get(`/v1/operations?app=${app()}`).set(h.as(h.fx.tokens.viewer)).expect(200)).body as {
        items: OperationStatus[];
      }
    ).items;

  const verify = async (): Promise<AuditVerification> =>
    (await h.http().get('/v1/audit/verify').set(h.as(h.fx.tokens.viewer)).expect(200))
      .body as AuditVerification;

  /** A 400 validation-failed naming `path` and, for a refused character, its position. */
  function assertRefused(
    res: { status: number; body: unknown },
    path: string,
    position?: number,
    codePoint?: string,
  ): void {
    const body = res.body as ErrorBody;
    const msg = JSON.stringify(body);
    assert.equal(res.status, 400, msg);
    assert.equal(body.error, 'validation-failed', msg);
    const issue = body.details?.issues?.find((i) => i.path === path);
    assert.ok(issue, `an issue names ${path}: ${msg}`);
    assert.ok(body.message.includes(path), msg);
    if (position !== undefined) {
      assert.equal(issue.position, position, msg);
      assert.equal(issue.codePoint, codePoint, msg);
      assert.match(body.message, new RegExp(`at position ${position}`), msg);
    } else {
      assert.match(issue.message, /at most 2000 characters/, msg);
    }
  }

  // Before: 500 internal, then the process ended on an unhandled rejection ("Temporal did not
  // answer ...; and TypeError: Cannot read properties of undefined (reading 'map')").
  it('a viewer GET with a prototype name answers 404, the API keeps answering, nothing is left unhandled', async () => {
    for (const name of PROTOTYPE_NAMES) {
      for (const path of [
        `/v1/apps/${name}`,
        `/v1/apps/${name}/restore-points`,
        `/v1/apps/${name}/schedules`,
      ]) {
        const res = await h.http().get(path).set(h.as(h.fx.tokens.viewer));
        assert.equal(res.status, 404, `${path}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal((res.body as ErrorBody).error, 'app-not-found');
      }
      const ops = await h.http().get(`/v1/operations?app=${name}`).set(h.as(h.fx.tokens.viewer));
      assert.ok(ops.status === 404 || ops.status === 200, `operations?app=${name}: ${ops.status}`);
    }
    // A cursor this API never issued: the store's refusal was a 500 (found by the fuzzer).
    const cursor = await h.http().get('/v1/audit?cursor=zz').set(h.as(h.fx.tokens.viewer));
    assert.equal(cursor.status, 400, JSON.stringify(cursor.body));
    assert.equal((cursor.body as ErrorBody).details?.issues?.[0]?.path, 'query.cursor');
    // The real app still answers, and the rejections that used to follow never came.
    await h.http().get(`/v1/apps/${app()}`).set(h.as(h.fx.tokens.viewer)).expect(200);
    await h.http().get('/healthz').expect(200);
    assertNoProcessErrors();
  });

  // Before: 500 for GET /v1/apps/{name} and .../restore-points; POSTs went on to the same lookup.
  it('prototype names as an app, region, record or schedule are ordinary unknown names', async () => {
    const op = h.as(h.fx.tokens.operator);
    for (const name of PROTOTYPE_NAMES) {
      const failover = await h
        .http()
        .post(`/v1/apps/${name}/failovers`)
        .set(op)
        .send({ to: 'west', mode: 'planned', reason: 'prototype names' });
      assert.equal(failover.status, 404, JSON.stringify(failover.body));
      const toRegion = await h
        .http()
        .post(`/v1/apps/${app()}/failovers`)
        .set(op)
        .send({ to: name, mode: 'planned', reason: 'prototype names' });
      assert.equal(toRegion.status, 422, `region ${name}: ${JSON.stringify(toRegion.body)}`);
      const record = await h
        .http()
        .delete(`/v1/apps/${app()}/dns-records/${name}`)
        .query({ reason: 'prototype names' })
        .set(op);
      assert.equal(record.status, 404, `record ${name}: ${JSON.stringify(record.body)}`);
      const report = await h
        .http()
        .post('/v1/monitor/reports')
        .set(h.as(h.fx.monitorToken('east')))
        .send({
          app: name,
          vantage: 'east',
          region: 'east',
          verdict: 'up',
          at: new Date().toISOString(),
          latencyMs: 1,
          reason: 'ok',
        });
      assert.equal(report.status, 422, `monitor report for ${name}: ${JSON.stringify(report.body)}`);
    }
    // A schedule name has its own pattern: `constructor` fits it and is simply not there.
    const schedule = await h
      .http()
      .get(`/v1/apps/${app()}/schedules/constructor`)
      .set(h.as(h.fx.tokens.viewer));
    assert.equal(schedule.status, 404, JSON.stringify(schedule.body));
    assert.deepEqual(await operations(), [], 'no operation started');
  });

  // Before: 500 internal ("request entity too large" reached the error filter as an unknown error).
  it('an over-size body is 413 payload-too-large and changes nothing', async () => {
    const res = await h
      .http()
      .post(`/v1/apps/${app()}/failovers`)
      .set(h.as(h.fx.tokens.operator))
      .send({ to: 'west', mode: 'planned', reason: 'x'.repeat(300 * 1024) });
    assert.equal(res.status, 413, JSON.stringify(res.body));
    assert.equal((res.body as ErrorBody).error, 'payload-too-large');
    assert.deepEqual(await operations(), []);
  });

  // Before: the body was ignored and the answer was 400 "body.to: required" for fields it had.
  it('a body that is not JSON is 415 unsupported-media-type; malformed JSON is 400', async () => {
    const url = `/v1/apps/${app()}/failovers`;
    const op = h.as(h.fx.tokens.operator);
    const plain = await h.http().post(url).set(op).set('Content-Type', 'text/plain').send('to=west');
    assert.equal(plain.status, 415, JSON.stringify(plain.body));
    assert.equal((plain.body as ErrorBody).error, 'unsupported-media-type');
    const form = await h
      .http()
      .post(url)
      .set(op)
      .type('form')
      .send({ to: 'west', mode: 'planned', reason: 'form body' });
    assert.equal(form.status, 415, JSON.stringify(form.body));
    const broken = await h
      .http()
      .post(url)
      .set(op)
      .set('Content-Type', 'application/json')
      .send('{"to": "west",');
    assert.equal(broken.status, 400, JSON.stringify(broken.body));
    assert.deepEqual(await operations(), []);
  });

  // Before: each was accepted (202 for the failover, 404 restore-point-not-found for the delete:
  // past validation), and the lone surrogate made GET /v1/audit/verify report a hash mismatch.
  it('hostile text in a reason, a comment or a query reason is 400 naming the field and position; nothing changes', async () => {
    const op = h.as(h.fx.tokens.operator);
    for (const t of HOSTILE) {
      const res = await h
        .http()
        .post(`/v1/apps/${app()}/failovers`)
        .set(op)
        .send({ to: 'west', mode: 'planned', reason: t.text });
      assertRefused(res, 'body.reason', t.position, t.codePoint);
      if (t.inQuery) {
        const del = await h.http().delete('/v1/restore-points/rp-none').query({ reason: t.text }).set(op);
        assertRefused(del, 'query.reason', t.position, t.codePoint);
      }
    }
    assertRefused(
      await h
        .http()
        .post(`/v1/apps/${app()}/failovers`)
        .set(op)
        .send({ to: 'west', mode: 'planned', reason: OVER_LENGTH }),
      'body.reason',
    );
    assertRefused(
      await h.http().delete('/v1/restore-points/rp-none').query({ reason: OVER_LENGTH }).set(op),
      'query.reason',
    );
    assert.deepEqual(await operations(), [], 'no operation started');

    // A comment on a decision: the operation waits for approval and keeps no decision.
    const id = await h.requestFailover('west', 'comment test');
    await h.awaitingRound(id, 1);
    for (const t of HOSTILE) {
      assertRefused(
        await h.decide(id, h.fx.tokens.approver, 'approve', t.text),
        'body.comment',
        t.position,
        t.codePoint,
      );
    }
    assertRefused(await h.decide(id, h.fx.tokens.approver, 'approve', OVER_LENGTH), 'body.comment');
    const waiting = await h.operation(id);
    assert.equal(waiting.phase, 'AwaitingApproval');
    assert.deepEqual(waiting.approval?.decisions, []);
    await h.decide(id, h.fx.tokens.approver, 'reject', 'clean up').expect(200);
    await h.phase(id, isTerminal, 'to end');

    const v = await verify();
    assert.equal(v.ok, true, JSON.stringify(v));
  });

  // Before: the refused request's reason went to the chain as sent; a lone surrogate was stored
  // as U+FFFD, so the recomputed hash differed ("hash mismatch" at that event).
  it("an operator's or an anonymous client's hostile reason cannot break the audit chain", async () => {
    const texts = [...HOSTILE.map((t) => t.text), OVER_LENGTH, 'e\u0301'];
    for (const text of texts) {
      await h
        .http()
        .post(`/v1/apps/${app()}/drills`)
        .set(h.as(h.fx.tokens.operator))
        .send({ reason: text })
        .expect((r) => assert.ok(r.status < 500, `${r.status}`));
      await h.http().post(`/v1/apps/${app()}/drills`).send({ reason: text }).expect(401);
    }
    const v = await verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    // A hostile name in the path is refused as well, and recorded escaped.
    const badApp = await h
      .http()
      .post(`/v1/apps/${encodeURIComponent('x\u202Ey\ud7ff')}/drills`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'a hostile path' });
    assert.equal(badApp.status, 400, JSON.stringify(badApp.body));
    assert.match(
      (badApp.body as ErrorBody).message,
      /^params\.app: a bidirectional override \(U\+202E\) at position 1/,
    );
    assert.equal((await verify()).ok, true);
    const refused = (await h.audit(`target=${encodeURIComponent(`app:${app()}`)}`)).filter(
      (e: AuditEvent) => e.outcome === 'refused' && e.reason?.includes('\\u{'),
    );
    assert.ok(
      refused.some((e) => e.reason === 'rollback\\u{0}now'),
      `the refused reason is recorded escaped: ${JSON.stringify(refused.map((e) => e.reason))}`,
    );
  });

  // Before: stored as sent (decomposed), so the same words compared unequal in the audit log.
  it('a decomposed reason is stored composed (NFC)', async () => {
    const decomposed = 'cafe\u0301 is down: move to west';
    const composed = decomposed.normalize('NFC');
    assert.notEqual(decomposed, composed);
    const id = await h.requestFailover('west', decomposed);
    const op = await h.operation(id);
    assert.equal((op.spec as { reason: string }).reason, composed);
    await h.awaitingRound(id, 1);
    await h.decide(id, h.fx.tokens.approver, 'reject', 'clean up').expect(200);
    await h.phase(id, isTerminal, 'to end');
    const requested = (await h.audit(`target=${encodeURIComponent(`app:${app()}`)}`)).filter(
      (e) => e.reason === composed,
    );
    assert.ok(requested.length > 0, 'the audit log has the composed reason');
  });
});
