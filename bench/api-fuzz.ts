import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor } from '../infra/stack/supervisor';
import { startTestServers, writeStackInfo } from '../infra/stack/test-servers';
import {
  type FuzzResult,
  FUZZ_CHECKS,
  fuzzToken,
  requestsAnswered,
  runSchemathesis,
} from '../test/support/api-fuzz';
import { ApiHarness } from '../test/support/api-harness';
import { startAppFixture } from '../test/support/app-fixture';
import { formatTable, machineFacts, parseArgs, positiveInt, printFacts } from './support';

/**
 * The long fuzz of the API: schemathesis against the real API (worker, Temporal, the regions'
 * servers on loopback), from the API's own OpenAPI document, as each role and anonymously, each
 * for its share of the time budget. Prints requests sent, operations covered, failures and the
 * machine's load. The suite's bounded run is test/e2e/api-fuzz.e2e.test.ts.
 *
 *   bash bench/api-fuzz.sh [--seconds 240] [--roles admin,viewer,none] [--seed 14014] [--checks ...] [--keep]
 */

const ROLES = ['admin', 'operator', 'approver', 'viewer', 'monitor', 'none'] as const;
type Who = (typeof ROLES)[number];
const OPTIONS = {
  seconds: 'value',
  roles: 'value',
  seed: 'value',
  'max-examples': 'value',
  checks: 'value',
  keep: 'flag',
  help: 'flag',
} as const;
const USAGE = `usage: bash bench/api-fuzz.sh [options]   (or node dist/bench/api-fuzz.js)
  --seconds N        the time budget, shared equally by the roles (default 240; env BENCH_SECONDS)
  --roles a,b        who sends the requests (default ${ROLES.join(',')}; none = no token)
  --seed N           schemathesis's seed (default: a new one, printed)
  --max-examples N   test cases per operation and phase before the budget repeats them (default 50)
  --checks a,b       checks beyond ${FUZZ_CHECKS.join(', ')} (e.g. negative_data_rejection)
  --keep             keep the run directory (servers' data and logs)
`;

const say = (line: string) => process.stdout.write(`bench: ${line}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), OPTIONS);
  if (args.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const seconds = positiveInt('--seconds', args.get('seconds') ?? process.env.BENCH_SECONDS, 240);
  const roles = (args.get('roles') ?? ROLES.join(',')).split(',').map((r) => r.trim()) as Who[];
  for (const r of roles) if (!ROLES.includes(r)) throw new Error(`--roles: unknown role "${r}"`);
  const seed = positiveInt('--seed', args.get('seed'), Math.floor(Math.random() * 1_000_000));
  const maxExamples = positiveInt('--max-examples', args.get('max-examples'), 50);
  const extraChecks = args.get('checks')?.split(',').filter(Boolean) ?? [];
  const keep = args.has('keep') || process.env.BENCH_KEEP === '1';
  const share = Math.max(10, Math.floor(seconds / roles.length));

  const runDir = process.env.BENCH_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'switchyard-bench-fuzz-'));
  const supervisor = new Supervisor(runDir, { handleSignals: false });
  process.once('SIGINT', () => void supervisor.stopAll().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void supervisor.stopAll().finally(() => process.exit(143)));
  printFacts('machine', machineFacts({ 'run dir': runDir }));
  printFacts('settings', {
    budget: `${seconds} s: ${share} s for each of ${roles.join(', ')}`,
    seed: String(seed),
    'max examples': `${maxExamples} per operation and phase (examples, coverage, fuzzing)`,
    checks: [...FUZZ_CHECKS, ...extraChecks].join(', '),
  });

  let ok = false;
  let h: ApiHarness | undefined;
  const results: { who: Who; r: FuzzResult }[] = [];
  try {
    const servers = await startTestServers(runDir, supervisor);
    process.env.SWITCHYARD_TEST_STACK = writeStackInfo(servers.info);
    h = new ApiHarness(await startAppFixture());
    await h.start({ listen: true });
    const before = requestsAnswered((await h.http().get('/metrics')).text);
    const started = Date.now();
    for (const who of roles) {
      const r = await runSchemathesis({
        baseUrl: h.baseUrl,
        token: fuzzToken(h.fx, who),
        seed,
        maxExamples,
        maxTimeSeconds: share,
        extraChecks,
      });
      say(
        `${who}: ${r.generated} test cases, ${r.operationsTested}/${r.operationsTotal} operations, ${r.failures.length} failure kinds, ${r.errors.length} errors, ${r.seconds.toFixed(1)} s`,
      );
      results.push({ who, r });
    }
    const answered = requestsAnswered((await h.http().get('/metrics')).text) - before;
    const healthz = (await h.http().get('/healthz')).status;
    const verify = (await h.http().get('/v1/audit/verify').set(h.as(h.fx.tokens.viewer))).body as {
      ok: boolean;
      checked: number;
    };

    process.stdout.write(
      `\n${formatTable(
        ['principal', 'test cases', 'operations', 'failures', 'errors', 'seconds'],
        results.map(({ who, r }) => [
          who,
          r.generated,
          `${r.operationsTested}/${r.operationsTotal}`,
          r.failures.reduce((n, f) => n + f.count, 0),
          r.errors.reduce((n, e) => n + e.count, 0),
          r.seconds.toFixed(1),
        ]),
      )}\n\n`,
    );
    const failures = results.flatMap(({ who, r }) =>
      r.failures.map((f) => `${who}: ${f.title} ×${f.count} (${f.operations.join(', ')})`),
    );
    const errors = results.flatMap(({ who, r }) => r.errors.map((e) => `${who}: ${e.title} ×${e.count}`));
    printFacts('result', {
      'requests answered': `${answered} (the API's switchyard_http_requests_total)`,
      operations: `${Math.max(...results.map((x) => x.r.operationsTested))} of the document's ${Math.max(...results.map((x) => x.r.operationsTotal))}, as ${roles.length} principals`,
      duration: `${((Date.now() - started) / 1000).toFixed(1)} s`,
      failures: failures.length === 0 ? 'none' : failures.join('; '),
      errors: errors.length === 0 ? 'none' : errors.join('; '),
      'API alive': healthz === 200 ? 'yes (/healthz 200)' : `no (/healthz ${healthz})`,
      'audit chain': verify.ok ? `verifies (${verify.checked} events)` : `BROKEN: ${JSON.stringify(verify)}`,
      uptime: execFileSync('uptime', { encoding: 'utf8' }).trim(),
    });
    for (const { who, r } of results) {
      if (r.failures.length || r.errors.length)
        process.stdout.write(`\n--- schemathesis as ${who} ---\n${r.output}`);
    }
    ok = true;
    return failures.length === 0 && errors.length === 0 && healthz === 200 && verify.ok ? 0 : 1;
  } finally {
    await h?.stop();
    await supervisor.stopAll();
    if (ok && !keep && !process.env.BENCH_RUN_DIR) rmSync(runDir, { recursive: true, force: true });
    else say(`run dir kept: ${runDir} (logs in ${join(runDir, 'logs')})`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
