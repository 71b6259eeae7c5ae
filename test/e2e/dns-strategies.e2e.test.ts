import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ListHostedZonesByNameCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { buildDnsSwitchPlan } from '../../infra/dns/dns-plan';
import { motoRoute53Client } from '../../infra/stack/moto.component';
import { coordinatorTaskQueue } from '../../workflows/definitions';
import type { DnsSwitchWorkflowResult } from '../../workflows/dns-switch.workflow';
import { startAppFixture, startWorker, type AppFixture, type WorkerProcess } from '../support/app-fixture';
import { stack } from '../support/stack';

/**
 * A weighted DNS switch run by a worker process through Temporal (the test-only dnsSwitchWorkflow
 * around switchDns), against moto: the shift with the demo app as the target's health, the
 * rollback when the target is down, and the compensation after a later failure.
 */
describe('weighted DNS switch end to end', () => {
  let fx: AppFixture;
  let worker: WorkerProcess;
  const EAST = '127.0.1.1';
  const WEST = '127.0.1.2';
  const r53 = motoRoute53Client(stack().moto);

  before(async () => {
    fx = await startAppFixture({
      ttl: 1,
      dns: (zone, record) => ({
        strategy: 'weighted',
        weighted: { steps: [50, 100], stepWaitSeconds: 1, healthTimeoutSeconds: 2 },
        records: [{ provider: 'route53-local', zone, name: record }],
        // The resolver check needs a DNS server for the zone: PowerDNS serves it in the failover tests.
        resolvers: [],
      }),
    });
    worker = await startWorker(fx);
  });

  after(async () => {
    await worker?.kill('SIGKILL');
    await fx?.stop();
    r53.destroy();
  });

  /** `identifier weight value` of every A set of the app's record on moto (`- - value` for a simple one). */
  async function sets(): Promise<string[]> {
    const { HostedZones } = await r53.send(new ListHostedZonesByNameCommand({ DNSName: `${fx.zone}.` }));
    const id = HostedZones?.find((z) => z.Name === `${fx.zone}.`)?.Id;
    const out = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: id, MaxItems: 300 }));
    return (out.ResourceRecordSets ?? [])
      .filter((s) => s.Name === `${fx.record}.` && s.Type === 'A')
      .map(
        (s) =>
          `${s.SetIdentifier ?? '-'} ${s.Weight ?? '-'} ${s.ResourceRecords?.map((r) => r.Value).join(',')}`,
      )
      .sort();
  }

  async function runSwitch(
    from: string,
    to: string,
    failAfterSwitch = false,
  ): Promise<{ result: DnsSwitchWorkflowResult; applied: number }> {
    const client = await fx.temporal();
    const handle = await client.workflow.start('dnsSwitchWorkflow', {
      taskQueue: coordinatorTaskQueue(fx.config.temporal.taskQueuePrefix),
      workflowId: `dns-switch-e2e-${randomUUID()}`,
      args: [
        {
          app: fx.app,
          taskQueuePrefix: fx.config.temporal.taskQueuePrefix,
          plan: buildDnsSwitchPlan(fx.config.apps[fx.app]!, from, to),
          failAfterSwitch,
        },
      ],
      workflowExecutionTimeout: '60s',
    });
    const result = (await handle.result()) as DnsSwitchWorkflowResult;
    let applied = 0;
    for (const e of (await handle.fetchHistory()).events ?? []) {
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyDnsTarget') applied++;
    }
    return { result, applied };
  }

  it('rolls back to the simple record when the target is down at the first step', async () => {
    assert.deepEqual(await sets(), [`- - ${EAST}`]);
    const west = fx.regions.find((r) => r.name === 'west')!;
    await new Promise((res) => west.server.close(res));
    try {
      const { result, applied } = await runSwitch('east', 'west');
      assert.equal(result.compensated, true);
      assert.match(
        result.error!,
        /DNS shift stopped at step 1\/2 \(west 50%, east 50%\): the target west \(127\.0\.1\.2\) is not healthy: .*ECONNREFUSED.*; records rolled back/,
      );
      assert.equal(applied, 1);
      assert.deepEqual(await sets(), [`- - ${EAST}`]);
    } finally {
      await fx.restartDemo('west');
    }
  });

  it('shifts 50 → 100 to the healthy target, each step applied once', async () => {
    const { result, applied } = await runSwitch('east', 'west');
    assert.equal(result.compensated, false, result.error);
    assert.equal(applied, 2);
    assert.deepEqual(await sets(), [`east 0 ${EAST}`, `west 100 ${WEST}`]);
    assert.equal(result.detail, '1 record(s) point at west 100%, east 0%');
    assert.deepEqual(
      (result.facts.previousDns as { previous: { values: string[] } | null }[]).map(
        (p) => p.previous?.values,
      ),
      [[EAST]],
    );
  });

  it('a failure after the switch compensates: moto holds exactly the previous weighted sets', async () => {
    const { result, applied } = await runSwitch('west', 'east', true);
    assert.equal(result.compensated, true);
    assert.equal(result.error, 'failure injected after the dns step');
    assert.equal(applied, 2);
    assert.deepEqual(await sets(), [`east 0 ${EAST}`, `west 100 ${WEST}`]);
  });
});
