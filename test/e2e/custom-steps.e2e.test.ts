import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildCustomSteps } from '../../infra/config/custom-steps';
import { verifySignature } from '../../infra/notify/webhook.notifier';
import { type CheckpointConfirmation, expandSteps } from '../../workflows/custom-steps';
import { operationIdOf, parseOperationId } from '../../workflows/definitions';
import { FAILOVER_PLAN_STEPS, isTerminal } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { setFailoverSteps, startAppFixture } from '../support/app-fixture';
import { notifyOpsStep, payloadText } from '../support/custom-steps';
import { waitFor } from '../support/stack';
import { type ReceivedWebhook, WebhookReceiver } from '../support/webhook-receiver';

/**
 * Custom steps in real failovers, end to end: the worker (its own process, reading the webhook's
 * secret from its configuration through ${ENV}) calls a signed webhook that a real receiver
 * verifies; checkpoints wait until an operator confirms them through the API or the CLI; a
 * checkpoint nobody confirms, or a cancel while one waits, rolls the failover back and calls the
 * webhook's compensation URL, leaving DNS as it was. The app has no services, so each failover
 * takes seconds.
 */
const EAST = '127.0.1.1';
const WEST = '127.0.1.2';
const SECRET_ENV = 'SWITCHYARD_E2E_CUSTOM_STEP_SECRET';
/** Short enough for the test that lets it time out, long enough to confirm it in the others. */
const FINAL_LOOK_TIMEOUT_SECONDS = 5;

const actionOf = (r: ReceivedWebhook) => (JSON.parse(r.raw.toString('utf8')) as { action: string }).action;

