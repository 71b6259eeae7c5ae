import { ApplicationFailure, proxyActivities, sleep } from '@temporalio/workflow';
import type { DnsActivities } from '../infra/activities/dns.activities';
import type { OperationStep } from './operation';
import type { OperationRuntime } from './operation-runtime';

/**
 * The `dns` step of an operation (docs/dns-strategies.md): moves an app's DNS records from one
 * region to another with the strategy of its configuration, and registers its own compensation
 * (the records as they were) before changing anything. Deterministic: runs inside workflows.
 */

export interface DnsSwitchPlan {
  strategy: 'simple' | 'weighted' | 'failover-routing';
  ttl: number;
  waitForTtl: boolean;
  targetAddress: string;
  fromAddress: string;
  /** Percent to the target per step, e.g. [10, 50, 100]; [100] for the other strategies. */
  weightedSteps: number[];
  /** Between weighted steps: wait this long after the step is in sync, then check the target. */
  stepWaitSeconds: number;
  /** After a weighted step: how long the target may take to answer healthy before the rollback. */
  stepHealthTimeoutSeconds: number;
  /** host:port; after sync and TTL each must answer the target address. Empty: no check. */
  resolvers: string[];
  /** Region names: the SetIdentifier of routed record sets, and whose health check guards them. */
  fromRegion: string;
  targetRegion: string;
  /** How long the resolvers may take to answer the target address. */
  resolverTimeoutSeconds: number;
}

export interface DnsSwitchInput {
  app: string;
  taskQueuePrefix: string;
  plan: DnsSwitchPlan;
  /**
   * Records removed from the app (a dns-record-delete's tombstone, in its window or purged): never
   * read, written nor checked by the switch, and named on the step (docs/soft-deletes.md).
   */
  skip?: { name: string; operationId: string }[];
}

/** What every record of the app should point at after one step of a switch. */
export type DnsTarget =
  | { strategy: 'simple'; ttl: number; address: string }
  | {
      strategy: 'weighted';
      ttl: number;
      weights: { region: string; address: string; weight: number }[];
    }
  | {
      strategy: 'failover-routing';
      ttl: number;
      primary: { region: string; address: string };
      secondary: { region: string; address: string };
    };

/** The targets a switch goes through, in order: one per weighted step, else one. */
export function dnsTargets(plan: DnsSwitchPlan): DnsTarget[] {
  const target = { region: plan.targetRegion, address: plan.targetAddress };
  const from = { region: plan.fromRegion, address: plan.fromAddress };
  switch (plan.strategy) {
    case 'simple':
      return [{ strategy: 'simple', ttl: plan.ttl, address: plan.targetAddress }];
    case 'failover-routing':
      return [{ strategy: 'failover-routing', ttl: plan.ttl, primary: target, secondary: from }];
    case 'weighted':
      return plan.weightedSteps.map((percent) => ({
        strategy: 'weighted',
        ttl: plan.ttl,
        // The old region keeps its set at weight 0: ready for a shift back, never answered.
        weights: [
          { ...target, weight: percent },
          { ...from, weight: 100 - percent },
        ],
      }));
  }
}

export function describeDnsTarget(target: DnsTarget): string {
  switch (target.strategy) {
    case 'simple':
      return `${target.address}`;
    case 'weighted':
      return target.weights.map((w) => `${w.region} ${w.weight}%`).join(', ');
    case 'failover-routing':
      return `primary ${target.primary.region} (${target.primary.address}), secondary ${target.secondary.region}`;
  }
}

/** The activities a switch calls and the clock it sleeps on; Temporal's in a workflow, fakes in tests. */
export type DnsSwitchDeps = Pick<
  DnsActivities,
  | 'captureDnsState'
  | 'applyDnsTarget'
  | 'restoreDnsState'
  | 'waitDnsChangesInSync'
  | 'checkDnsTargetHealth'
  | 'checkDnsResolvers'
> & { sleep(ms: number): Promise<void> };

/** The part of the operation runtime a switch uses. */
export type DnsSwitchOperation = Pick<OperationRuntime, 'onFailureUndo' | 'publish' | 'audit'> & {
  status: { facts: Record<string, unknown> };
};

export async function switchDns(
  op: DnsSwitchOperation,
  step: Pick<OperationStep, 'detail'>,
  input: DnsSwitchInput,
): Promise<void> {
  await runDnsSwitch(temporalDeps(input.plan), op, step, input);
}

