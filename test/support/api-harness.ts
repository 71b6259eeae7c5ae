import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApi } from '../../apps/api/bootstrap';
import type { AuditEvent } from '../../infra/audit/audit.port';
import type { SwitchyardConfig } from '../../infra/config/config.schema';
import type { OperationPhase, OperationStatus } from '../../workflows/operation';
import { type AppFixture, startWorker, type WorkerProcess } from './app-fixture';
import { waitFor } from './stack';

const CLI_MAIN = path.resolve(__dirname, '../../apps/cli/main.js');

/**
 * The API runs in the test's process: an unhandled rejection or uncaught exception there is what
 * would end a real API process, so it fails the test during which it happened (and, if it comes
 * after the last test, the harness's stop()), never only a log line.
 */
const processErrors: string[] = [];
const describeError = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));
process.on('unhandledRejection', (reason) =>
  processErrors.push(`unhandled rejection: ${describeError(reason)}`),
);
process.on('uncaughtException', (err) => processErrors.push(`uncaught exception: ${describeError(err)}`));

/** Throws if the process saw an unhandled rejection or uncaught exception since the last call. */
export function assertNoProcessErrors(): void {
  const seen = processErrors.splice(0);
  assert.deepEqual(seen, [], `the process had ${seen.length} unhandled error(s): they would end the API`);
}

afterEach(assertNoProcessErrors);

/**
 * One app fixture driven end to end: a worker process and the API (in-process, reached through
 * supertest or, after `start({ listen: true })`, over loopback HTTP for the CLI).
 */
export class ApiHarness {
  api!: NestExpressApplication;
  worker!: WorkerProcess;
  /** Set when started with `listen: true`. */
  baseUrl = '';
  private readonly extraApis: NestExpressApplication[] = [];

  constructor(readonly fx: AppFixture) {}

  async start(options: { listen?: boolean } = {}): Promise<void> {
    this.worker = await startWorker(this.fx);
    await this.startApi(options);
  }

  /** `port`: listen there (e.g. the port of an API this one replaces after a restart); default any free one. */
  async startApi(options: { listen?: boolean; port?: number } = {}): Promise<void> {
    this.api = await createApi({ config: this.fx.config, logger: false });
    if (options.listen) {
      await this.api.listen(options.port ?? 0, '127.0.0.1');
      this.baseUrl = `http://127.0.0.1:${(this.api.getHttpServer().address() as AddressInfo).port}`;
    } else {
      await this.api.init();
    }
  }

  /** Another API over the same database and Temporal (e.g. with `auth.oidc`); closed by stop(). */
  async extraApi(config: SwitchyardConfig): Promise<NestExpressApplication> {
    const api = await createApi({ config, logger: false });
    await api.init();
    this.extraApis.push(api);
    return api;
  }

  async stop(): Promise<void> {
    await this.worker?.kill('SIGKILL');
    for (const a of this.extraApis) await a.close();
    await this.api?.close();
    await this.fx.stop();
    assertNoProcessErrors();
  }

  http(api = this.api) {
    return request(api.getHttpServer());
  }

  as(token: string) {
    return { Authorization: `Bearer ${token}` };
  }

  postFailover(to: string, reason = 'end-to-end test') {
    return this.http()
      .post(`/v1/apps/${this.fx.app}/failovers`)
      .set(this.as(this.fx.tokens.operator))
      .send({ to, mode: 'planned', reason });
  }

  async requestFailover(to = 'west', reason?: string): Promise<string> {
    const res = await this.postFailover(to, reason);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return (res.body as { operationId: string }).operationId;
  }

  /** A failback to the app's halted region (the old primary of the last failover). */
  async requestFailback(reason = 'end-to-end test'): Promise<string> {
    const res = await this.http()
      .post(`/v1/apps/${this.fx.app}/failbacks`)
      .set(this.as(this.fx.tokens.operator))
      .send({ reason });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return (res.body as { operationId: string }).operationId;
  }

  decide(id: string, token: string, decision: 'approve' | 'reject', comment = `${decision}d in test`) {
    return this.http().post(`/v1/operations/${id}/approvals`).set(this.as(token)).send({ decision, comment });
  }

  async operation(id: string): Promise<OperationStatus> {
    return (await this.http().get(`/v1/operations/${id}`).set(this.as(this.fx.tokens.viewer)).expect(200))
      .body as OperationStatus;
  }

  phase(id: string, want: (p: OperationPhase) => boolean, what: string, timeoutMs = 60_000) {
    return waitFor(
      async () => {
        const op = await this.operation(id);
        return want(op.phase) ? op : false;
      },
      { what: `operation ${id} ${what}`, timeoutMs, intervalMs: 100 },
    );
  }

  awaitingRound(id: string, round: number) {
    return waitFor(
      async () => {
        const op = await this.operation(id);
        return op.phase === 'AwaitingApproval' && op.approval?.round === round ? op : false;
      },
      { what: `operation ${id} awaiting approval round ${round}`, timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  /** Every audit event matching the query (`target=...&action=...`), across pages. */
  async audit(query = ''): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `limit=1000${query ? `&${query}` : ''}${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await this.http().get(`/v1/audit?${q}`).set(this.as(this.fx.tokens.viewer)).expect(200);
      const page = res.body as { items: AuditEvent[]; nextCursor: string | null };
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }

  setHealthy(region: string, healthy: boolean) {
    const r = this.fx.regions.find((x) => x.name === region)!;
    return fetch(`http://${r.ip}:${r.port}/admin/${healthy ? 'healthy' : 'unhealthy'}`, { method: 'POST' });
  }

  /** Runs the CLI against the listening API (start with `listen: true`); never throws on a non-zero exit. */
  cli(token: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    assert.ok(this.baseUrl, 'the CLI needs the API listening: start({ listen: true })');
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI_MAIN, ...args],
        {
          env: { ...process.env, SWITCHYARD_API_URL: this.baseUrl, SWITCHYARD_TOKEN: token },
          timeout: 30_000,
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }
}
