import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import {
  createCustomStepActivities,
  type CustomStepWebhookCall,
} from '../../infra/activities/custom-step.activities';
import { failoverSchema } from '../../infra/config/custom-steps';
import { verifySignature } from '../../infra/notify/webhook.notifier';
import { WebhookReceiver } from '../support/webhook-receiver';

/**
 * The custom step webhook activity against real HTTP receivers on loopback: the receiver verifies
 * the signature with the shared secret; a slow receiver times the call out; an unexpected answer
 * fails it (retryably for 5xx). Nothing it reports names the secret or the URL's path.
 */

const OPERATION_ID = 'shop-2f6c1d0e-3b4a-4c5d-8e9f-0a1b2c3d4e5f';

function activitiesFor(receiver: WebhookReceiver, step = 'drain') {
  const failover = failoverSchema.parse({
    steps: [
      {
        name: step,
        type: 'webhook',
        before: 'fence',
        url: `${receiver.url}?key=path-secret`,
        compensateUrl: `${receiver.url}?key=path-secret`,
        secret: receiver.secret,
      },
    ],
  });
  return createCustomStepActivities({ config: { apps: { shop: { failover } } } });
}

function callTo(receiver: WebhookReceiver, over: Partial<CustomStepWebhookCall> = {}): CustomStepWebhookCall {
  return {
    app: 'shop',
    operationId: OPERATION_ID,
    step: 'drain',
    mode: 'planned',
    action: 'run',
    timeoutSeconds: 5,
    expectStatus: [200, 204],
    to: 'west',
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

describe('custom step webhook activity (real HTTP receivers)', () => {
  const ok = new WebhookReceiver();
  const slow = new WebhookReceiver(
    () => 200,
    () => 3_000,
  );
  const teapot = new WebhookReceiver(() => 418);
  const busy = new WebhookReceiver(() => 503);

  before(() => Promise.all([ok, slow, teapot, busy].map((r) => r.start())));
  after(() => Promise.all([ok, slow, teapot, busy].map((r) => r.stop())));

  it('sends a POST the receiver can verify with the shared secret, for a run and a compensation', async () => {
    const activities = activitiesFor(ok);
    const run = await activities.callCustomStepWebhook(callTo(ok));
    assert.equal(run.status, 200);
    assert.equal(run.target, 'webhook "drain"');
    await activities.callCustomStepWebhook(callTo(ok, { action: 'compensate' }));

    assert.equal(ok.requests.length, 2);
    const [first, second] = ok.requests;
    for (const r of [first!, second!]) {
      assert.equal(verifySignature(ok.secret, r.headers, r.raw, 60), true);
      assert.equal(verifySignature(slow.secret, r.headers, r.raw, 60), false);
    }
    assert.deepEqual(JSON.parse(first!.raw.toString('utf8')), {
      operationId: OPERATION_ID,
      app: 'shop',
      step: 'drain',
      mode: 'planned',
      action: 'run',
      to: 'west',
    });
    assert.equal(first!.headers['x-switchyard-event'], 'custom-step.run');
    assert.equal(first!.headers['x-switchyard-delivery'], `${OPERATION_ID}:drain:run`);
    assert.equal(second!.headers['x-switchyard-event'], 'custom-step.compensate');
    assert.equal(JSON.parse(second!.raw.toString('utf8')).action, 'compensate');
  });

  it('gives up on a receiver that does not answer within the timeout (retryable)', async () => {
    const started = Date.now();
    const err = await failure(activitiesFor(slow).callCustomStepWebhook(callTo(slow, { timeoutSeconds: 1 })));
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 2_500, `took ${took} ms`);
    assert.equal(err.type, 'custom-step-unavailable');
    assert.equal(err.nonRetryable, false);
    assert.match(
      err.message,
      /custom step "drain" \(run\): webhook http:\/\/127\.0\.0\.1:\d+: no answer within 1 s/,
    );
    assert.equal(slow.requests.length, 1);
    assert.ok(!err.message.includes(slow.secret) && !err.message.includes('path-secret'), err.message);
  });

  it('fails on an unexpected status: at once for a 4xx, retryably for a 5xx', async () => {
    const refused = await failure(activitiesFor(teapot).callCustomStepWebhook(callTo(teapot)));
    assert.equal(refused.type, 'custom-step-unexpected-status');
    assert.equal(refused.nonRetryable, true);
    assert.match(refused.message, /answered 418, expected 200\/204: try later$/);
    assert.ok(!refused.message.includes('path-secret'), refused.message);

    const unavailable = await failure(activitiesFor(busy).callCustomStepWebhook(callTo(busy)));
    assert.equal(unavailable.type, 'custom-step-unavailable');
    assert.equal(unavailable.nonRetryable, false);
    assert.match(unavailable.message, /answered 503, expected 200\/204/);
    assert.equal(teapot.requests.length + busy.requests.length, 2);
  });

  it('calls nothing for a step this worker has no webhook for', async () => {
    const before = ok.requests.length;
    const err = await failure(activitiesFor(ok, 'other').callCustomStepWebhook(callTo(ok)));
    assert.equal(err.type, 'custom-step-not-configured');
    assert.equal(ok.requests.length, before);
  });
});
