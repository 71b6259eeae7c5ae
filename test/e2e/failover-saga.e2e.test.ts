import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildDnsSwitchPlan } from '../../infra/dns/dns-plan';
import { ControlStateStore } from '../../infra/storage/control-state.store';
import { OperationsRepository } from '../../infra/temporal/operations.repository';
import type { FailoverInput } from '../../workflows/failover.workflow';
import { isTerminal, type OperationStatus } from '../../workflows/operation';
import { ApiHarness } from '../support/api-harness';
import { startAppFixture } from '../support/app-fixture';
import { waitFor } from '../support/stack';
import type { ControlState } from '../../infra/storage/control-state.store';

/**
 * The failover as a saga (docs/failover.md): a failure injected at the end of each changing step,
 * and a cancel at the approval and during a step, each leave DNS, the control state and the old
 * primary's fencing as they were; two requests at once get one 202 and one 409; a cancel after the
 * commit is refused naming the commit time. The app has no services (the data steps are skipped),
 * so each run takes seconds.
 */
const EAST = '127.0.1.1';
const WEST = '127.0.1.2';

describe('failover saga: compensation and cancel', () => {
  let h: ApiHarness;

  before(async () => {
    const fx = await startAppFixture({
      ttl: 1,
      verifyTimeoutSeconds: 10,
      failoverApproval: { required: 1, expiresAfterSeconds: 600 },
    });
    h = new ApiHarness(fx);
    await h.start({ listen: true });
  });
  after(() => h?.stop());

  async function control(): Promise<ControlState> {
    const store = new ControlStateStore(h.fx.config);
    try {
      return (await store.read(h.fx.app)).state;
    } finally {
      store.close();
    }
  }

  /** DNS on east in both providers, east the writer and not halted nor fenced, no operation held. */
  async function assertAsBefore(what: string): Promise<void> {
    assert.deepEqual(await h.fx.route53A(), [EAST], `${what}: route 53`);
    assert.deepEqual(await h.fx.powerDnsA(), [EAST], `${what}: powerdns`);
    const c = await control();
    assert.deepEqual(
      [c.activeRegion, c.writer, c.halted, c.currentOperation ?? null],
      ['east', 'east', [], null],
      `${what}: control state ${JSON.stringify(c)}`,
    );
    const east = (await (await fetch(`${h.fx.regions[0]!.url}/healthz`)).json()) as { fenced: boolean };
    assert.equal(east.fenced, false, `${what}: east is not fenced`);
  }

  const finished = (id: string) => h.phase(id, isTerminal, 'to finish', 60_000);

  it('compensates a failure injected at the end of each changing step, leaving the app as it was', async () => {
    const fx = h.fx;
    const repo = new OperationsRepository(fx.temporal, fx.config.temporal.taskQueuePrefix);
    const app = fx.config.apps[fx.app]!;
    // Each step's own change and every earlier one are undone, in reverse.
    const expected: Record<string, string[]> = {
      quiesce: [
        'Completed',
        'Skipped',
        'Failed',
        'Skipped',
        'Skipped',
        'Skipped',
        'Skipped',
        'Skipped',
        'Skipped',
        'Skipped',
      ],
      fence: [
        'Completed',
        'Skipped',
        'Compensated',
        'Skipped',
        'Failed',
        'Skipped',
        'Skipped',
        'Skipped',
        'Skipped',
        'Skipped',
      ],
      promote: [
        'Completed',
        'Skipped',
        'Compensated',
        'Skipped',
        'Compensated',
        'Skipped',
        'Failed',
        'Skipped',
        'Skipped',
        'Skipped',
      ],
      dns: [
        'Completed',
        'Skipped',
        'Compensated',
        'Skipped',
        'Compensated',
        'Skipped',
        'Compensated',
        'Failed',
        'Skipped',
        'Skipped',
      ],
      verify: [
        'Completed',
        'Skipped',
        'Compensated',
        'Skipped',
        'Compensated',
        'Skipped',
        'Compensated',
        'Compensated',
        'Failed',
        'Skipped',
      ],
    };
    for (const [step, statuses] of Object.entries(expected)) {
      const input: FailoverInput = {
        app: fx.app,
        spec: { to: 'west', mode: 'planned', reason: `fault after ${step}` },
        requestedBy: 'alice',
        taskQueuePrefix: fx.config.temporal.taskQueuePrefix,
        plan: {
          targetAddress: WEST,
          ttl: app.dns.ttl,
          waitForTtl: true,
          verifyTimeoutSeconds: 10,
          approval: { required: 0, roles: ['approver'], excludeRequester: true, expiresAfterSeconds: 60 },
          services: [],
          fenceHookTimeoutSeconds: 10,
          dns: buildDnsSwitchPlan(app, 'east', 'west'),
          faultAfterStep: step,
        },
      };
      const id = await repo.start('failover', fx.app, input.spec, 'alice', input);
      const op = await finished(id);
      assert.equal(op.phase, 'Failed', `${step}: ${JSON.stringify(op.error)}`);
      assert.deepEqual([op.error?.code, op.error?.step], ['injected-fault', step]);
      assert.deepEqual(
        op.steps.map((s) => s.status),
        statuses,
        `${step}: ${JSON.stringify(op.steps.map((s) => [s.name, s.status]))}`,
      );
      await assertAsBefore(`fault after ${step}`);
      assert.ok(await repo.awaitClosingOperation(id, 10_000), `${step}: the workflow closes`);
    }
  });

  it('two requests at once: one 202, one 409; a cancel at the approval changes nothing', async () => {
    const body = { to: 'west', mode: 'planned', reason: 'saga test: two at once' };
    const post = () =>
      h.http().post(`/v1/apps/${h.fx.app}/failovers`).set(h.as(h.fx.tokens.operator)).send(body);
    const both = await Promise.all([post(), post()]);
    assert.deepEqual(both.map((r) => r.status).sort(), [202, 409], JSON.stringify(both.map((r) => r.body)));
    const accepted = both.find((r) => r.status === 202)!;
    const refused = both.find((r) => r.status === 409)!;
    const id = (accepted.body as { operationId: string }).operationId;
    assert.equal(refused.body.error, 'operation-in-progress');
    assert.equal(refused.body.details.operationId, id);

    await h.awaitingRound(id, 1);
    const noReason = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.operator))
      .send({});
    assert.deepEqual([noReason.status, noReason.body.error], [400, 'validation-failed']);
    const viewer = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.viewer))
      .send({ reason: 'not mine to cancel' });
    assert.equal(viewer.status, 403);

    const res = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'wrong window: the sale starts' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.step, 'approval');
    const op = await finished(id);
    assert.equal(op.phase, 'Cancelled', JSON.stringify(op.error));
    assert.equal(op.error?.code, 'cancelled');
    assert.match(op.error!.message, /cancelled by alice: wrong window/);
    assert.equal(op.steps.find((s) => s.name === 'approval')!.status, 'Failed');
    assert.equal(op.approval?.status, 'Withdrawn', 'the request is no longer pending');
    const late = await h
      .http()
      .post(`/v1/operations/${id}/approvals`)
      .set(h.as(h.fx.tokens.approver))
      .send({ decision: 'approve', comment: 'too late' });
    assert.equal(late.status, 409, JSON.stringify(late.body));
    await assertAsBefore('cancel at approval');

    const again = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'once more' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'operation-ended');
    assert.equal(again.body.details.endedAt, op.endedAt);
    assert.match(again.body.message, new RegExp(`ended at ${op.endedAt!.replace(/[.]/g, '\\.')}`));

    const events = await h.audit(`target=${encodeURIComponent(`operation:${id}`)}`);
    assert.ok(events.some((e) => e.action === 'operation.cancel' && e.actor === 'alice'));
    assert.ok(events.some((e) => e.action === 'operation.cancel-requested' && e.actor === 'alice'));
  });

  it('a cancel during a step interrupts it and undoes every completed step', async () => {
    const id = await h.requestFailover('west', 'saga test: cancel during a step');
    await h.awaitingRound(id, 1);
    await h.decide(id, h.fx.tokens.approver, 'approve').expect(200);
    // The quiesce waits out the write lease (2 s): cancel while it does.
    await waitFor(
      async () => {
        const op = await h.operation(id);
        return (
          op.steps.find((s) => s.name === 'quiesce')?.detail?.includes('waiting the write lease') ?? false
        );
      },
      { what: 'the quiesce to wait the write lease', timeoutMs: 30_000, intervalMs: 50 },
    );
    const res = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.operator))
      .send({ reason: 'saga test: stop now' });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    // Usually the quiesce (its 2 s wait); a slow machine may already be at the next step.
    const interrupted = res.body.step as string;
    assert.ok(['quiesce', 'fence', 'promote', 'dns', 'verify'].includes(interrupted), interrupted);
    const op: OperationStatus = await finished(id);
    assert.equal(op.phase, 'Cancelled', JSON.stringify(op.error));
    const step = op.steps.find((s) => s.name === interrupted)!;
    assert.equal(step.status, 'Failed');
    assert.equal(step.error?.code, 'cancelled');
    assert.match(step.error!.message, /cancelled by alice: saga test: stop now/);
    assert.equal(
      op.steps.find((s) => s.name === 'quiesce')!.status,
      interrupted === 'quiesce' ? 'Failed' : 'Compensated',
    );
    assert.equal(op.steps.find((s) => s.name === 'commit')!.status, 'Skipped');
    await assertAsBefore(`cancel during ${interrupted}`);
  });

  it('after the commit, a cancel is refused naming the commit time', async () => {
    const id = await h.requestFailover('west', 'saga test: commit then cancel');
    await h.awaitingRound(id, 1);
    await h.decide(id, h.fx.tokens.approver, 'approve').expect(200);
    const op = await finished(id);
    assert.equal(op.phase, 'Completed', JSON.stringify(op.error));
    assert.deepEqual(await h.fx.route53A(), [WEST]);
    const res = await h
      .http()
      .post(`/v1/operations/${id}/cancel`)
      .set(h.as(h.fx.tokens.admin))
      .send({ reason: 'too late' });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.error, 'already-committed');
    assert.equal(res.body.details.committedAt, op.facts.committedAt);
    assert.match(res.body.message, /committed at .*too late to cancel/);
    const cli = await h.cli(h.fx.tokens.operator, 'cancel', id, '--reason', 'too late from the cli');
    assert.equal(cli.code, 2, cli.stdout + cli.stderr);
    assert.match(cli.stderr, /409 already-committed/);
    const c = await control();
    assert.deepEqual([c.activeRegion, c.writer, c.halted], ['west', 'west', ['east']]);
  });
});
