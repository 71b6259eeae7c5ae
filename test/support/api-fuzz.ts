import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireExecutable, toolPaths } from '../../infra/stack/tools';

/**
 * schemathesis (`st run`) against the API's own OpenAPI document, as one principal: the bounded run
 * of the test suite (test/e2e/api-fuzz.e2e.test.ts) and the longer one of bench/api-fuzz.sh.
 */

/** The checks every run makes (docs/api.md#fuzzing-the-api). */
export const FUZZ_CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
] as const;

export interface FuzzOptions {
  baseUrl: string;
  /** A bearer token; none: every request is anonymous. */
  token?: string;
  seed: number;
  /** Test cases per operation and phase. */
  maxExamples: number;
  /** A time budget for the whole run: fuzzing repeats until it is spent (bench). */
  maxTimeSeconds?: number;
  /** A request that takes longer fails the run. */
  requestTimeoutSeconds?: number;
  workers?: number;
  /** Checks beyond FUZZ_CHECKS (bench: e.g. negative_data_rejection). */
  extraChecks?: string[];
  /** schemathesis's phases; default examples, coverage (boundary values) and fuzzing. */
  phases?: ('examples' | 'coverage' | 'fuzzing')[];
}

export interface FuzzFailure {
  title: string;
  code?: string;
  count: number;
  operations: string[];
}

export interface FuzzResult {
  exitCode: number;
  /** Test cases schemathesis generated (one request each). */
  generated: number;
  operationsTested: number;
  operationsTotal: number;
  failures: FuzzFailure[];
  errors: { title: string; count: number }[];
  seconds: number;
  /** schemathesis's own account, for the log when something failed. */
  output: string;
}

interface JsonReport {
  exit_code: number;
  running_time: number | null;
  operations: { total: number; tested: number } | null;
  test_cases: { generated: number };
  failures: FuzzFailure[];
  errors: { title: string; count: number }[];
}

export async function runSchemathesis(o: FuzzOptions): Promise<FuzzResult> {
  const st = requireExecutable('schemathesis (st)', toolPaths().schemathesis);
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-fuzz-'));
  const reportPath = path.join(dir, 'report.json');
  const args = [
    'run',
    `${o.baseUrl}/docs/openapi.json`,
    '--url',
    o.baseUrl,
    '--checks',
    [...FUZZ_CHECKS, ...(o.extraChecks ?? [])].join(','),
    '--phases',
    (o.phases ?? ['examples', 'coverage', 'fuzzing']).join(','),
    '--max-examples',
    String(o.maxExamples),
    '--seed',
    String(o.seed),
    '--request-timeout',
    String(o.requestTimeoutSeconds ?? 10),
    '--workers',
    String(o.workers ?? 2),
    '--no-color',
    '--suppress-health-check',
    'all',
    '--report',
    'json',
    '--report-json-path',
    reportPath,
    ...(o.maxTimeSeconds ? ['--max-time', String(o.maxTimeSeconds)] : []),
    ...(o.token ? ['--header', `Authorization: Bearer ${o.token}`] : []),
  ];
  const started = Date.now();
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve, reject) => {
    const child = spawn(st, args, {
      cwd: dir,
      env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? 1, output: out }));
  });
  let report: JsonReport;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8')) as JsonReport;
  } catch (err) {
    throw new Error(`schemathesis wrote no report (exit ${code}): ${(err as Error).message}\n${output}`, {
      cause: err,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    exitCode: code,
    generated: report.test_cases.generated,
    operationsTested: report.operations?.tested ?? 0,
    operationsTotal: report.operations?.total ?? 0,
    failures: report.failures,
    errors: report.errors,
    seconds: (Date.now() - started) / 1000,
    output,
  };
}

/** The sum of `switchyard_http_requests_total` in the API's Prometheus text: requests it answered. */
export function requestsAnswered(metricsText: string): number {
  let total = 0;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('switchyard_http_requests_total')) total += Number(line.split(' ').pop());
  }
  return total;
}

/** The token the fuzzer sends as `who`: a monitor's is bound to a vantage point (docs/security.md). */
export function fuzzToken(
  fx: {
    tokens: Record<'admin' | 'operator' | 'approver' | 'viewer', string>;
    monitorToken(v: string): string;
  },
  who: 'admin' | 'operator' | 'approver' | 'viewer' | 'monitor' | 'none',
): string | undefined {
  if (who === 'none') return undefined;
  return who === 'monitor' ? fx.monitorToken('east') : fx.tokens[who];
}
