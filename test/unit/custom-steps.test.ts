import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { parse, stringify } from 'yaml';
import {
  createCustomStepActivities,
  type CustomStepWebhookCall,
} from '../../infra/activities/custom-step.activities';
import { ConfigError, parseConfig } from '../../infra/config/config.loader';
import { buildCustomSteps, customStepConfig } from '../../infra/config/custom-steps';
import { verifySignature } from '../../infra/notify/webhook.notifier';
import { type CustomStepPlan, customStepsAt, expandSteps } from '../../workflows/custom-steps';
import { FAILOVER_PLAN_STEPS } from '../../workflows/operation';

const EXAMPLE = path.resolve(__dirname, '../../../examples/switchyard.yaml');
const HOOK_SECRET = 'hook-secret-0123456789-abcdef';
const ENV = {
  PDNS_API_KEY: 'pdns-secret-key-value',
  EAST_S3_ACCESS_KEY: 'east-ak',
  EAST_S3_SECRET_KEY: 'east-secret-value',
  WEST_S3_ACCESS_KEY: 'west-ak',
  WEST_S3_SECRET_KEY: 'west-secret-value',
  ORDERS_DB_PASSWORD: 'orders-db-secret',
  LEDGER_HOOK_TOKEN: 'ledger-hook-secret',
  DRAIN_HOOK_SECRET: HOOK_SECRET,
};

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function withSteps(steps: unknown[]): Doc {
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as Doc;
  doc.apps.shop.failover = { steps };
  return doc;
}

