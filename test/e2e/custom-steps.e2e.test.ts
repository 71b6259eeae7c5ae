import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../infra/config/config.loader';
import { buildCustomSteps } from '../../infra/config/custom-steps';
import { verifySignature } from '../../infra/notify/webhook.notifier';
import type { CustomStepsTestInput } from '../../workflows/custom-steps-test.workflow';
import type { CheckpointConfirmation, CustomStepPlan } from '../../workflows/custom-steps';
import {
  appSlotWorkflowId,
  coordinatorTaskQueue,
  operationIdOf,
  operationSearchAttributes,
  STATUS_MEMO_KEY,
} from '../../workflows/definitions';
import {
  FAILOVER_PLAN_STEPS,
  initialOperationStatus,
  isTerminal,
  type OperationStatus,
} from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * Custom steps end to end: the worker (its own process, reading the secret from its configuration
 * through ${ENV}) calls a signed webhook that a real receiver verifies; a checkpoint waits until an
 * operator confirms it through the real API (or the CLI); a failure after the webhook calls its
 * compensation URL. The operation runs the planned-switchover plan with built-in steps that do
 * nothing (workflows/custom-steps-test.workflow.ts), so only the custom steps are under test here;
 * the failover e2e tests cover the built-in steps.
 */

const SECRET_ENV = 'SWITCHYARD_E2E_CUSTOM_STEP_SECRET';

/** Every string inside the history's payloads (they are bytes: JSON encoded). */
function payloadText(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('utf8'));
  else if (Array.isArray(value)) value.forEach((v) => payloadText(v, out));
  else if (value && typeof value === 'object') Object.values(value).forEach((v) => payloadText(v, out));
  else if (typeof value === 'string') out.push(value);
  return out;
}