function temporalDeps(plan: DnsSwitchPlan): DnsSwitchDeps {
  const short = proxyActivities<DnsActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
  });
  const long = proxyActivities<DnsActivities>({
    // Waits heartbeat: a dead worker's wait is taken over within a minute.
    startToCloseTimeout: `${Math.max(plan.resolverTimeoutSeconds, plan.stepHealthTimeoutSeconds) + 3600}s`,
    heartbeatTimeout: '60s',
    retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
  });
  return {
    captureDnsState: short.captureDnsState,
    applyDnsTarget: short.applyDnsTarget,
    restoreDnsState: short.restoreDnsState,
    waitDnsChangesInSync: long.waitDnsChangesInSync,
    checkDnsTargetHealth: long.checkDnsTargetHealth,
    checkDnsResolvers: long.checkDnsResolvers,
    sleep: (ms) => sleep(ms),
  };
}

export async function runDnsSwitch(
  deps: DnsSwitchDeps,
  op: DnsSwitchOperation,
  step: Pick<OperationStep, 'detail'>,
  input: DnsSwitchInput,
): Promise<void> {
  const { app, plan } = input;
  const skip = (input.skip ?? []).map((x) => x.name);
  const skipped = (input.skip ?? []).map((x) => `${x.name} (removed by ${x.operationId})`).join(', ');
  if (skip.length > 0) op.status.facts.dnsSkipped = input.skip;
  const captured = await deps.captureDnsState({ app, ...(skip.length ? { skip } : {}) });
  if (captured.length === 0) {
    throw ApplicationFailure.nonRetryable(
      `every DNS record of app "${app}" is removed: ${skipped}; undo one of those operations first`,
      'dns-records-removed',
    );
  }
  op.status.facts.previousDns = captured;
  const restore = async () => {
    const changes = await deps.restoreDnsState({ app, records: captured });
    if (changes.length > 0) await deps.waitDnsChangesInSync({ app, changes });
  };
  // Registered before the first change: restoring what was captured is harmless when nothing
  // changed, and covers a switch that stopped halfway.
  op.onFailureUndo('dns', restore);

  const targets = dnsTargets(plan);
  const applied: unknown[] = [];
  op.status.facts.dnsChanges = applied;
  for (const [i, target] of targets.entries()) {
    const what = describeDnsTarget(target);
    step.detail =
      targets.length > 1
        ? `step ${i + 1}/${targets.length}: ${what}`
        : `switching ${captured.length} record(s) to ${what}`;
    op.publish();
    const changes = await deps.applyDnsTarget({ app, target, ...(skip.length ? { skip } : {}) });
    applied.push(...changes);
    await deps.waitDnsChangesInSync({ app, changes });
    if (target.strategy === 'weighted') {
      await op.audit('dns.weights-shifted', 'info', {
        step: i + 1,
        steps: targets.length,
        weights: target.weights,
        changed: changes.length,
      });
    }
    if (i === targets.length - 1) break;
    if (plan.stepWaitSeconds > 0) await deps.sleep(plan.stepWaitSeconds * 1000);
    const health = await deps.checkDnsTargetHealth({
      app,
      address: plan.targetAddress,
      timeoutSeconds: plan.stepHealthTimeoutSeconds,
    });
    if (!health.healthy) {
      step.detail = `target unhealthy at step ${i + 1}/${targets.length} (${what}): ${health.detail}; rolling back`;
      op.publish();
      await restore();
      await op.audit('dns.shift-rolled-back', 'failed', {
        step: i + 1,
        steps: targets.length,
        target: plan.targetRegion,
        reason: health.detail,
      });
      throw ApplicationFailure.nonRetryable(
        `DNS shift stopped at step ${i + 1}/${targets.length} (${what}): the target ${plan.targetRegion} (${plan.targetAddress}) is not healthy: ${health.detail}; records rolled back`,
        'dns-target-unhealthy',
      );
    }
  }

  // Resolvers may hold the old answers for the TTL they were given.
  const cachedTtl = Math.max(
    0,
    ...captured.flatMap((c) => [c.previous?.ttl ?? 0, ...c.routed.map((r) => r.ttl)]),
  );
  if (plan.waitForTtl && cachedTtl > 0) {
    step.detail = `in sync; waiting ${cachedTtl}s for cached answers to expire`;
    op.publish();
    await deps.sleep(cachedTtl * 1000);
  }
  if (plan.resolvers.length > 0) {
    step.detail = `checking that ${plan.resolvers.join(', ')} answer ${plan.targetAddress}`;
    op.publish();
    const answers = await deps.checkDnsResolvers({
      app,
      expected: plan.targetAddress,
      resolvers: plan.resolvers,
      timeoutSeconds: plan.resolverTimeoutSeconds,
      ...(skip.length ? { skip } : {}),
    });
    op.status.facts.dnsResolverAnswers = answers;
  }
  step.detail =
    `${captured.length} record(s) point at ${describeDnsTarget(targets[targets.length - 1]!)}` +
    (skipped ? `; skipped ${skipped}` : '');
}