function issuesOf(doc: Doc): string[] {
  try {
    parseConfig(stringify(doc), 'test.yaml', ENV);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

const drain = {
  name: 'drain-queues',
  type: 'webhook',
  before: 'fence',
  url: 'https://ops.example.com/hooks/drain?token=path-credential',
  compensateUrl: 'https://ops.example.com/hooks/undrain',
  secret: '${DRAIN_HOOK_SECRET}',
  expectStatus: [200, 202],
};
const dbaGo = { name: 'dba-go', type: 'checkpoint', after: 'restore', timeoutSeconds: 900 };

const plan = (name: string, at: { before?: string; after?: string }): CustomStepPlan => ({
  name,
  type: 'checkpoint',
  ...at,
  timeoutSeconds: 60,
  expectStatus: [],
});

describe('custom steps: the plan', () => {
  it('places custom steps before and after their built-in step, in configuration order', () => {
    const custom = [
      plan('a1', { after: 'dns' }),
      plan('b1', { before: 'dns' }),
      plan('b2', { before: 'dns' }),
      plan('a2', { after: 'dns' }),
      plan('first', { before: 'preflight' }),
      plan('last', { after: 'commit' }),
    ];
    assert.deepEqual(expandSteps(FAILOVER_PLAN_STEPS.unplanned, custom), [
      'first',
      'preflight',
      'approval',
      'fence',
      'restore',
      'promote',
      'b1',
      'b2',
      'dns',
      'a1',
      'a2',
      'verify',
      'commit',
      'last',
    ]);
    assert.deepEqual(expandSteps(FAILOVER_PLAN_STEPS.planned, []), [...FAILOVER_PLAN_STEPS.planned]);
    assert.deepEqual(
      customStepsAt(custom, { before: 'dns' }).map((c) => c.name),
      ['b1', 'b2'],
    );
    assert.deepEqual(
      customStepsAt(custom, { after: 'dns' }).map((c) => c.name),
      ['a1', 'a2'],
    );
    assert.deepEqual(customStepsAt(custom, { after: 'verify' }), []);
  });

  it('refuses a custom step whose built-in step is not in the plan', () => {
    assert.throws(
      () => expandSteps(FAILOVER_PLAN_STEPS.unplanned, [plan('x', { after: 'quiesce' })]),
      /custom step "x" runs after "quiesce", which is not a step of this plan/,
    );
  });
});

describe('custom steps: configuration', () => {
  it('reads the steps with defaults, and builds each mode its plan without the secret', () => {
    const cfg = parseConfig(stringify(withSteps([drain, dbaGo])), 'test.yaml', ENV);
    const shop = cfg.apps.shop!;
    assert.deepEqual(
      shop.failover.steps.map((s) => [s.name, s.timeoutSeconds, s.expectStatus, s.appliesTo]),
      [
        ['drain-queues', 30, [200, 202], ['planned', 'unplanned', 'failback']],
        ['dba-go', 900, [], ['planned', 'unplanned', 'failback']],
      ],
    );
    assert.equal(customStepConfig(cfg, 'shop', 'drain-queues')?.secret, HOOK_SECRET);
    const planned = buildCustomSteps(shop, 'planned');
    assert.deepEqual(planned, [
      {
        name: 'drain-queues',
        type: 'webhook',
        before: 'fence',
        compensates: true,
        timeoutSeconds: 30,
        expectStatus: [200, 202],
      },
      { name: 'dba-go', type: 'checkpoint', after: 'restore', timeoutSeconds: 900, expectStatus: [] },
    ]);
    assert.ok(!JSON.stringify(planned).includes(HOOK_SECRET));
    assert.ok(!JSON.stringify(planned).includes('ops.example.com'), 'the plan (history) names no URL');
    const defaults = parseConfig(stringify(withSteps([])), 'test.yaml', ENV).apps.shop!;
    assert.deepEqual(defaults.failover.steps, []);
  });

  it('applies a step only to the modes whose plan has its built-in step, unless appliesTo says', () => {
    const cfg = parseConfig(
      stringify(
        withSteps([
          { name: 'warm-caches', type: 'webhook', after: 'quiesce', url: 'http://x/h', secret: HOOK_SECRET },
          { name: 'home-ok', type: 'checkpoint', before: 'unfence' },
          { name: 'unplanned-only', type: 'checkpoint', before: 'dns', appliesTo: ['unplanned'] },
        ]),
      ),
      'test.yaml',
      ENV,
    ).apps.shop!;
    const names = (mode: 'planned' | 'unplanned' | 'failback') =>
      buildCustomSteps(cfg, mode).map((s) => s.name);
    assert.deepEqual(names('planned'), ['warm-caches']);
    assert.deepEqual(names('unplanned'), ['unplanned-only']);
    assert.deepEqual(names('failback'), ['warm-caches', 'home-ok']);
    assert.equal(cfg.failover.steps[1]!.timeoutSeconds, 3600);
    assert.deepEqual(cfg.failover.steps[0]!.expectStatus, [200, 201, 202, 204]);
  });

  it('refuses bad plans at load, naming the exact path of each problem', () => {
    const issues = issuesOf(
      withSteps([
        { name: 'typo', type: 'checkpoint', before: 'fense' },
        { name: 'both', type: 'checkpoint', before: 'dns', after: 'dns' },
        { name: 'neither', type: 'checkpoint' },
        { name: 'typo', type: 'checkpoint', after: 'dns' },
        { name: 'dns', type: 'checkpoint', after: 'verify' },
        { name: 'no-url', type: 'webhook', after: 'verify', secret: HOOK_SECRET },
        { name: 'no-secret', type: 'webhook', after: 'verify', url: 'http://x/h' },
        { name: 'cp-url', type: 'checkpoint', after: 'verify', url: 'http://x/h', expectStatus: [200] },
        { name: 'wrong-mode', type: 'checkpoint', after: 'quiesce', appliesTo: ['planned', 'unplanned'] },
        {
          name: 'slow',
          type: 'webhook',
          after: 'verify',
          url: 'http://x/h',
          secret: HOOK_SECRET,
          timeoutSeconds: 601,
        },
      ]),
    );
    const steps = 'apps.shop.failover.steps';
    const builtins =
      'preflight, approval, quiesce, final-restore-point, fence, restore, promote, dns, verify, commit, reprotect, readiness, unfence';
    for (const want of [
      `${steps}[0].before: unknown built-in step "fense" (built-in steps: ${builtins})`,
      `${steps}[1]: set before or after, not both`,
      `${steps}[2]: set before or after: the built-in step this one runs next to`,
      `${steps}[3].name: duplicate step name "typo" (also steps[0])`,
      `${steps}[4].name: "dns" is a built-in step; choose another name`,
      `${steps}[5].url: required for a webhook step: where the signed POST goes`,
      `${steps}[6].secret: required for a webhook step: the HMAC-SHA256 key, as a \${ENV} reference`,
      `${steps}[7].url: a checkpoint calls nothing: remove url`,
      `${steps}[7].expectStatus: a checkpoint calls nothing: remove expectStatus`,
      `${steps}[8].appliesTo[1]: unplanned failovers have no step "quiesce"`,
      `${steps}[9].timeoutSeconds: at most 600 for a webhook step`,
    ]) {
      assert.ok(issues.includes(want), `missing: ${want}\ngot:\n${issues.join('\n')}`);
    }
    assert.equal(issues.length, 11, issues.join('\n'));
    assert.deepEqual(issuesOf(withSteps([{ name: 'odd', type: 'script', after: 'verify' }])), [
      'apps.shop.failover.steps[0].type: expected "webhook" or "checkpoint"',
    ]);
  });

  it('names a short or missing secret without showing it', () => {
    const short = issuesOf(withSteps([{ ...drain, secret: 'tiny-secret' }]));
    assert.deepEqual(short, ['apps.shop.failover.steps[0].secret: expected at least 16 characters']);
    assert.ok(!short.join('').includes('tiny-secret'));
    const env = { ...ENV, DRAIN_HOOK_SECRET: undefined };
    let msg = '';
    try {
      parseConfig(stringify(withSteps([drain])), 'test.yaml', env);
    } catch (err) {
      msg = (err as Error).message;
    }
    assert.match(
      msg,
      /apps\.shop\.failover\.steps\[0\]\.secret: environment variable DRAIN_HOOK_SECRET is not set/,
    );
  });
});

describe('custom steps: webhook signature', () => {
  const config = parseConfig(stringify(withSteps([drain])), 'test.yaml', ENV);
  const call: CustomStepWebhookCall = {
    app: 'shop',
    operationId: 'shop-0d7c1a52-6f0e-4d55-9a8e-2b0f3c4d5e6f',
    step: 'drain-queues',
    mode: 'planned',
    action: 'run',
    timeoutSeconds: 5,
    expectStatus: [200, 202],
    to: 'west',
  };
  const NOW = 1_790_000_000_000;

  function capture(answer: Response) {
    const seen: { url: string; headers: Record<string, string>; body: string }[] = [];
    const fetch = (async (url: string, init: RequestInit) => {
      seen.push({ url, headers: init.headers as Record<string, string>, body: init.body as string });
      return answer;
    }) as typeof globalThis.fetch;
    return { seen, activities: createCustomStepActivities({ config, fetch, now: () => NOW }) };
  }

  it('signs <timestamp>.<body> with HMAC-SHA256 of the configured secret; receivers can verify it', async () => {
    const { seen, activities } = capture(new Response('accepted', { status: 202 }));
    const result = await activities.callCustomStepWebhook(call);
    assert.deepEqual(result, { target: 'webhook "drain-queues"', status: 202, durationMs: 0 });
    const req = seen[0]!;
    assert.equal(req.url, drain.url, 'the URL comes from the configuration');
    assert.deepEqual(JSON.parse(req.body), {
      operationId: call.operationId,
      app: 'shop',
      step: 'drain-queues',
      mode: 'planned',
      action: 'run',
      to: 'west',
    });
    const ts = String(NOW / 1000);
    assert.equal(req.headers['X-Switchyard-Timestamp'], ts);
    assert.equal(req.headers['X-Switchyard-Event'], 'custom-step.run');
    assert.equal(req.headers['X-Switchyard-Delivery'], `${call.operationId}:drain-queues:run`);
    const expected = createHmac('sha256', HOOK_SECRET).update(`${ts}.${req.body}`).digest('hex');
    assert.equal(req.headers['X-Switchyard-Signature'], `sha256=${expected}`);

    assert.equal(verifySignature(HOOK_SECRET, req.headers, req.body, 300, NOW / 1000 + 10), true);
    assert.equal(verifySignature('another-secret-0123456789', req.headers, req.body, 300, NOW / 1000), false);
    const tampered = req.body.replace('"planned"', '"unplanned"');
    assert.equal(verifySignature(HOOK_SECRET, req.headers, tampered, 300, NOW / 1000), false);
    // A captured request replayed later than the receiver's tolerance is refused.
    assert.equal(verifySignature(HOOK_SECRET, req.headers, req.body, 300, NOW / 1000 + 301), false);
  });

  it('fails on an answer it does not expect, without the secret or the URL path in the error', async () => {
    const echo = `bad token ${HOOK_SECRET} at /hooks/drain?token=path-credential`;
    const { activities } = capture(new Response(echo, { status: 403 }));
    const err = await activities.callCustomStepWebhook(call).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, 'custom-step-unexpected-status');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /webhook https:\/\/ops\.example\.com answered 403, expected 200\/202/);
    assert.ok(!err.message.includes(HOOK_SECRET), err.message);
    assert.ok(!err.message.includes('path-credential'), err.message);
  });

  it('refuses a step the worker has no webhook for', async () => {
    const { activities, seen } = capture(new Response('', { status: 200 }));
    await assert.rejects(activities.callCustomStepWebhook({ ...call, step: 'gone' }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure);
      assert.equal(e.type, 'custom-step-not-configured');
      return true;
    });
    assert.equal(seen.length, 0);
  });

  it('calls the configured compensateUrl for a compensation, whatever an old input carried', async () => {
    const { activities, seen } = capture(new Response('', { status: 200 }));
    const legacy = { ...call, action: 'compensate' as const, url: 'https://attacker.example/steal' };
    await activities.callCustomStepWebhook(legacy);
    assert.deepEqual(
      seen.map((s) => s.url),
      [drain.compensateUrl],
    );
  });
});
