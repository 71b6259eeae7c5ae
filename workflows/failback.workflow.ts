import { removedRegionRefusal } from './control-guards';
import { refuse } from './control-hold';
import { ApplicationFailure } from '@temporalio/workflow';
import type { ApprovalFacts } from './approval';
import type { FailoverPlan } from './failover.workflow';
import { FailoverSession, runFailover } from './failover.workflow';
import type { FailbackSpec, OperationStatus } from './operation';
import { restoreInto } from './restore-core';
import type { ControlState } from '../infra/storage/control-state.store';

/**
 * Brings an app home after a failover (docs/failover.md, Failback):
 *
 *   reprotect (a restore point of the current primary, restored into the halted region)
 *   → readiness (the halted region is healthy and its data verified)
 *   → approval (policies.approvals.failback)
 *   → the planned switchover back: quiesce → final-restore-point → fence → restore → unfence
 *     → promote → dns → verify → commit
 *
 * It holds the app's `operation` slot like a failover, and compensates the same way.
 */

export interface FailbackInput {
  app: string;
  spec: FailbackSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  plan: FailoverPlan;
}

/** The state a failback may start from: the app runs elsewhere and the target is halted. */
function checkFailbackTarget(s: FailoverSession, state: ControlState): void {
  const { to } = s.run;
  if (state.activeRegion === to) {
    throw ApplicationFailure.nonRetryable(
      `region "${to}" is already active for app "${s.app}": nothing to fail back`,
      'already-active',
    );
  }
  if (!state.halted.includes(to)) {
    throw ApplicationFailure.nonRetryable(
      `region "${to}" is not halted: nothing to fail back to (use a planned failover)`,
      'nothing-to-fail-back',
    );
  }
  const removed = removedRegionRefusal(state, s.app, to, 'a failback target');
  if (removed) refuse(removed);
}

async function reprotectAndReadiness(
  s: FailoverSession,
): Promise<{ facts: ApprovalFacts; observe: () => Promise<ApprovalFacts> }> {
  const { op, status, run } = s;
  const observe = async (): Promise<ApprovalFacts> => {
    const state = await s.readControl();
    checkFailbackTarget(s, state);
    const facts = await s.observeTarget(state);
    const reprotected = status.facts.reprotect as { restorePointId?: string; cutAt?: string } | undefined;
    return {
      ...facts,
      ...(reprotected?.restorePointId
        ? { restorePointId: reprotected.restorePointId, restorePointCutAt: reprotected.cutAt }
        : {}),
    };
  };

  await s.runStep('reprotect', async (step) => {
    const state = await s.readControl();
    checkFailbackTarget(s, state);
    s.recordPrevious(state);
    await s.claim();
    if (!s.hasServices) {
      step.detail = `no services: nothing to re-seed in ${run.to}`;
      return;
    }
    // Re-seed the halted region from the current primary: the switchover's final restore point
    // then only has to catch up with what was written since.
    const m = await s.takeRestorePoint('reprotect', `reprotect of ${run.to} for ${status.operationId}`);
    const services: Record<string, string> = Object.fromEntries(m.services.map((x) => [x.name, 'Pending']));
    status.facts.services = services;
    const detail = await restoreInto(op, {
      app: s.app,
      region: run.to,
      taskQueuePrefix: s.input.taskQueuePrefix,
      manifest: m,
      perService: services,
    });
    status.facts.reprotect = { restorePointId: m.id, cutAt: m.cutAt, services: { ...services } };
    step.detail = `re-seeded ${run.to} from ${s.from}: ${detail}`;
  });

  let facts!: ApprovalFacts;
  await s.runStep('readiness', async (step) => {
    facts = await observe();
    if (!facts.targetHealthy) {
      throw ApplicationFailure.nonRetryable(
        `region "${run.to}" is not healthy: ${facts.targetHealth}`,
        'target-unhealthy',
      );
    }
    step.detail =
      `${run.to} ${facts.targetHealth}` +
      (s.hasServices ? `; its services verified against ${String(facts.restorePointId)}` : '');
  });
  return { facts, observe };
}

export async function failbackWorkflow(input: FailbackInput): Promise<OperationStatus> {
  const s = new FailoverSession(input, {
    kind: 'failback',
    mode: 'failback',
    spec: input.spec,
    to: input.spec.to,
  });
  return runFailover(s, reprotectAndReadiness);
}
