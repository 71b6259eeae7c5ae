import {
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  setHandler,
  sleep,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  CapturedRecord,
  CoordinatorActivities,
  RegionActivities,
} from '../infra/activities/failover.activities';
import {
  operationIdOf,
  operationStatusQuery,
  regionTaskQueue,
  searchAttributes,
  STATUS_MEMO_KEY,
} from './definitions';
import type { FailoverSpec, OperationError, OperationStatus, OperationStep } from './operation';

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
  };
}

export const FAILOVER_STEPS = ['preflight', 'dns', 'verify', 'commit'] as const;
type StepName = (typeof FAILOVER_STEPS)[number];

// Short calls: a crashed worker's attempt is retried elsewhere after at most 15 s.
const coordinator = proxyActivities<CoordinatorActivities>({
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

function toOperationError(err: unknown, step: string): OperationError {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    return { code: cause.type ?? 'failed', message: cause.message, step };
  }
  if (cause instanceof TimeoutFailure) {
    return { code: 'timeout', message: `step "${step}" timed out (${cause.timeoutType})`, step };
  }
  return { code: 'failed', message: cause instanceof Error ? cause.message : String(cause), step };
}

export async function failoverWorkflow(input: FailoverInput): Promise<OperationStatus> {
  const info = workflowInfo();
  const { app, spec, plan } = input;
  const status: OperationStatus = {
    operationId: operationIdOf(app, info.firstExecutionRunId),
    kind: 'failover',
    app,
    spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: FAILOVER_STEPS.map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    facts: {},
  };
  setHandler(operationStatusQuery, () => status);

  const publish = () => {
    upsertMemo({ [STATUS_MEMO_KEY]: status });
    upsertSearchAttributes([{ key: searchAttributes.phase, value: status.phase }]);
  };
  const stepOf = (name: StepName): OperationStep => status.steps.find((s) => s.name === name)!;

  const compensations: { step: StepName; run: () => Promise<void> }[] = [];

  async function runStep(name: StepName, body: (step: OperationStep) => Promise<void>): Promise<void> {
    const step = stepOf(name);
    step.status = 'Running';
    step.startedAt = new Date().toISOString();
    publish();
    try {
      await body(step);
      step.status = 'Completed';
    } catch (err) {
      step.status = 'Failed';
      step.error = toOperationError(err, name);
      throw err;
    } finally {
      step.endedAt = new Date().toISOString();
      publish();
    }
  }

  let failedStep: StepName = 'preflight';
  try {
    let newEpoch = 0;
    failedStep = 'preflight';
    await runStep('preflight', async (step) => {
      const state = await coordinator.readControlState({ app });
      status.facts.from = state.activeRegion;
      status.facts.previousEpoch = state.epoch;
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
      if (!probe.healthy) {
        throw ApplicationFailure.nonRetryable(
          `target region "${spec.to}" is not healthy: ${probe.reason}`,
          'target-unhealthy',
        );
      }
      newEpoch = state.epoch + 1;
      step.detail = `active region ${state.activeRegion}; target ${spec.to} healthy (${probe.latencyMs} ms)`;
    });

    failedStep = 'dns';
    await runStep('dns', async (step) => {
      const captured: CapturedRecord[] = await coordinator.captureDnsRecords({ app });
      status.facts.previousDns = captured;
      // Registered before the change: restoring the captured values is harmless if nothing changed,
      // and covers a batch that failed halfway.
      const restorable = captured.filter((c) => c.previous !== null);
      compensations.push({
        step: 'dns',
        run: async () => {
          await coordinator.applyDnsRecords({
            app,
            writes: restorable.map((c) => ({ index: c.index, set: c.previous! })),
          });
        },
      });
      const writes = captured.map((c) => ({
        index: c.index,
        set: { ttl: plan.ttl, values: [plan.targetAddress] },
      }));
      step.detail = `switching ${captured.length} record(s) to ${plan.targetAddress}`;
      publish();
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
        publish();
        await sleep(cachedTtl * 1000);
      }
      step.detail = `${captured.length} record(s) point at ${plan.targetAddress}`;
    });

    failedStep = 'verify';
    await runStep('verify', async (step) => {
      const check = await proxyActivities<CoordinatorActivities>({
        scheduleToCloseTimeout: plan.verifyTimeoutSeconds * 1000,
        startToCloseTimeout: '15s',
        retry: { initialInterval: '500ms', backoffCoefficient: 1.5, maximumInterval: '5s' },
      }).verifyEndpoint({ app, expectedAddress: plan.targetAddress });
      step.detail = `${check.url} answered ${check.status} from ${check.resolvedAddresses.join(', ')}`;
    });

    failedStep = 'commit';
    await runStep('commit', async (step) => {
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
    status.error = toOperationError(err, failedStep);
    status.phase = 'Compensating';
    publish();
    let compensationFailed = false;
    for (const c of compensations.reverse()) {
      const step = stepOf(c.step);
      const before = step.status;
      step.status = 'Compensating';
      publish();
      try {
        await c.run();
        step.status = before === 'Failed' ? 'Failed' : 'Compensated';
      } catch (compErr) {
        compensationFailed = true;
        step.status = 'CompensationFailed';
        step.compensationError = toOperationError(compErr, c.step);
        log.error('compensation failed', { step: c.step, error: step.compensationError.message });
      }
    }
    status.phase = compensationFailed ? 'CompensationFailed' : 'Failed';
  }
  for (const s of status.steps) if (s.status === 'Pending') s.status = 'Skipped';
  status.endedAt = new Date().toISOString();
  publish();
  if (status.phase !== 'Completed') {
    throw ApplicationFailure.nonRetryable(
      status.error?.message ?? 'failover failed',
      status.error?.code ?? 'failed',
      status,
    );
  }
  return status;
}
