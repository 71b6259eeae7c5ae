import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Supervisor } from '../../infra/stack/supervisor';
import { startTestServers, writeStackInfo } from '../../infra/stack/test-servers';

/**
 * How many test files run at once (SWITCHYARD_TEST_CONCURRENCY, default 2). Files share the
 * servers but not their state: each app has its own zone, task queues and bucket prefix, and a test
 * that stops an S3 server or restarts Temporal runs its own (docs/testing.md). Most end-to-end time
 * is waiting on leases, TTLs and timers, so two files at once nearly halve the run on two cores;
 * `SWITCHYARD_TEST_CONCURRENCY=1` runs them one after another, for debugging.
 */
export function testConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SWITCHYARD_TEST_CONCURRENCY;
  if (raw === undefined || raw === '') return 2;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    throw new Error(`SWITCHYARD_TEST_CONCURRENCY must be a whole number from 1 to 16, got "${raw}"`);
  }
  return n;
}

/**
 * Test harness: starts the servers in a temporary run dir, runs
 * `node --test --test-concurrency=<n> <argv>` with SWITCHYARD_TEST_STACK pointing at their
 * stack.json, stops every server (also on failure or Ctrl-C) and exits with the runner's code.
 * The run dir is removed after a passing run and kept (with its logs) after a failing one.
 *
 *   node dist/test/support/run-tests.js dist/test/integration dist/test/unit/x.test.js
 */
async function main(): Promise<number> {
  const targets = process.argv.slice(2);
  if (targets.length === 0) {
    process.stderr.write('usage: run-tests.js <test files or dirs>...\n');
    return 2;
  }
  let concurrency: number;
  try {
    concurrency = testConcurrency();
  } catch (err) {
    process.stderr.write(`run-tests: ${(err as Error).message}\n`);
    return 2;
  }
  const runDir = process.env.SWITCHYARD_TEST_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'switchyard-test-'));
  const supervisor = new Supervisor(runDir, { handleSignals: false });
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    process.stderr.write(`\nrun-tests: ${signal}, stopping tests and servers (logs stay in ${runDir})...\n`);
    void supervisor.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const started = Date.now();
  let code = 1;
  try {
    const servers = await startTestServers(runDir, supervisor);
    const stackFile = writeStackInfo(servers.info);
    process.stdout.write(
      `run-tests: servers up in ${((Date.now() - started) / 1000).toFixed(1)}s (${runDir}), ` +
        `${concurrency} test file(s) at a time\n`,
    );
    if (interrupted) return 130;
    const runner = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...targets], {
      stdio: 'inherit',
      env: { ...process.env, SWITCHYARD_TEST_STACK: stackFile },
    });
    supervisor.adopt('node --test', runner);
    code = await new Promise<number>((resolve) => {
      runner.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
      runner.once('error', (err) => {
        process.stderr.write(`run-tests: cannot start node --test: ${err.message}\n`);
        resolve(1);
      });
    });
  } catch (err) {
    process.stderr.write(`run-tests: ${(err as Error).message}\n`);
  } finally {
    await supervisor.stopAll();
  }
  if (code === 0 && !process.env.SWITCHYARD_TEST_RUN_DIR) rmSync(runDir, { recursive: true, force: true });
  else if (code !== 0) process.stderr.write(`run-tests: server logs kept in ${join(runDir, 'logs')}\n`);
  return code;
}

if (require.main === module) void main().then((code) => process.exit(code));