describe('custom steps in failovers (webhook, checkpoints)', () => {
  const receiver = new WebhookReceiver();
  /** Subscribed to `checkpoint.waiting` notifications. */
  const notified = new WebhookReceiver();
  let h: ApiHarness;

  before(async () => {
    await Promise.all([receiver.start(), notified.start()]);
    const fx = await startAppFixture({
      ttl: 1,
      verifyTimeoutSeconds: 10,
      notifications: {
        webhooks: [{ url: notified.url, secret: notified.secret, events: ['checkpoint.waiting'] }],
      },
    });
    // The worker reads the configuration file: the steps go in there, the secret through ${ENV}.
    process.env[SECRET_ENV] = receiver.secret;
    setFailoverSteps(fx, [
      notifyOpsStep(receiver, SECRET_ENV),
      { name: 'dba-go', type: 'checkpoint', before: 'dns', timeoutSeconds: 120 },
      {
        name: 'final-look',
        type: 'checkpoint',
        before: 'commit',
        timeoutSeconds: FINAL_LOOK_TIMEOUT_SECONDS,
        appliesTo: ['planned'],
      },
    ]);
    h = new ApiHarness(fx);
    await h.start({ listen: true });
  });
  after(async () => {
    await h?.stop();
    await Promise.all([receiver.stop(), notified.stop()]);
    delete process.env[SECRET_ENV];
  });

  function stepWaiting(id: string, step: string) {
    return waitFor(
      async () => {
        const op = await h.operation(id);
        if (isTerminal(op.phase)) throw new Error(`operation ended ${op.phase}: ${JSON.stringify(op.error)}`);
        const s = op.steps.find((x) => x.name === step);
        return s?.status === 'Running' && s.detail?.startsWith('waiting for') ? op : false;
      },
      { what: `checkpoint ${step} of ${id} waiting`, timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  function confirm(id: string, step: string, token: string, body: object = { reason: 'checked, go on' }) {
    return h.http().post(`/v1/operations/${id}/checkpoints/${step}/confirm`).set(h.as(token)).send(body);
  }

  /** The receiver's requests about one operation, as [event, action]. */
  function calls(id: string): string[][] {
    return receiver.requests
      .filter((r) => String(r.headers['x-switchyard-delivery']).startsWith(`${id}:`))
      .map((r) => [String(r.headers['x-switchyard-event']), actionOf(r)]);
  }

  async function dnsOn(ip: string, what: string) {
    assert.deepEqual(await h.fx.route53A(), [ip], `${what}: route 53`);
    assert.deepEqual(await h.fx.powerDnsA(), [ip], `${what}: powerdns`);
  }

  const finished = (id: string) => h.phase(id, isTerminal, 'to finish', 90_000);

  it('rolls back when a checkpoint is not confirmed in time: the webhook is compensated, DNS stays', async () => {
    const id = await h.requestFailover('west', 'custom steps e2e: checkpoint timeout');
    await stepWaiting(id, 'dba-go');
    const ok = await confirm(id, 'dba-go', h.fx.tokens.operator);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    await stepWaiting(id, 'final-look');
    const op = await finished(id);
    assert.equal(op.phase, 'Failed', JSON.stringify(op.error));
    assert.equal(op.error?.code, 'checkpoint-timeout');
    assert.equal(op.error?.step, 'final-look');
    assert.match(
      op.error!.message,
      new RegExp(`checkpoint "final-look" was not confirmed within ${FINAL_LOOK_TIMEOUT_SECONDS} s`),
    );
    const step = (name: string) => op.steps.find((s) => s.name === name)!;
    assert.equal(step('final-look').status, 'Failed');
    assert.equal(step('notify-ops').status, 'Compensated');
    assert.equal(step('commit').status, 'Skipped');
    assert.deepEqual(calls(id), [
      ['custom-step.run', 'run'],
      ['custom-step.compensate', 'compensate'],
    ]);
    const undo = receiver.requests.at(-1)!;
    assert.equal(verifySignature(receiver.secret, undo.headers, undo.raw, 60), true);
    await dnsOn(EAST, 'after the rollback');
    const late = await confirm(id, 'final-look', h.fx.tokens.operator);
    assert.deepEqual([late.status, late.body.error], [409, 'checkpoint-not-waiting']);
  });

  it('a cancel while a checkpoint waits rolls the failover back', async () => {
    const id = await h.requestFailover('west', 'custom steps e2e: cancel at a checkpoint');
    await stepWaiting(id, 'dba-go');
    const cancel = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'the DBA says no' });
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    const op = await finished(id);
    assert.equal(op.phase, 'Cancelled', JSON.stringify(op.error));
    assert.equal(op.steps.find((s) => s.name === 'notify-ops')!.status, 'Compensated');
    assert.deepEqual(calls(id), [
      ['custom-step.run', 'run'],
      ['custom-step.compensate', 'compensate'],
    ]);
    await dnsOn(EAST, 'after the cancel');
    const late = await confirm(id, 'dba-go', h.fx.tokens.operator);
    assert.deepEqual([late.status, late.body.error], [409, 'checkpoint-not-waiting']);
  });

  it('calls the signed webhook, waits at each checkpoint for an operator, and completes the failover', async () => {
    const { fx } = h;
    const id = await h.requestFailover('west', 'custom steps e2e');
    await stepWaiting(id, 'dba-go');

    assert.deepEqual(calls(id), [['custom-step.run', 'run']]);
    const run = receiver.requests.find((r) =>
      String(r.headers['x-switchyard-delivery']).startsWith(`${id}:`),
    )!;
    assert.equal(verifySignature(receiver.secret, run.headers, run.raw, 60), true);
    assert.equal(run.headers['x-switchyard-delivery'], `${id}:notify-ops:run`);
    assert.deepEqual(JSON.parse(run.raw.toString('utf8')), {
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
    for (const step of ['nope', 'notify-ops', 'dns']) {
      const r = await confirm(id, step, fx.tokens.operator);
      assert.deepEqual([r.status, r.body.error], [404, 'checkpoint-not-found'], JSON.stringify(r.body));
    }
    const notYet = await confirm(id, 'final-look', fx.tokens.operator);
    assert.deepEqual([notYet.status, notYet.body.error], [409, 'checkpoint-not-waiting']);
    const still = await h.operation(id);
    assert.equal(still.steps.find((s) => s.name === 'dba-go')!.status, 'Running');
    assert.equal(still.steps.find((s) => s.name === 'dns')!.status, 'Pending');
    await dnsOn(EAST, 'while the checkpoint waits');

    const cli = await h.cli(fx.tokens.operator, 'confirm', id, 'dba-go', '--reason', 'replica lag is zero');
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`checkpoint dba-go of ${id} confirmed by alice`));
    const again = await confirm(id, 'dba-go', fx.tokens.admin);
    assert.deepEqual([again.status, again.body.error], [409, 'checkpoint-not-waiting']);

    await stepWaiting(id, 'final-look');
    const byAdmin = await confirm(id, 'final-look', fx.tokens.admin, { reason: 'dashboards look fine' });
    assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
    assert.equal((byAdmin.body as CheckpointConfirmation).confirmedBy, 'carol');

    const done = await finished(id);
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    assert.deepEqual(
      done.steps.map((s) => s.name),
      expandSteps(FAILOVER_PLAN_STEPS.planned, buildCustomSteps(fx.config.apps[fx.app]!, 'planned')),
    );
    assert.deepEqual(
      done.steps.filter((s) => ['notify-ops', 'dba-go', 'final-look'].includes(s.name)).map((s) => s.status),
      ['Completed', 'Completed', 'Completed'],
    );
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
    await dnsOn(WEST, 'after the failover');

    const events = await h.audit(`target=operation:${id}`);
    assert.deepEqual(
      events
        .filter((e) => e.action === 'checkpoint.confirmed')
        .map((e) => [e.actor, e.details.step, e.details.comment]),
      [
        ['alice', 'dba-go', 'replica lag is zero'],
        ['carol', 'final-look', 'dashboards look fine'],
      ],
    );
    const api = events.filter((e) => e.action === 'checkpoint.confirm');
    assert.ok(api.some((e) => e.actor === 'victor' && e.outcome !== 'accepted'));
    assert.equal(api.filter((e) => e.outcome === 'accepted').length, 2);

    // The secret is in no answer, no audit event and nowhere in the workflow's history.
    const client = await fx.temporal();
    const wf = parseOperationId(id)!;
    const history = await client.workflow.getHandle(wf.workflowIds[0]!, wf.runId).fetchHistory();
    const seen = [JSON.stringify(done), JSON.stringify(events), ...payloadText(history)].join('\n');
    assert.ok(seen.includes('notify-ops'));
    assert.ok(!seen.includes(receiver.secret), 'the webhook secret leaked');
  });
});
