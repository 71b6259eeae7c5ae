import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifySignature, WEBHOOK_HEADERS } from '../../infra/notify/webhook.notifier';
import { isTerminal } from '../../workflows/operation';
import { startAppFixture } from '../support/app-fixture';
import { ApiHarness } from '../support/api-harness';
import { waitFor } from '../support/stack';
import { type ReceivedWebhook, WebhookReceiver } from '../support/webhook-receiver';

/**
 * Webhook notifications end to end: a real receiver on loopback that refuses the first two
 * attempts of every delivery (503) and takes the third. Deliveries run in child workflows the
 * operation abandons, so their retries never hold the operation or the app's slot.
 */
const WEST = '127.0.1.2';
const FAILURES_PER_DELIVERY = 2;

/** Refuses the first FAILURES_PER_DELIVERY attempts of every delivery (503), takes the next. */
class Receiver extends WebhookReceiver {
  constructor() {
    super((attempt) => (attempt <= FAILURES_PER_DELIVERY ? 503 : 200));
  }

  /** Every attempt at the operation's `event` delivery, in arrival order. */
  attemptsOf(operationId: string, event: string): ReceivedWebhook[] {
    return this.requests.filter((r) => r.body.event === event && r.body.payload.operationId === operationId);
  }

  /** Waits for the delivery to be taken (503, 503, 200) and checks every attempt of it. */
  async delivered(operationId: string, event: string): Promise<ReceivedWebhook[]> {
    const attempts = await waitFor(
      () => {
        const a = this.attemptsOf(operationId, event);
        return a.some((r) => r.status === 200) ? a : false;
      },
      { what: `${event} of ${operationId} delivered to the webhook`, timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.deepEqual(
      attempts.map((r) => r.status),
      [503, 503, 200],
      `${event}: two refused attempts, then one taken: ${JSON.stringify(
        attempts.map((r) => [r.body.id, r.status, r.at, r.body.payload]),
      )}`,
    );
    const ids = new Set(attempts.map((r) => r.headers[WEBHOOK_HEADERS.delivery.toLowerCase()]));
    assert.equal(ids.size, 1, `${event}: one delivery id across retries, got ${[...ids].join(', ')}`);
    const [id] = [...ids];
    assert.ok(String(id).startsWith(`${operationId}:`), `${event}: delivery id ${String(id)}`);
    for (const r of attempts) {
      assert.ok(verifySignature(this.secret, r.headers, r.raw, 300), `${event}: valid signature`);
      assert.ok(!verifySignature('x'.repeat(32), r.headers, r.raw, 300), `${event}: not any key's`);
      assert.equal(r.headers[WEBHOOK_HEADERS.event.toLowerCase()], event);
      assert.equal(r.body.id, id);
      assert.equal(r.body.event, event);
      assert.equal(r.body.payload.operationId, operationId);
      assert.equal(typeof r.body.payload.app, 'string');
      assert.equal(typeof r.body.payload.phase, 'string');
    }
    return attempts;
  }
}

async function startHarness(
  receiver: Receiver,
  failoverApproval: { required: number; expiresAfterSeconds?: number },
): Promise<ApiHarness> {
  await receiver.start();
  const fx = await startAppFixture({
    ttl: 1,
    failoverApproval,
    notifications: { webhooks: [{ url: receiver.url, secret: receiver.secret }] },
  });
  const h = new ApiHarness(fx);
  await h.start();
  return h;
}

describe('webhook notifications', () => {
  const receiver = new Receiver();
  let h: ApiHarness;

  before(async () => {
    h = await startHarness(receiver, { required: 1 });
  });
  after(async () => {
    await h?.stop();
    await receiver.stop();
  });

  it('signs and retries each event with a stable delivery id, without holding the operation', async () => {
    const { fx } = h;
    const id = await h.requestFailover('west');
    await h.phase(id, (p) => p === 'AwaitingApproval', 'awaiting approval', 30_000);
    await h.decide(id, fx.tokens.approver, 'approve').expect(200);
    const done = await h.phase(id, isTerminal, 'to finish');
    assert.equal(done.phase, 'Completed', JSON.stringify(done.error));

    // The slot is free at once: operation.finished is still being retried (503, 503, then 200
    // after ≥ 3 s of backoff) while the next operation (a failback to east) is already accepted.
    const next = await h
      .http()
      .post(`/v1/apps/${fx.app}/failbacks`)
      .set(h.as(fx.tokens.operator))
      .send({ reason: 'notification test' });
    const acceptedAt = Date.now();
    assert.equal(next.status, 202, JSON.stringify(next.body));
    const nextId = (next.body as { operationId: string }).operationId;
    assert.deepEqual(await fx.route53A(), [WEST]);

    const requested = await receiver.delivered(id, 'approval.requested');
    assert.equal(requested[0]!.body.payload.phase, 'AwaitingApproval');
    assert.equal(requested[0]!.body.payload.app, fx.app);
    assert.equal(requested[0]!.body.payload.requestedBy, 'alice');

    const decided = await receiver.delivered(id, 'approval.decided');
    assert.equal(decided[0]!.body.payload.app, fx.app);
    assert.equal(decided[0]!.body.payload.decision, 'approve');
    assert.equal(decided[0]!.body.payload.by, 'bob');

    const finished = await receiver.delivered(id, 'operation.finished');
    assert.equal(finished[0]!.body.payload.app, fx.app);
    assert.equal(finished[0]!.body.payload.phase, 'Completed');
    assert.ok(
      finished[2]!.at > acceptedAt,
      'the next failover was accepted before operation.finished was taken by the webhook',
    );

    const ids = [requested, decided, finished].map((a) => a[0]!.body.id);
    assert.equal(new Set(ids).size, 3, 'each event has its own delivery id');
    assert.equal(receiver.attemptsOf(id, 'approval.expired').length, 0);

    // The second operation waits for approval; end it so it leaves nothing running.
    await h.phase(nextId, (p) => p === 'AwaitingApproval', 'awaiting approval', 30_000);
    await h.decide(nextId, fx.tokens.approver, 'reject').expect(200);
    assert.equal((await h.phase(nextId, isTerminal, 'to finish')).phase, 'Rejected');
    const nextFinished = await receiver.delivered(nextId, 'operation.finished');
    assert.equal(nextFinished[0]!.body.payload.phase, 'Rejected');
    // Finished once: the rejection is not compensated and finished again as Failed.
    assert.equal((await h.operation(nextId)).phase, 'Rejected');
  });
});

describe('webhook notification of an expired approval', () => {
  const receiver = new Receiver();
  let h: ApiHarness;

  before(async () => {
    h = await startHarness(receiver, { required: 1, expiresAfterSeconds: 2 });
  });
  after(async () => {
    await h?.stop();
    await receiver.stop();
  });

  it('sends approval.expired and operation.finished, signed and retried', async () => {
    const id = await h.requestFailover('west');
    const done = await h.phase(id, isTerminal, 'to time out', 30_000);
    assert.equal(done.phase, 'TimedOut');

    await receiver.delivered(id, 'approval.requested');
    const expired = await receiver.delivered(id, 'approval.expired');
    assert.equal(expired[0]!.body.payload.app, h.fx.app);
    assert.equal(expired[0]!.body.payload.phase, 'TimedOut');
    assert.equal(expired[0]!.body.payload.round, 1);
    const finished = await receiver.delivered(id, 'operation.finished');
    assert.equal(finished[0]!.body.payload.phase, 'TimedOut');
    assert.equal((await h.operation(id)).phase, 'TimedOut', 'finished once, not again as Failed');
    assert.equal(receiver.attemptsOf(id, 'approval.decided').length, 0);
  });
});
