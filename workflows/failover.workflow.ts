import { ApplicationFailure, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type {
  CapturedRecord,
  CoordinatorActivities,
  RegionActivities,
} from '../infra/activities/failover.activities';
import { type ApprovalFacts, type ApprovalPolicy, initialApprovalState } from './approval';
import { awaitApproval, installApprovalHandler } from './approval-flow';
import { operationIdOf, operationStatusQuery, regionTaskQueue } from './definitions';
import { OperationRuntime } from './operation-runtime';
import { type FailoverSpec, OPERATION_STEPS, type OperationStatus } from './operation';

/**
 * What the API fixes when it starts a failover: the request, and the facts of the plan taken from
 * configuration at that moment (kept in history, so the workflow never reads configuration).
 */
export interface FailoverInput {
  app: string;
  spec: FailoverSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  plan: {
    targetAddress: string;
    ttl: number;
    waitForTtl: boolean;
    verifyTimeoutSeconds: number;
    approval: ApprovalPolicy;
  };
}

export const FAILOVER_STEPS = OPERATION_STEPS.failover;

const coordinator = proxyActivities<CoordinatorActivities>({
  // Short calls: a crashed worker's attempt is retried elsewhere after at most 15 s.
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

function regionActivities(prefix: string, region: string) {
  // A region whose workers are gone must fail the step quickly instead of holding the failover.
  return proxyActivities<RegionActivities>({
    taskQueue: regionTaskQueue(prefix, region),
    scheduleToCloseTimeout: '30s',
    startToCloseTimeout: '15s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s' },
  });
}

export async function failoverWorkflow(input: FailoverInput): Promise<OperationStatus> {
  const { app, spec, plan } = input;
  const status: OperationStatus = {
    operationId: operationIdOf(app, workflowInfo().firstExecutionRunId),
    kind: 'failover',
    app,
    spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: FAILOVER_STEPS.map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    approval: initialApprovalState(plan.approval, input.requestedBy),
    facts: {},
  };
  const op = new OperationRuntime(status);
  const approval = status.approval!;
  setHandler(operationStatusQuery, () => status);
  installApprovalHandler(op);

  /** Where the app stands now, and whether the target is fit to take it. */
  async function observe(): Promise<ApprovalFacts> {
    const state = await coordinator.readControlState({ app });
    if (state.activeRegion === spec.to) {
      throw ApplicationFailure.nonRetryable(
        `region "${spec.to}" is already active for app "${app}"`,
        'already-active',
      );
    }
    const probe = await regionActivities(input.taskQueuePrefix, spec.to).probeRegionHealth({
      app,
      region: spec.to,
    });
    status.facts.targetHealth = probe;
    return {
      activeRegion: state.activeRegion,
      epoch: state.epoch,
      targetRegion: spec.to,
      targetHealthy: probe.healthy,
      targetHealth: probe.healthy ? `healthy (${probe.latencyMs} ms)` : probe.reason,
    };
  }

  await op.audit('operation.started', 'info', { spec, requestedBy: input.requestedBy });
  let failedStep = 'preflight';
  try {
    let facts!: ApprovalFacts;
    await op.runStep('preflight', async (step) => {
      facts = await observe();
      status.facts.from = facts.activeRegion;
      status.facts.previousEpoch = facts.epoch;
      if (!facts.targetHealthy) {
        throw ApplicationFailure.nonRetryable(
          `target region "${spec.to}" is not healthy: ${facts.targetHealth}`,
          'target-unhealthy',
        );
      }
      step.detail = `active region ${facts.activeRegion}; target ${spec.to} ${facts.targetHealth}`;
    });

    failedStep = 'approval';
    if (approval.status === 'NotRequired') {
      const step = op.step('approval');
      step.status = 'Skipped';
      step.detail = 'the approval policy requires none';
    } else {
      const outcome = await awaitApproval(op, facts, observe);
      if (outcome.facts) facts = outcome.facts;
      if (outcome.end) return await op.end();
    }
    const newEpoch = facts.epoch + 1;

    failedStep = 'dns';
    await op.runStep('dns', async (step) => {
      const captured: CapturedRecord[] = await coordinator.captureDnsRecords({ app });
      status.facts.previousDns = captured;
      // Registered before the change: restoring the captured values is harmless if nothing changed,
      // and covers a batch that failed halfway.
      const restorable = captured.filter((c) => c.previous !== null);
      op.onFailureUndo('dns', async () => {
        await coordinator.applyDnsRecords({
          app,
          writes: restorable.map((c) => ({ index: c.index, set: c.previous! })),
        });
      });
      const writes = captured.map((c) => ({
        index: c.index,
        set: { ttl: plan.ttl, values: [plan.targetAddress] },
      }));
      step.detail = `switching ${captured.length} record(s) to ${plan.targetAddress}`;
      op.publish();
      const changes = await coordinator.applyDnsRecords({ app, writes });
      status.facts.dnsChanges = changes;
      await proxyActivities<CoordinatorActivities>({
        startToCloseTimeout: '1h',
        heartbeatTimeout: '60s',
        retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
      }).waitDnsInSync({ app, changes });
      const cachedTtl = Math.max(0, ...captured.map((c) => c.previous?.ttl ?? 0));
      if (plan.waitForTtl && cachedTtl > 0) {
        step.detail = `in sync; waiting ${cachedTtl}s for cached answers to expire`;
        op.publish();
        await sleep(cachedTtl * 1000);
      }
      step.detail = `${captured.length} record(s) point at ${plan.targetAddress}`;
    });

    failedStep = 'verify';
    await op.runStep('verify', async (step) => {
      const check = await proxyActivities<CoordinatorActivities>({
        scheduleToCloseTimeout: plan.verifyTimeoutSeconds * 1000,
        startToCloseTimeout: '15s',
        retry: { initialInterval: '500ms', backoffCoefficient: 1.5, maximumInterval: '5s' },
      }).verifyEndpoint({ app, expectedAddress: plan.targetAddress });
      step.detail = `${check.url} answered ${check.status} from ${check.resolvedAddresses.join(', ')}`;
    });

    failedStep = 'commit';
    await op.runStep('commit', async (step) => {
      const results = await coordinator.commitControlState({
        state: {
          app,
          activeRegion: spec.to,
          epoch: newEpoch,
          updatedAt: new Date().toISOString(),
          operationId: status.operationId,
        },
      });
      status.facts.epoch = newEpoch;
      status.facts.commit = results;
      const missed = results.filter((r) => !r.ok).map((r) => r.region);
      step.detail =
        `active region ${spec.to}, epoch ${newEpoch}` +
        (missed.length ? `; not recorded in ${missed.join(', ')}` : '');
    });
    status.phase = 'Completed';
  } catch (err) {
    // end() already finished the operation (approval rejected or expired) and threw to fail the
    // workflow: pass that on, do not compensate and finish (record, notify) a second time.
    if (status.endedAt) throw err;
    await op.failAndCompensate(err, failedStep);
  }
  return op.end();
}
