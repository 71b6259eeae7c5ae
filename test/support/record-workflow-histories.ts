import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Supervisor } from '../../infra/stack/supervisor';
import { startTestServers, writeStackInfo } from '../../infra/stack/test-servers';
import { appControllerWorkflowId, parseOperationId } from '../../workflows/definitions';
import { ApiHarness } from './api-harness';
import { startAppFixture } from './app-fixture';
import { waitFor } from './stack';

/**
 * Records the workflow histories that test/unit/workflow-replay.test.ts replays against the
 * current workflow code (docs/testing.md#workflow-replay). Runs real operations on loopback servers
 * it starts and stops itself: a restore point, a soft delete undone, a planned switchover with an
 * approval, a failback, and the app controller that served them; writes one JSON file per
 * workflow into test/fixtures/workflow-histories/.
 *
 *   bash infra/scripts/record-histories.sh
 *
 * Record anew only when no workflow of the recorded shape can still be running anywhere (a
 * release that drains them); otherwise make the change replay-safe (`patched()`).
 */

const OUT = resolve(__dirname, '../../../test/fixtures/workflow-histories');
const RPO_SECONDS = 3;

async function main(): Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'switchyard-record-'));
  const supervisor = new Supervisor(runDir, { handleSignals: false });
  let h: ApiHarness | undefined;
  try {
    process.env.SWITCHYARD_TEST_STACK = writeStackInfo((await startTestServers(runDir, supervisor)).info);
    h = new ApiHarness(
      await startAppFixture({
        services: true,
        fencing: true,
        rpoSeconds: RPO_SECONDS,
        softDelete: { windowSeconds: 600 },
        failoverApproval: { required: 1 },
      }),
    );
    await h.start();
    const harness = h;
    const app = harness.fx.app;
    const operator = harness.as(harness.fx.tokens.operator);
    const done = async (id: string, what: string) => {
      const op = await harness.phase(
        id,
        (p) => !['Running', 'AwaitingApproval', 'Compensating'].includes(p),
        what,
        180_000,
      );
      assert.ok(
        ['Completed', 'Undone'].includes(op.phase),
        `${what}: ${op.phase} ${JSON.stringify(op.error)}`,
      );
      return op;
    };
    const recorded: { name: string; operationId?: string; workflowId?: string }[] = [];

    // Two restore points; the first, once outside the RPO window, is deleted and the delete undone.
    const points: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await harness
        .http()
        .post(`/v1/apps/${app}/restore-points`)
        .set(operator)
        .send({ reason: 'record' });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      await done(res.body.operationId as string, 'restore point');
      points.push(res.body.restorePointId as string);
      if (i === 0) recorded.push({ name: 'restore-point', operationId: res.body.operationId as string });
    }
    const deleted = await waitFor(
      async () => {
        const res: { status: number; body: { operationId?: string } } = await harness
          .http()
          .delete(`/v1/restore-points/${points[0]}?reason=record`)
          .set(operator);
        return res.status === 202 ? res.body.operationId : false;
      },
      { what: 'the first restore point to leave the RPO window', timeoutMs: 30_000, intervalMs: 500 },
    );
    await harness.phase(deleted, (p) => p === 'Undoable', 'undoable');
    await h
      .http()
      .post(`/v1/operations/${deleted}/undo`)
      .set(operator)
      .send({ reason: 'record' })
      .expect(200);
    await done(deleted, 'restore point delete');
    recorded.push({ name: 'restore-point-delete-undone', operationId: deleted });

    // A planned switchover to west, approved by someone else; then the failback home.
    const failover = await harness.requestFailover('west', 'record');
    await harness.awaitingRound(failover, 1);
    await harness.decide(failover, harness.fx.tokens.approver, 'approve').expect(200);
    await done(failover, 'switchover');
    recorded.push({ name: 'failover-planned', operationId: failover });
    const failback = await harness.requestFailback('record');
    await waitFor(
      async () => {
        const op = await harness.operation(failback);
        if (op.phase === 'AwaitingApproval')
          await harness.decide(failback, harness.fx.tokens.approver, 'approve');
        return op.phase !== 'Running' && op.phase !== 'AwaitingApproval';
      },
      { what: 'the failback to end', timeoutMs: 180_000, intervalMs: 250 },
    );
    await done(failback, 'failback');
    recorded.push({ name: 'failback', operationId: failback });
    recorded.push({ name: 'app-controller', workflowId: appControllerWorkflowId(app) });

    const client = await harness.fx.temporal();
    mkdirSync(OUT, { recursive: true });
    for (const r of recorded) {
      const ids = r.operationId ? parseOperationId(r.operationId) : undefined;
      // An operation runs under its slot's workflow id (this run of it) or its own (its latest run).
      const candidates: { workflowId: string; runId?: string }[] = ids
        ? [
            ...ids.workflowIds.map((w) => ({ workflowId: w, runId: ids.runId })),
            { workflowId: ids.ownWorkflowId },
          ]
        : [{ workflowId: r.workflowId! }];
      let found: { workflowId: string; runId?: string } | undefined;
      for (const c of candidates) {
        if (found) break;
        const ok = await client.workflow
          .getHandle(c.workflowId, c.runId)
          .describe()
          .then(
            () => true,
            () => false,
          );
        if (ok) found = c;
      }
      assert.ok(found, `no workflow runs operation ${r.operationId}`);
      const { workflowId, runId } = found;
      const handle = client.workflow.getHandle(workflowId, runId);
      const description = await handle.describe();
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const file = join(OUT, `${r.name}.json`);
      writeFileSync(
        file,
        `${JSON.stringify(
          {
            recordedAt: new Date().toISOString(),
            workflowType: description.type,
            workflowId,
            events: events.length,
            eventTypes: events.map((e) => temporal.api.enums.v1.EventType[e.eventType ?? 0]),
            // Temporal's protobuf History, base64: what Worker.runReplayHistory replays.
            history: Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64'),
          },
          null,
          1,
        )}\n`,
      );
      process.stdout.write(`recorded ${description.type} (${events.length} events) → ${file}\n`);
    }
  } finally {
    await h?.stop();
    await supervisor.stopAll();
    rmSync(runDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`record-histories: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