describe('custom steps (webhook, checkpoint) in an operation', () => {
  const receiver = new WebhookReceiver();
  /** Subscribed to `checkpoint.waiting` notifications. */
  const notified = new WebhookReceiver();
  let h: ApiHarness;
  let plan: CustomStepPlan[];
  let previous: WorkflowHandle | undefined;

  before(async () => {
    await Promise.all([receiver.start(), notified.start()]);
    const fx = await startAppFixture({
      ttl: 1,
      notifications: {
        webhooks: [{ url: notified.url, secret: notified.secret, events: ['checkpoint.waiting'] }],
      },
    });
    // The worker reads the configuration file: the steps go in there, the secret through ${ENV}.
    process.env[SECRET_ENV] = receiver.secret;
    const doc = parse(readFileSync(fx.configFile, 'utf8')) as {
      apps: Record<string, Record<string, unknown>>;
    };
    doc.apps[fx.app]!.failover = {
      steps: [
        {
          name: 'notify-ops',
          type: 'webhook',
          before: 'fence',
          url: `${receiver.url}/run`,
          compensateUrl: `${receiver.url}/undo`,
          secret: `\${${SECRET_ENV}}`,
          timeoutSeconds: 5,
        },
        { name: 'dba-go', type: 'checkpoint', after: 'restore', timeoutSeconds: 120 },
        { name: 'final-look', type: 'checkpoint', before: 'commit', timeoutSeconds: 120 },
      ],
    };
    const text = stringify(doc);
    writeFileSync(fx.configFile, text);
    fx.config = parseConfig(text, fx.configFile, process.env);
    plan = buildCustomSteps(fx.config.apps[fx.app]!, 'planned');
    h = new ApiHarness(fx);
    await h.start({ listen: true });
  });
  after(async () => {
    await h?.stop();
    await Promise.all([receiver.stop(), notified.stop()]);
    delete process.env[SECRET_ENV];
  });

  /** Starts the test operation in the app's operation slot, as the API starts a failover. */
  async function startOperation(custom: CustomStepPlan[], failAt?: string): Promise<string> {
    const { fx } = h;
    const spec = { to: 'west', mode: 'planned' as const, reason: 'custom steps e2e' };
    const input: CustomStepsTestInput = {
      app: fx.app,
      spec,
      requestedBy: 'alice',
      mode: 'planned',
      builtins: [...FAILOVER_PLAN_STEPS.planned],
      custom,
      failAt,
    };
    const client = await fx.temporal();
    // The previous operation records its outcome a moment before its workflow closes the slot.
    await previous?.result().catch(() => undefined);
    const handle = await client.workflow.start('customStepsTestWorkflow', {
      taskQueue: coordinatorTaskQueue(fx.config.temporal.taskQueuePrefix),
      workflowId: appSlotWorkflowId(fx.app, 'operation'),
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      args: [input],
      memo: {
        [STATUS_MEMO_KEY]: initialOperationStatus(
          'failover',
          fx.app,
          spec,
          'alice',
          new Date().toISOString(),
        ),
      },
      typedSearchAttributes: operationSearchAttributes(fx.app, 'failover'),
    });
    previous = handle;
    return operationIdOf(fx.app, handle.firstExecutionRunId);
  }

  function stepWaiting(id: string, step: string) {
    return waitFor(
      async () => {
        const op = await h.operation(id);
        const s = op.steps.find((x) => x.name === step);
        return s?.status === 'Running' && s.detail?.startsWith('waiting for') ? op : false;
      },
      { what: `checkpoint ${step} of ${id} waiting`, timeoutMs: 30_000, intervalMs: 100 },
    );
  }

  function confirm(id: string, step: string, token: string, body: object = { reason: 'checked, go on' }) {
    return h.http().post(`/v1/operations/${id}/checkpoints/${step}/confirm`).set(h.as(token)).send(body);
  }

  it('calls the signed webhook, waits at each checkpoint for an operator, and completes', async () => {
    const { fx } = h;
    const id = await startOperation(plan);
    await stepWaiting(id, 'dba-go');

    const run = receiver.requests.filter((r) => r.headers['x-switchyard-event'] === 'custom-step.run');
    assert.equal(run.length, 1);
    assert.equal(verifySignature(receiver.secret, run[0]!.headers, run[0]!.raw, 60), true);
    assert.deepEqual(JSON.parse(run[0]!.raw.toString('utf8')), {
      operationId: id,
      app: fx.app,
      step: 'notify-ops',
      mode: 'planned',
      action: 'run',
      to: 'west',
    });

    // Whoever subscribed hears that the operation waits, and where.
    const waiting = await waitFor(
      () =>
        notified.requests.find((r) => r.body.payload.operationId === id && r.body.payload.step === 'dba-go'),
      { what: 'a checkpoint.waiting notification for dba-go', timeoutMs: 15_000 },
    );
    assert.equal(waiting.body.event, 'checkpoint.waiting');
    assert.equal(waiting.body.payload.requestedBy, 'alice');
    assert.ok(verifySignature(notified.secret, waiting.headers, waiting.raw, 60));

    // Who may confirm, and what: refusals change nothing.
    for (const token of [fx.tokens.viewer, fx.tokens.approver]) {
      const r = await confirm(id, 'dba-go', token);
      assert.equal(r.status, 403, JSON.stringify(r.body));
    }
    const noReason = await confirm(id, 'dba-go', fx.tokens.operator, {});
    assert.deepEqual([noReason.status, noReason.body.error], [400, 'validation-failed']);
    assert.match(noReason.body.message, /body\.reason: required/);
    const unknownOp = await confirm(
      operationIdOf(fx.app, '00000000-0000-4000-8000-000000000000'),
      'dba-go',
      fx.tokens.operator,
    );
    assert.deepEqual([unknownOp.status, unknownOp.body.error], [404, 'operation-not-found']);
    for (const step of ['nope', 'notify-ops']) {
      const r = await confirm(id, step, fx.tokens.operator);
      assert.deepEqual([r.status, r.body.error], [404, 'checkpoint-not-found'], JSON.stringify(r.body));
    }
    const notYet = await confirm(id, 'final-look', fx.tokens.operator);
    assert.deepEqual([notYet.status, notYet.body.error], [409, 'checkpoint-not-waiting']);
    const still = await h.operation(id);
    assert.equal(still.steps.find((s) => s.name === 'dba-go')!.status, 'Running');
    assert.equal(still.steps.find((s) => s.name === 'promote')!.status, 'Pending');

    const cli = await h.cli(fx.tokens.operator, 'confirm', id, 'dba-go', '--reason', 'replica lag is zero');
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`checkpoint dba-go of ${id} confirmed by alice`));
    const again = await confirm(id, 'dba-go', fx.tokens.admin);
    assert.deepEqual([again.status, again.body.error], [409, 'checkpoint-not-waiting']);

    await stepWaiting(id, 'final-look');
    const byAdmin = await confirm(id, 'final-look', fx.tokens.admin, { reason: 'dashboards look fine' });
    assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
    assert.equal((byAdmin.body as CheckpointConfirmation).confirmedBy, 'carol');

    const done = await h.phase(id, isTerminal, 'to finish', 30_000);
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.deepEqual(
      done.steps.map((s) => s.name),
      [
        'preflight',
        'approval',
        'quiesce',
        'final-restore-point',
        'notify-ops',
        'fence',
        'restore',
        'dba-go',
        'promote',
        'dns',
        'verify',
        'final-look',
        'commit',
      ],
    );
    assert.ok(done.steps.every((s) => s.status === 'Completed'));
    assert.equal(
      done.steps.find((s) => s.name === 'dba-go')!.detail,
      'confirmed by alice: replica lag is zero',
    );
    const confirmations = done.facts.checkpoints as Record<string, CheckpointConfirmation>;
    assert.deepEqual(
      Object.values(confirmations).map((c) => [c.step, c.confirmedBy, c.reason]),
      [
        ['dba-go', 'alice', 'replica lag is zero'],
        ['final-look', 'carol', 'dashboards look fine'],
      ],
    );

    const events = await h.audit(`target=operation:${id}`);
    const confirmed = events.filter((e) => e.action === 'checkpoint.confirmed');
    assert.deepEqual(
      confirmed.map((e) => [e.actor, e.details.step, e.details.comment]),
      [
        ['alice', 'dba-go', 'replica lag is zero'],
        ['carol', 'final-look', 'dashboards look fine'],
      ],
    );
    const calls = events.filter((e) => e.action === 'checkpoint.confirm');
    assert.ok(calls.some((e) => e.actor === 'victor' && e.outcome !== 'accepted'));
    assert.equal(calls.filter((e) => e.outcome === 'accepted').length, 2);

    // The secret is in no answer, no audit event and nowhere in the workflow's history.
    const client = await fx.temporal();
    const history = await client.workflow.getHandle(appSlotWorkflowId(fx.app, 'operation')).fetchHistory();
    const seen = [JSON.stringify(done), JSON.stringify(events), ...payloadText(history)].join('\n');
    assert.ok(seen.includes('notify-ops'));
    assert.ok(!seen.includes(receiver.secret), 'the webhook secret leaked');
  });

  it('calls the compensation URL when a later step fails, and fails a checkpoint nobody confirms in time', async () => {
    const short = plan.map((p) => (p.type === 'checkpoint' ? { ...p, timeoutSeconds: 2 } : p));
    const before = receiver.requests.length;
    const id = await startOperation(short);
    const failed = await h.phase(id, isTerminal, 'to finish', 30_000);
    assert.equal(failed.phase, 'Failed');
    assert.equal(failed.error?.code, 'checkpoint-timeout');
    assert.equal(failed.error?.step, 'dba-go');
    const step = (name: string) => failed.steps.find((s) => s.name === name)!;
    assert.equal(step('dba-go').status, 'Failed');
    assert.match(step('dba-go').error!.message, /checkpoint "dba-go" was not confirmed within 2 s/);
    assert.equal(step('notify-ops').status, 'Compensated');
    assert.equal(step('final-look').status, 'Skipped');

    const calls = receiver.requests
      .slice(before)
      .map((r) => [
        r.headers['x-switchyard-event'],
        (JSON.parse(r.raw.toString('utf8')) as { action: string }).action,
      ]);
    assert.deepEqual(calls, [
      ['custom-step.run', 'run'],
      ['custom-step.compensate', 'compensate'],
    ]);
    const undo = receiver.requests.at(-1)!;
    assert.equal(verifySignature(receiver.secret, undo.headers, undo.raw, 60), true);
    assert.equal(undo.headers['x-switchyard-delivery'], `${id}:notify-ops:compensate`);

    const late = await confirm(id, 'dba-go', h.fx.tokens.operator);
    assert.deepEqual([late.status, late.body.error], [409, 'checkpoint-not-waiting']);
  });

  it('fails the webhook step on an unexpected answer, before anything after it runs', async () => {
    const refusing = new WebhookReceiver(() => 422);
    await refusing.start();
    try {
      const custom = plan.map((p) =>
        p.type === 'webhook' ? { ...p, url: refusing.url, compensateUrl: undefined } : p,
      );
      const id = await startOperation(custom);
      const failed: OperationStatus = await h.phase(id, isTerminal, 'to finish', 30_000);
      assert.equal(failed.phase, 'Failed');
      assert.equal(failed.error?.code, 'custom-step-unexpected-status');
      assert.match(failed.error!.message, /answered 422, expected 200\/201\/202\/204/);
      assert.equal(failed.steps.find((s) => s.name === 'fence')!.status, 'Skipped');
      assert.equal(refusing.requests.length, 1);
    } finally {
      await refusing.stop();
    }
  });
});
