import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ObjectIo } from '../../infra/backup/artifact.store';
import { localBucketConfig } from '../../infra/stack/app-config';
import type { ScheduleView } from '../../infra/temporal/schedules.repository';
import type { DrillReport } from '../../workflows/drill.workflow';
import type { OperationStatus } from '../../workflows/operation';
import type { ScratchReport } from '../../workflows/scratch-restore';
import { ApiHarness } from '../support/api-harness';
import { databaseExists, startAppFixture } from '../support/app-fixture';
import { stack, waitFor } from '../support/stack';

/**
 * Drills and test restores end to end (docs/drills.md), on the demo app with both its services,
 * an S3 prefix service, and a scratch demo instance in the standby region (west): a drill restores
 * the newest verified restore point into west's scratch places, starts the scratch instance, runs
 * the declared checks, reports the RTO and RPO it achieved and leaves nothing behind (scratch
 * database dropped, scratch prefix empty, scratch ledger empty), while the live DNS answer, read
 * from PowerDNS all along, never changes. A test restore whose check fails still cleans up.
 */
describe('drills and test restores end to end', () => {
  let h: ApiHarness;
  const io = new ObjectIo();
  const mediaPrefix = `media-${randomBytes(4).toString('hex')}/`;
  const scratchPrefix = `switchyard-scratch/${mediaPrefix}`;
  const bucket = (i: number) => localBucketConfig(stack().s3[i]!);

  before(async () => {
    const s3 = stack().s3;
    h = new ApiHarness(
      await startAppFixture({
        services: true,
        scratch: true,
        extraServices: [
          {
            name: 'media',
            type: 's3',
            regions: Object.fromEntries(
              s3.map((r) => [
                r.region,
                {
                  bucket: {
                    name: r.bucket,
                    endpoint: r.endpoint,
                    accessKeyId: r.accessKeyId,
                    secretAccessKey: r.secretAccessKey,
                  },
                  prefix: mediaPrefix,
                },
              ]),
            ),
          },
        ],
        checks: [
          {
            name: 'orders-restored',
            type: 'sql',
            service: 'orders',
            query: 'select count(*) > 0 from numbers',
            expect: true,
          },
          {
            name: 'serves-numbers',
            type: 'http',
            path: '/numbers',
            expectStatus: 200,
            expectBody: '"ledger":[',
          },
          { name: 'scratch-healthy', type: 'http', path: '/healthz', expectStatus: 200 },
        ],
      }),
    );
    await h.start({ listen: true });
    // Some data in every service of the active region, then a restore point, verified.
    const east = h.fx.regions[0]!;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${east.url}/numbers`, { method: 'POST' });
      assert.equal(res.status, 201);
    }
    for (const key of ['a.txt', 'dir/b.bin']) {
      await io.upload(bucket(0), mediaPrefix + key, Readable.from([randomBytes(2048)]));
    }
    const rp = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/restore-points`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'to be drilled' });
    assert.equal(rp.status, 202, JSON.stringify(rp.body));
    assert.equal((await ended((rp.body as { operationId: string }).operationId)).phase, 'Completed');
  });

  after(async () => {
    await h?.stop();
    for (const b of [bucket(0), bucket(1)]) {
      await io.purgePrefix(b, mediaPrefix).catch(() => undefined);
      await io.purgePrefix(b, scratchPrefix).catch(() => undefined);
    }
    io.buckets.close();
  });

  const ended = (id: string, timeoutMs = 120_000) =>
    h.phase(id, (p) => !['Running', 'Compensating', 'AwaitingApproval'].includes(p), 'to end', timeoutMs);

  async function scratchObjects(): Promise<string[]> {
    const keys: string[] = [];
    for await (const o of io.list(bucket(1), scratchPrefix)) keys.push(o.key);
    return keys;
  }

  async function scratchLedgerCount(): Promise<number> {
    const res = await fetch(`${h.fx.scratch!.url}/hooks/ledger/status`, {
      headers: { authorization: `Bearer ${h.fx.hookToken!}` },
    });
    return ((await res.json()) as { count: number }).count;
  }

  /** Nothing a drill or test restore made is left: database, prefix, ledger. */
  async function assertNoScratchLeft(): Promise<void> {
    assert.equal(await databaseExists(h.fx.scratch!.ordersDatabase), false, 'scratch database dropped');
    assert.deepEqual(await scratchObjects(), [], 'scratch prefix empty');
    assert.equal(await scratchLedgerCount(), 0, 'scratch ledger empty');
  }

  test('a drill without a verified restore point stops in preflight and touches nothing', async () => {
    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/drills`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'too early' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const op = await ended((res.body as { operationId: string }).operationId);
    assert.equal(op.phase, 'Failed');
    assert.deepEqual(op.error && [op.error.code, op.error.step], ['no-verified-restore-point', 'preflight']);
    assert.deepEqual(
      op.steps.map((s) => s.status),
      ['Failed', 'Skipped', 'Skipped', 'Skipped', 'Skipped'],
    );
    assert.match(op.facts.summary as string, /^FAILED: .*no scratch place touched$/);
    assert.equal(await databaseExists(h.fx.scratch!.ordersDatabase), false);

    // A verification makes the restore point drillable.
    const v = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/verifications`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'verified before the drill' });
    assert.equal((await ended((v.body as { operationId: string }).operationId)).phase, 'Completed');
  });

  test('a drill restores into the standby scratch places, reports RTO and RPO, cleans up, and never changes live DNS', async () => {
    const liveWest = await (await fetch(`${h.fx.regions[1]!.url}/numbers`)).json();
    const before = await h.fx.powerDnsA();
    assert.deepEqual(before, ['127.0.1.1']);

    const res = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/drills`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'quarterly drill' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = (res.body as { operationId: string }).operationId;

    // Read the live answer from PowerDNS the whole time the drill runs; watch the scratch restore.
    const answers: string[][] = [];
    let sawRestored = false;
    const op = await waitFor(
      async () => {
        answers.push(await h.fx.powerDnsA());
        const o = await h.operation(id);
        const r = o.facts.report as DrillReport | undefined;
        if (r && Object.values(r.services).some((s) => s === 'Restored' || s === 'Verified'))
          sawRestored = true;
        return ['Running'].includes(o.phase) ? false : o;
      },
      { what: `drill ${id} to end`, timeoutMs: 120_000, intervalMs: 50 },
    );
    answers.push(await h.fx.powerDnsA());
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.equal(op.kind, 'drill');
    assert.deepEqual(
      op.steps.map((s) => [s.name, s.status]),
      [
        ['preflight', 'Completed'],
        ['restore', 'Completed'],
        ['start', 'Completed'],
        ['checks', 'Completed'],
        ['cleanup', 'Completed'],
      ],
    );
    assert.ok(sawRestored, 'the scratch restore was seen in progress');
    assert.ok(answers.length >= 5, `PowerDNS asked ${answers.length} times`);
    assert.deepEqual([...new Set(answers.map((a) => a.join(',')))], ['127.0.1.1'], 'live DNS never changed');

    const r = op.facts.report as DrillReport;
    assert.equal(r.region, 'west');
    assert.equal(r.passed, true);
    assert.equal(r.liveDnsTouched, false);
    assert.equal(r.restorePoint?.verification, 'verified');
    assert.ok(typeof r.rtoSeconds === 'number' && r.rtoSeconds > 0, `RTO ${r.rtoSeconds}`);
    const elapsed = (Date.parse(op.endedAt!) - Date.parse(op.startedAt)) / 1000;
    assert.ok(r.rtoSeconds <= elapsed, `RTO ${r.rtoSeconds}s within the drill's ${elapsed}s`);
    const age = (Date.parse(op.startedAt) - Date.parse(r.restorePoint!.cutAt)) / 1000;
    assert.ok(r.rpoSeconds !== null && Math.abs(r.rpoSeconds - age) <= 1, `RPO ${r.rpoSeconds} vs ${age}`);
    assert.equal(r.rpoMet, true);
    assert.ok(r.healthyAt && Date.parse(r.healthyAt) >= Date.parse(op.startedAt));
    assert.deepEqual(
      r.checks.map((c) => [c.name, c.ok]),
      [
        ['orders-restored', true],
        ['serves-numbers', true],
        ['scratch-healthy', true],
      ],
    );
    assert.deepEqual(Object.values(r.services), ['Verified', 'Verified', 'Verified']);
    assert.deepEqual(
      r.cleanup.map((c) => [c.what, c.ok]),
      [
        ['orders', true],
        ['ledger', true],
        ['media', true],
      ],
    );
    await assertNoScratchLeft();

    // The live standby and the active region are as they were.
    assert.deepEqual(await (await fetch(`${h.fx.regions[1]!.url}/numbers`)).json(), liveWest);
    const drilled = await h.audit(`action=drill.reported&target=operation:${id}`);
    assert.deepEqual(
      drilled.map((e) => [e.outcome, e.details.rtoSeconds, e.details.rpoSeconds]),
      [['succeeded', r.rtoSeconds, r.rpoSeconds]],
    );
    assert.equal((await h.audit('action=drill.request')).length, 2);

    // The latest drill's figures are metrics.
    const metrics = await waitFor(
      async () => {
        const text = (await h.http().get('/metrics').expect(200)).text;
        return text.includes(`switchyard_drill_passed{app="${h.fx.app}"} 1`) ? text : false;
      },
      { what: 'the drill metrics', timeoutMs: 30_000, intervalMs: 1000 },
    );
    assert.ok(metrics.includes(`switchyard_drill_rto_seconds{app="${h.fx.app}"} ${r.rtoSeconds}`), metrics);
    assert.ok(metrics.includes(`switchyard_drill_rpo_seconds{app="${h.fx.app}"} ${r.rpoSeconds}`), metrics);
    assert.match(metrics, new RegExp(`switchyard_drill_age_seconds\\{app="${h.fx.app}"\\} \\d+`));
  });

  test('switchyard drill follows a drill live and prints its report; a drill schedule runs one', async () => {
    const out = await h.cli(h.fx.tokens.operator, 'drill', h.fx.app, '--reason', 'drill from the CLI');
    assert.equal(out.code, 0, out.stderr + out.stdout);
    assert.match(out.stdout, /^started /m);
    assert.match(out.stdout, /passed: RTO [\d.]+s, RPO \d+s/);
    assert.match(out.stdout, /orders-restored/);

    const created = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/schedules`)
      .set(h.as(h.fx.tokens.operator))
      .send({ kind: 'drill', paused: true, reason: 'weekly drill' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((created.body as ScheduleView).name, 'drill');
    await h
      .http()
      .post(`/v1/apps/${h.fx.app}/schedules/drill/trigger`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'now' })
      .expect(202);
    const view = await waitFor(
      async () => {
        const res = await h.http().get(`/v1/apps/${h.fx.app}/schedules/drill`).set(h.as(h.fx.tokens.viewer));
        const s = res.body as ScheduleView;
        return s.lastResult?.phase && s.lastResult.phase !== 'Running' ? s : false;
      },
      { what: 'the drill schedule run to end', timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.equal(view.lastResult?.phase, 'Completed', JSON.stringify(view.lastResult));
    const op = await h.operation(view.lastResult!.operationId!);
    assert.equal(op.kind, 'drill');
    assert.equal((op.facts.report as DrillReport).passed, true);
    await assertNoScratchLeft();
  });

  test('a test restore on its own schedule: a failing check fails it, and every scratch place is still cleaned up', async () => {
    const refused = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/schedules`)
      .set(h.as(h.fx.tokens.operator))
      .send({ kind: 'drill', name: 'no', testRestore: true, reason: 'not for drills' });
    assert.deepEqual([refused.status, refused.body.error], [400, 'validation-failed']);
    const created = await h
      .http()
      .post(`/v1/apps/${h.fx.app}/schedules`)
      .set(h.as(h.fx.tokens.operator))
      .send({
        kind: 'verification',
        name: 'test-restore',
        testRestore: true,
        paused: true,
        reason: 'nightly test restore',
      });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((created.body as ScheduleView).testRestore, true);
    const unhealthy = await fetch(`${h.fx.scratch!.url}/admin/unhealthy`, { method: 'POST' });
    assert.equal(unhealthy.status, 200);
    try {
      await h
        .http()
        .post(`/v1/apps/${h.fx.app}/schedules/test-restore/trigger`)
        .set(h.as(h.fx.tokens.operator))
        .send({ reason: 'now' })
        .expect(202);
      const view = await waitFor(
        async () => {
          const res = await h
            .http()
            .get(`/v1/apps/${h.fx.app}/schedules/test-restore`)
            .set(h.as(h.fx.tokens.viewer));
          const v = res.body as ScheduleView;
          return v.lastResult?.phase && v.lastResult.phase !== 'Running' ? v : false;
        },
        { what: 'the test restore schedule run to end', timeoutMs: 120_000, intervalMs: 500 },
      );
      assert.equal(view.lastResult?.phase, 'Failed', JSON.stringify(view.lastResult));
      const op: OperationStatus = await h.operation(view.lastResult!.operationId!);
      assert.equal(op.kind, 'verification');
      assert.equal((op.spec as { testRestore?: boolean }).testRestore, true);
      assert.equal(op.phase, 'Failed');
      assert.equal(op.error?.code, 'checks-failed');
      assert.deepEqual(
        op.steps.map((s) => [s.name, s.status]),
        [
          ['inventory', 'Completed'],
          ['verify', 'Completed'],
          ['repair', 'Completed'],
          ['record', 'Completed'],
          ['test-restore', 'Failed'],
        ],
      );
      const t = op.facts.testRestore as ScratchReport;
      assert.equal(t.passed, false);
      assert.deepEqual(
        t.checks.map((c) => [c.name, c.ok]),
        [
          ['orders-restored', true],
          ['serves-numbers', true],
          ['scratch-healthy', false],
        ],
      );
      assert.match(t.checks[2]!.detail, /503, expected 200/);
      assert.ok(t.cleanup.length === 3 && t.cleanup.every((c) => c.ok), JSON.stringify(t.cleanup));
      await assertNoScratchLeft();
    } finally {
      await fetch(`${h.fx.scratch!.url}/admin/healthy`, { method: 'POST' });
    }
  });

  test('drill requests are validated and authorised; a refusal starts nothing', async () => {
    const post = (app: string, token: string, body: unknown) =>
      h
        .http()
        .post(`/v1/apps/${app}/drills`)
        .set(h.as(token))
        .send(body as object);
    const cases: [string, string, string, unknown, number, string][] = [
      ['no reason', h.fx.app, h.fx.tokens.operator, {}, 400, 'validation-failed'],
      [
        'unknown field',
        h.fx.app,
        h.fx.tokens.operator,
        { reason: 'a drill', region: 'east' },
        400,
        'validation-failed',
      ],
      ['viewer', h.fx.app, h.fx.tokens.viewer, { reason: 'a drill' }, 403, 'forbidden'],
      ['unknown app', 'no-such-app', h.fx.tokens.operator, { reason: 'a drill' }, 404, 'app-not-found'],
    ];
    const before = (
      await h.http().get(`/v1/operations?app=${h.fx.app}&kind=drill`).set(h.as(h.fx.tokens.viewer))
    ).body as { items: unknown[] };
    for (const [what, app, token, body, status, code] of cases) {
      const res = await post(app, token, body);
      assert.deepEqual([res.status, res.body.error], [status, code], `${what}: ${JSON.stringify(res.body)}`);
    }
    const afterList = (
      await h.http().get(`/v1/operations?app=${h.fx.app}&kind=drill`).set(h.as(h.fx.tokens.viewer))
    ).body as { items: unknown[] };
    assert.equal(afterList.items.length, before.items.length);
  });
});
