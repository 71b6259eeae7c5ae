import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditVerification } from '../../infra/audit/audit.port';
import { type FuzzResult, fuzzToken, requestsAnswered, runSchemathesis } from '../support/api-fuzz';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';

/**
 * A third-party fuzzer against the real API: schemathesis reads the API's own OpenAPI document and
 * sends generated requests (valid and invalid) to every route, once with a token of each role and
 * once without one. Real worker, real Temporal, the API listening on loopback. Bounded (about
 * 3 minutes on the shared machine); bench/api-fuzz.sh is the long run.
 */
const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 14014);
const MAX_EXAMPLES = Number(process.env.SWITCHYARD_FUZZ_MAX_EXAMPLES ?? 6);
const WHO = ['admin', 'operator', 'approver', 'viewer', 'monitor', 'none'] as const;
/**
 * Admin reaches every route's logic: every phase, boundary values (coverage) included. An operator
 * reaches most of it: examples and fuzzing. The others are refused before validation on most
 * routes, so fewer cases say as much there. Together about 3 minutes on the loaded 2-core machine.
 */
function plan(who: (typeof WHO)[number]) {
  if (who === 'admin')
    return { phases: ['examples', 'coverage', 'fuzzing'] as const, maxExamples: MAX_EXAMPLES };
  if (who === 'operator') return { phases: ['examples', 'fuzzing'] as const, maxExamples: MAX_EXAMPLES };
  return { phases: ['examples', 'fuzzing'] as const, maxExamples: Math.ceil(MAX_EXAMPLES / 2) };
}

describe('API under a schema-driven fuzzer (schemathesis)', () => {
  let h: ApiHarness;
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);

  before(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    h = new ApiHarness(await startAppFixture());
    await h.start({ listen: true });
  });
  after(async () => {
    await h?.stop();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  it('finds no server error, no schema violation, no undeclared status, for every role and none', async () => {
    const started = Date.now();
    const metricsBefore = requestsAnswered((await h.http().get('/metrics').expect(200)).text);
    console.log(`api-fuzz: seed ${SEED}, max examples ${MAX_EXAMPLES}, against ${h.baseUrl}`);
    const results: { who: string; r: FuzzResult }[] = [];
    for (const who of WHO) {
      const r = await runSchemathesis({
        baseUrl: h.baseUrl,
        token: fuzzToken(h.fx, who),
        seed: SEED,
        maxExamples: plan(who).maxExamples,
        phases: [...plan(who).phases],
      });
      console.log(
        `api-fuzz: ${who}: ${r.generated} test cases over ${r.operationsTested}/${r.operationsTotal} operations in ${r.seconds.toFixed(1)} s, ` +
          `${r.failures.length} failure kinds, ${r.errors.length} errors, exit ${r.exitCode}`,
      );
      if (r.exitCode !== 0 || r.failures.length > 0 || r.errors.length > 0) console.log(r.output);
      results.push({ who, r });
    }
    const metricsAfter = requestsAnswered((await h.http().get('/metrics').expect(200)).text);
    const seconds = (Date.now() - started) / 1000;
    const operations = Math.max(...results.map((x) => x.r.operationsTotal));
    console.log(
      `api-fuzz: ${metricsAfter - metricsBefore} requests answered, ${operations} operations x ${WHO.length} principals, ${seconds.toFixed(1)} s`,
    );

    const failures = results.flatMap(({ who, r }) =>
      r.failures.map((f) => `${who}: ${f.title} x${f.count} (${f.operations.join(', ')})`),
    );
    const errors = results.flatMap(({ who, r }) => r.errors.map((e) => `${who}: ${e.title} x${e.count}`));
    assert.deepEqual(failures, []);
    assert.deepEqual(errors, []);
    for (const { who, r } of results) {
      assert.equal(r.exitCode, 0, `schemathesis as ${who} exited ${r.exitCode}`);
      assert.equal(r.operationsTested, r.operationsTotal, `as ${who}: every operation is tested`);
    }
    assert.ok(operations >= 39, `only ${operations} operations in the document`);
    assert.deepEqual(crashes, [], 'no unhandled rejection or exception during the run');
  });

  it('leaves the API answering and the audit chain intact', async () => {
    await h.http().get('/healthz').expect(200, { status: 'ok' });
    const res = await h.http().get('/v1/audit/verify').set(h.as(h.fx.tokens.viewer)).expect(200);
    const v = res.body as AuditVerification;
    assert.equal(v.ok, true, JSON.stringify(v.firstBreak));
    assert.ok(v.checked > 0);
  });
});
