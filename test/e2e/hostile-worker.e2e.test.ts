import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { failoverPlan } from '../../apps/api/operations/operations.service';
import { signPayload, WEBHOOK_HEADERS } from '../../infra/notify/webhook.notifier';
import { OperationsRepository } from '../../infra/temporal/operations.repository';
import type { CustomStepPlan } from '../../workflows/custom-steps';
import { parseOperationId } from '../../workflows/definitions';
import type { FailoverInput } from '../../workflows/failover.workflow';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { setFailoverSteps, startAppFixture } from '../support/app-fixture';
import { notifyOpsStep, payloadText } from '../support/custom-steps';
import { waitFor } from '../support/stack';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * What the worker sends, and to whom, under hostile input (issue 14): a custom step is resolved by
 * its name from the worker's configuration, so a workflow started directly in the namespace with a
 * URL of its own makes the worker call nobody else; the region hooks (fence, unfence) are signed,
 * and the demo app refuses an unsigned or stale call with 401.
 */

const SECRET_ENV = 'SWITCHYARD_E2E_HOSTILE_STEP_SECRET';

describe('custom steps are resolved by name on the worker', () => {
  const receiver = new WebhookReceiver();
  /** Where a hostile workflow input would like the worker's signed requests to go. */
  const attacker = new WebhookReceiver();
  let h: ApiHarness;

  before(async () => {
    await Promise.all([receiver.start(), attacker.start()]);
    const fx = await startAppFixture({ ttl: 1, verifyTimeoutSeconds: 10 });
    process.env[SECRET_ENV] = receiver.secret;
    setFailoverSteps(fx, [
      notifyOpsStep(receiver, SECRET_ENV),
      // Every failover here waits at it and is cancelled: the app stays in east.
      { name: 'hold', type: 'checkpoint', before: 'fence', timeoutSeconds: 300 },
    ]);
    h = new ApiHarness(fx);
    await h.start();
  });
  after(async () => {
    await h?.stop();
    await Promise.all([receiver.stop(), attacker.stop()]);
    delete process.env[SECRET_ENV];
  });

  /** Starts a failover's workflow as anyone with access to the namespace could, with its own plan. */
  async function startDirectly(custom: CustomStepPlan[]): Promise<string> {
    const { fx } = h;
    const app = fx.config.apps[fx.app]!;
    const plan = failoverPlan(app, 'east', app.regions[1]!, 'planned', {
      ...app.policies.approvals.failover,
      required: 0,
    });
    const input: FailoverInput = {
      app: fx.app,
      spec: { to: 'west', mode: 'planned', reason: 'hostile input' },
      requestedBy: 'mallory',
      taskQueuePrefix: fx.config.temporal.taskQueuePrefix,
      plan: { ...plan, custom },
    };
    return repository().startFailover(input);
  }

  function repository(): OperationsRepository {
    return new OperationsRepository(() => h.fx.temporal(), h.fx.config.temporal.taskQueuePrefix);
  }

  function holding(id: string) {
    return waitFor(
      async () => {
        const op = await h.operation(id);
        if (isTerminal(op.phase)) return op;
        const s = op.steps.find((x) => x.name === 'hold');
        return s?.status === 'Running' && s.detail?.startsWith('waiting for') ? op : false;
      },
      { what: `operation ${id} at its checkpoint or ended`, timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  async function cancelled(id: string): Promise<OperationStatus> {
    const res = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'end of the test' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const done = await h.phase(id, isTerminal, 'to end', 60_000);
    assert.equal(done.phase, 'Cancelled', JSON.stringify(done.error));
    // The slot is free once the workflow has closed, not when its status says Cancelled.
    assert.ok(await repository().awaitClosingOperation(id, 30_000), `operation ${id} closed`);
    return done;
  }

  const hostilePlan = (name: string): CustomStepPlan[] => [
    {
      name,
      type: 'webhook',
      before: 'fence',
      url: `${attacker.url}/steal`,
      compensateUrl: `${attacker.url}/steal-undo`,
      timeoutSeconds: 5,
      expectStatus: [200],
    },
    { name: 'hold', type: 'checkpoint', before: 'fence', timeoutSeconds: 300, expectStatus: [] },
  ];

  it('a configured step named with another URL in the input calls the configured URL only', async () => {
    const id = await startDirectly(hostilePlan('notify-ops'));
    const op = await holding(id);
    assert.equal(op.phase, 'Running', JSON.stringify(op.error));
    assert.equal(op.steps.find((s) => s.name === 'notify-ops')!.status, 'Completed');
    await cancelled(id);
    assert.equal(attacker.requests.length, 0, 'the worker sent signed requests to the input URL');
    const mine = receiver.requests.filter((r) =>
      String(r.headers['x-switchyard-delivery']).startsWith(`${id}:`),
    );
    assert.deepEqual(
      mine.map((r) => (JSON.parse(r.raw.toString('utf8')) as { action: string }).action),
      ['run', 'compensate'],
    );
  });

  it('an input naming a step the worker does not know fails clearly and calls nobody', async () => {
    const id = await startDirectly(hostilePlan('exfiltrate'));
    const done = await h.phase(id, isTerminal, 'to end', 60_000);
    assert.equal(done.phase, 'Failed');
    assert.equal(done.error?.code, 'custom-step-not-configured', JSON.stringify(done.error));
    assert.match(done.error!.message, /no webhook step "exfiltrate" in this worker's configuration/);
    assert.equal(attacker.requests.length, 0);
  });

  it("a failover's history holds the custom step's name, never its URL", async () => {
    const id = await h.requestFailover('west', 'history check');
    const op = await holding(id);
    assert.equal(op.phase, 'Running', JSON.stringify(op.error));
    await cancelled(id);
    const wf = parseOperationId(id)!;
    const client = await h.fx.temporal();
    const history = await client.workflow.getHandle(wf.workflowIds[0]!, wf.runId).fetchHistory();
    const text = payloadText(history).join('\n');
    assert.ok(text.includes('notify-ops'), 'the history names the step');
    const host = new URL(receiver.url).host;
    assert.ok(!text.includes(host), `the history holds the webhook's address ${host}`);
  });
});

describe('signed fence and unfence hooks', () => {
  let h: ApiHarness;

  before(async () => {
    h = new ApiHarness(await startAppFixture({ ttl: 1, verifyTimeoutSeconds: 10 }));
    await h.start();
  });
  after(() => h?.stop());

  const east = () => h.fx.regions.find((r) => r.name === 'east')!;
  const health = async () =>
    (await (await fetch(`${east().url}/healthz`)).json()) as { fenced: boolean; epoch: number };

  function unfence(headers: Record<string, string>, body: string) {
    return fetch(`${east().url}/unfence`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
  }

  it('the worker fences with a signed call; an unsigned or stale unfence is refused with 401, a signed one works', async () => {
    const id = await h.requestFailover('west', 'fence the old primary');
    const done = await h.phase(id, isTerminal, 'to finish', 90_000);
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));
    const fenced = await health();
    assert.equal(fenced.fenced, true, 'the signed fence hook was accepted');

    const body = JSON.stringify({ epoch: fenced.epoch, operationId: 'mallory' });
    const unsigned = await unfence({}, body);
    assert.equal(unsigned.status, 401, await unsigned.text());
    assert.equal((await health()).fenced, true, 'an unsigned unfence lifted the fence');

    const secret = h.fx.hookSecrets.east!;
    const stale = Math.floor(Date.now() / 1000) - 3600;
    const old = await unfence(
      {
        [WEBHOOK_HEADERS.timestamp]: String(stale),
        [WEBHOOK_HEADERS.signature]: `sha256=${signPayload(secret, stale, body)}`,
      },
      body,
    );
    assert.equal(old.status, 401, await old.text());
    const wrongKey = Math.floor(Date.now() / 1000);
    const forged = await unfence(
      {
        [WEBHOOK_HEADERS.timestamp]: String(wrongKey),
        [WEBHOOK_HEADERS.signature]: `sha256=${signPayload('not-the-region-secret', wrongKey, body)}`,
      },
      body,
    );
    assert.equal(forged.status, 401, await forged.text());
    assert.equal((await health()).fenced, true, 'a stale or forged unfence lifted the fence');

    const now = Math.floor(Date.now() / 1000);
    const signed = await unfence(
      {
        [WEBHOOK_HEADERS.timestamp]: String(now),
        [WEBHOOK_HEADERS.signature]: `sha256=${signPayload(secret, now, body)}`,
      },
      body,
    );
    assert.equal(signed.status, 200, await signed.text());
    assert.equal((await health()).fenced, false);
  });
});
