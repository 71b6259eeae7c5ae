import { removedRegionRefusal } from './control-guards';
import { refuse } from './control-hold';
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { CoordinatorActivities, RegionActivities } from '../infra/activities/failover.activities';
import type { FailoverDataActivities } from '../infra/activities/failover-data.activities';
import type { BackupCoordinatorActivities } from '../infra/activities/restore-point.activities';
import type { RestorePointManifest } from '../infra/backup/manifest';
import { type ApprovalFacts, type ApprovalPolicy, initialApprovalState } from './approval';
import { installApprovalHandler } from './approval-flow';
import { approveFailover } from './automatic-approval';
import {
  type CancelResult,
  cancelUpdate,
  operationIdOf,
  operationStatusQuery,
  regionTaskQueue,
} from './definitions';
import { type CustomStepPlan, expandSteps, installCheckpointHandler, runCustomStepsAt } from './custom-steps';
import { type DnsSwitchPlan, switchDns } from './dns-switch';
import { removedDnsRecords } from './dns-record-soft';
import { takeRestorePoint } from './final-restore-point';
import { OperationRuntime, toOperationError } from './operation-runtime';
import {
  FAILOVER_PLAN_STEPS,
  type FailoverMode,
  type FailoverSpec,
  type OperationKind,
  type OperationSpec,
  type OperationStatus,
  type OperationStep,
} from './operation';
import { restoreInto } from './restore-core';
import type { ControlActivities } from '../infra/activities/control.activities';
import type { ControlState } from '../infra/storage/control-state.store';
import type { ControlChange, ControlResult } from './control';

/**
 * A region failover as a saga (docs/failover.md). One engine runs three plans:
 *
 *   planned:   preflight → approval → quiesce → final-restore-point → fence → restore → promote
 *              → dns → verify → commit
 *   unplanned: preflight → approval → fence → restore → promote → dns → verify → commit
 *   failback:  reprotect → readiness → approval → quiesce → final-restore-point → fence → restore
 *              → unfence → promote → dns → verify → commit   (failback.workflow.ts)
 *
 * Every step that changes something registers its compensation before it changes it; a failure
 * or a cancel before the commit undoes them in reverse. Control changes carry request ids derived
 * from the operation id and the step, so a retried step never applies one twice.
 */

/**
 * What the API fixes when it starts a failover: the request, and the facts of the plan taken from
 * configuration at that moment (kept in history, so the workflow never reads configuration).
 */
export interface FailoverPlan {
  targetAddress: string;
  ttl: number;
  waitForTtl: boolean;
  verifyTimeoutSeconds: number;
  approval: ApprovalPolicy;
  /** The app's services; none: the data steps are skipped (there is no data to move). */
  services?: string[];
  rpoSeconds?: number;
  /** How long an instance may go on writing after its last read of the control state. */
  writeLeaseMs?: number;
  /** How long the final restore point waits for a restore point already running in its slot. */
  restorePointWaitSeconds?: number;
  /** How long the fence hook may take, queue time included (a dead region fails after this). */
  fenceHookTimeoutSeconds?: number;
  /** How the dns step moves the records (infra/dns/dns-plan.ts, from configuration). */
  dns: DnsSwitchPlan;
  /** Custom steps of this mode's plan (apps.<app>.failover.steps), run before/after built-in ones. */
  custom?: CustomStepPlan[];
  /**
   * Test-only fault hook: the named step fails at its end, after its change (and with its
   * compensation registered). Never set by the API; tests start the workflow with it directly.
   */
  faultAfterStep?: string;
}

export interface FailoverInput {
  app: string;
  spec: FailoverSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  plan: FailoverPlan;
}

export const DEFAULT_WRITE_LEASE_MS = 2_000;

const coordinator = proxyActivities<
  CoordinatorActivities & FailoverDataActivities & BackupCoordinatorActivities
>({
  // Short calls: a crashed worker's attempt is retried elsewhere after at most 15 s.
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

const control = proxyActivities<Pick<ControlActivities, 'applyControlChange' | 'readControl'>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 6 },
});

function regionActivities(prefix: string, region: string, scheduleToCloseSeconds = 30) {
  // A region whose workers are gone must fail the step quickly instead of holding the failover.
  return proxyActivities<RegionActivities>({
    taskQueue: regionTaskQueue(prefix, region),
    scheduleToCloseTimeout: scheduleToCloseSeconds * 1000,
    startToCloseTimeout: '15s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s' },
  });
}

/** What one run of the engine is: its kind, its plan, and where it goes. */
export interface FailoverRun {
  kind: Extract<OperationKind, 'failover' | 'failback'>;
  mode: FailoverMode;
  spec: OperationSpec;
  to: string;
}

/**
 * One failover in progress: the operation, the state it started from, and the helpers its steps
 * share (control changes, hooks, restore points). The failback workflow drives its first steps
 * through it too.
 */
export class FailoverSession {
  readonly op: OperationRuntime;
  readonly status: OperationStatus;
  /** The control state before any change: what every compensation goes back to. */
  previous!: ControlState;
  /** The region the app leaves. */
  from = '';
  /** The restore point the restore step restores. */
  manifest: RestorePointManifest | null = null;
  /** When the old primary was fenced (workflow time, ms). */
  fencedAt = 0;
  claimed = false;

  constructor(
    readonly input: Omit<FailoverInput, 'spec'>,
    readonly run: FailoverRun,
  ) {
    this.status = {
      operationId: operationIdOf(input.app, workflowInfo().firstExecutionRunId),
      kind: run.kind,
      app: input.app,
      spec: run.spec,
      requestedBy: input.requestedBy,
      phase: 'Running',
      steps: expandSteps(FAILOVER_PLAN_STEPS[run.mode], input.plan.custom ?? []).map((name) => ({
        name,
        status: 'Pending',
      })),
      startedAt: new Date().toISOString(),
      approval: initialApprovalState(input.plan.approval, input.requestedBy),
      facts: { mode: run.mode },
    };
    this.op = new OperationRuntime(this.status);
  }

  get app(): string {
    return this.input.app;
  }

  /** Runs a built-in step with the custom steps placed before and after it. */
  async runStep(name: string, body: (step: OperationStep) => Promise<void>): Promise<void> {
    await this.around(name, () => this.op.runStep(name, body));
  }

  /** The custom steps before `name`, `body`, then those after it. */
  async around(name: string, body: () => Promise<void>): Promise<void> {
    const custom = { app: this.app, custom: this.input.plan.custom ?? [], mode: this.run.mode };
    await runCustomStepsAt(this.op, { before: name }, custom);
    await body();
    await runCustomStepsAt(this.op, { after: name }, custom);
  }

  /** Fails the step when the plan's test-only fault hook names it. */
  faultPoint(step: string): void {
    if (this.input.plan.faultAfterStep === step) {
      throw ApplicationFailure.nonRetryable(`fault injected after step ${step} (test)`, 'injected-fault');
    }
  }

  get hasServices(): boolean {
    return (this.input.plan.services ?? []).length > 0;
  }

  /** Applies one control change, once: the request id is the operation id and `key`. */
  async change(key: string, change: ControlChange): Promise<ControlResult> {
    return control.applyControlChange({
      app: this.app,
      requestId: `${this.status.operationId}:${key}`,
      change,
    });
  }

  readControl(): Promise<ControlState> {
    return control.readControl({ app: this.app });
  }

  /** Holds the app's controller for this operation (refused while another operation holds it). */
  async claim(): Promise<void> {
    await this.change('claim', { type: 'claim', operationId: this.status.operationId });
    this.claimed = true;
  }

  /** Lets go of the controller at the end, whatever the outcome; a failure is recorded, not thrown. */
  async release(): Promise<void> {
    if (!this.claimed) return;
    try {
      await CancellationScope.nonCancellable(() =>
        this.change('release', { type: 'release', operationId: this.status.operationId }),
      );
      this.claimed = false;
    } catch (err) {
      this.status.facts.releaseError = toOperationError(err).message;
    }
  }

  /** Records the control state the operation starts from (what compensations go back to). */
  recordPrevious(state: ControlState): void {
    this.previous = state;
    this.from = state.activeRegion;
    this.status.facts.from = state.activeRegion;
    this.status.facts.previousEpoch = state.epoch;
    this.status.facts.previousState = {
      activeRegion: state.activeRegion,
      epoch: state.epoch,
      writer: state.writer,
      halted: state.halted,
    };
  }

  /** Back to the state before the operation (epoch raised), for a compensation. */
  restorePrevious(key: string): Promise<ControlResult> {
    return this.change(`${key}:undo`, {
      type: 'restore',
      previous: this.previous,
      operationId: this.status.operationId,
    });
  }

  /** Calls a region's fence or unfence hook on that region's task queue. */
  hook(region: string, action: 'fence' | 'unfence', epoch: number) {
    return regionActivities(
      this.input.taskQueuePrefix,
      region,
      this.input.plan.fenceHookTimeoutSeconds ?? 15,
    ).callFenceHook({ app: this.app, region, action, epoch, operationId: this.status.operationId });
  }

  probe(region: string) {
    return regionActivities(this.input.taskQueuePrefix, region).probeRegionHealth({ app: this.app, region });
  }

  async readManifest(region: string, restorePointId: string): Promise<RestorePointManifest> {
    const m = await coordinator.readManifest({ app: this.app, region, restorePointId });
    if (!m) {
      throw ApplicationFailure.nonRetryable(
        `restore point ${restorePointId} has no manifest in region ${region}`,
        'restore-point-not-in-region',
      );
    }
    return m;
  }

  /** Takes a restore point of the active region now, as a child operation; returns its manifest. */
  async takeRestorePoint(stepName: string, reason: string): Promise<RestorePointManifest> {
    const step = this.op.step(stepName);
    const taken = await takeRestorePoint({
      app: this.app,
      taskQueuePrefix: this.input.taskQueuePrefix,
      requestedBy: this.input.requestedBy,
      operationId: this.status.operationId,
      reason,
      waitSeconds: this.input.plan.restorePointWaitSeconds ?? 600,
      onWaiting: (running) => {
        step.detail = `waiting for restore point operation ${running} to finish, then taking this one`;
        this.op.publish();
      },
    });
    return this.readManifest(this.run.to, taken.restorePointId);
  }

  /** Refuses a target that cannot take the app; fills the approval facts. */
  async observeTarget(state: ControlState): Promise<ApprovalFacts> {
    const probe = await this.probe(this.run.to);
    this.status.facts.targetHealth = probe;
    return {
      activeRegion: state.activeRegion,
      epoch: state.epoch,
      targetRegion: this.run.to,
      targetHealthy: probe.healthy,
      targetHealth: probe.healthy ? `healthy (${probe.latencyMs} ms)` : probe.reason,
    };
  }
}

/** The state a failover (not a failback) may start from. */
function checkFailoverTarget(s: FailoverSession, state: ControlState): void {
  const { to } = s.run;
  if (state.activeRegion === to) {
    throw ApplicationFailure.nonRetryable(
      `region "${to}" is already active for app "${s.app}"`,
      'already-active',
    );
  }
  if (state.halted.includes(to)) {
    throw ApplicationFailure.nonRetryable(
      `region "${to}" is halted (fenced by an earlier failover): only a failback brings the app back to it`,
      'region-halted',
    );
  }
  const removed = removedRegionRefusal(state, s.app, to, 'a failover target');
  if (removed) refuse(removed);
}

/** Preflight of a planned or unplanned failover: the target, the slot, the data. */
async function preflight(
  s: FailoverSession,
): Promise<{ facts: ApprovalFacts; observe: () => Promise<ApprovalFacts> }> {
  const { status, run } = s;
  const unplanned = run.mode === 'unplanned';
  const observe = async (): Promise<ApprovalFacts> => {
    const state = await s.readControl();
    checkFailoverTarget(s, state);
    const facts = await s.observeTarget(state);
    if (unplanned && s.hasServices) {
      const chosen = await coordinator.chooseRestorePoint({ app: s.app, region: run.to });
      if (!chosen) {
        throw ApplicationFailure.nonRetryable(
          `region ${run.to} holds no usable restore point of app "${s.app}": nothing to restore`,
          'no-restore-point',
        );
      }
      const ageSeconds = Math.max(0, Math.round((Date.now() - Date.parse(chosen.cutAt)) / 1000));
      const rpo = s.input.plan.rpoSeconds ?? 3600;
      status.facts.restorePoint = {
        id: chosen.id,
        cutAt: chosen.cutAt,
        ageSeconds,
        rpoSeconds: rpo,
        withinRpo: ageSeconds <= rpo,
        verified: chosen.verified,
        ...(chosen.verified
          ? {}
          : {
              note: `no verified restore point in ${run.to}: the newest committed one is used (verification: ${chosen.verification ?? 'never'})`,
            }),
        ...(chosen.newerUnverified.length ? { newerUnverified: chosen.newerUnverified } : {}),
      };
      Object.assign(facts, {
        restorePointId: chosen.id,
        restorePointCutAt: chosen.cutAt,
        restorePointAgeSeconds: ageSeconds,
        restorePointVerified: chosen.verified,
        rpoSeconds: rpo,
      });
    }
    return facts;
  };

  let facts!: ApprovalFacts;
  await s.runStep('preflight', async (step) => {
    const state = await s.readControl();
    s.recordPrevious(state);
    facts = await observe();
    if (!facts.targetHealthy) {
      throw ApplicationFailure.nonRetryable(
        `target region "${run.to}" is not healthy: ${facts.targetHealth}`,
        'target-unhealthy',
      );
    }
    await s.claim();
    const data = !s.hasServices
      ? 'no services: no data to move'
      : unplanned
        ? describeChosen(status.facts.restorePoint as ChosenFacts)
        : `a final restore point will be taken after the quiesce`;
    step.detail = `active region ${state.activeRegion} (epoch ${state.epoch}); target ${run.to} ${facts.targetHealth}; ${data}`;
    s.faultPoint('preflight');
  });
  return { facts, observe };
}

interface ChosenFacts {
  id: string;
  ageSeconds: number;
  rpoSeconds: number;
  withinRpo: boolean;
  verified: boolean;
}

function describeChosen(c: ChosenFacts): string {
  return (
    `restore point ${c.id} (${c.verified ? 'verified' : 'NOT verified'}), ${c.ageSeconds}s old, ` +
    `${c.withinRpo ? 'within' : 'BEYOND'} the RPO of ${c.rpoSeconds}s`
  );
}

/** Waits for approvals when the policy asks for them; true when the operation ended there. */
async function approvalStep(
  s: FailoverSession,
  facts: ApprovalFacts,
  observe: () => Promise<ApprovalFacts>,
): Promise<boolean> {
  // Requested operations: the approval policy. Opened by the monitors: manual or automatic mode.
  return (await approveFailover(s.op, facts, observe)).end;
}

/**
 * Stops writes in the old primary (planned): the control state names no writer, and the region's
 * fence hook stops its instances at once; then the write lease runs out for any instance the hook
 * did not reach.
 */
async function quiesceStep(s: FailoverSession, hooked: { quiesce: boolean }): Promise<void> {
  await s.runStep('quiesce', async (step) => {
    s.op.onFailureUndo('quiesce', async () => {
      const r = await s.restorePrevious('quiesce');
      if (hooked.quiesce) await s.hook(s.from, 'unfence', r.state.epoch);
    });
    const r = await s.change('quiesce', {
      type: 'quiesce',
      region: s.from,
      operationId: s.status.operationId,
    });
    const hook = await s.hook(s.from, 'fence', r.state.epoch);
    hooked.quiesce = hook.called;
    const lease = s.input.plan.writeLeaseMs ?? DEFAULT_WRITE_LEASE_MS;
    step.detail = `no writer (epoch ${r.state.epoch}); ${hook.detail}; waiting the write lease (${lease} ms)`;
    s.op.publish();
    await sleep(lease);
    step.detail = `writes stopped in ${s.from}: no writer (epoch ${r.state.epoch}); ${hook.detail}; write lease of ${lease} ms over`;
    s.faultPoint('quiesce');
  });
}

async function finalRestorePointStep(s: FailoverSession): Promise<void> {
  if (!s.hasServices) return skip(s, 'final-restore-point', 'the app declares no services');
  await s.runStep('final-restore-point', async (step) => {
    const m = await s.takeRestorePoint(
      'final-restore-point',
      `final restore point of ${s.status.operationId}`,
    );
    s.manifest = m;
    s.status.facts.restorePoint = { id: m.id, cutAt: m.cutAt, operationId: m.operationId, final: true };
    step.detail = `restore point ${m.id} cut at ${m.cutAt} in ${m.sourceRegion}, copied to ${m.regions.join(', ')}`;
    s.faultPoint('final-restore-point');
  });
}

/**
 * Fences the old primary: a new epoch that halts it, in the target's bucket and a majority of
 * buckets, then its fence hook on its own task queue (best effort in an unplanned failover: a dead
 * region fails fast and is recorded).
 */
async function fenceStep(s: FailoverSession, hooked: { fence: boolean }): Promise<void> {
  const bestEffort = s.run.mode === 'unplanned';
  await s.runStep('fence', async (step) => {
    s.op.onFailureUndo('fence', async () => {
      const r = await s.restorePrevious('fence');
      if (hooked.fence) await s.hook(s.from, 'unfence', r.state.epoch);
    });
    const r = await s.change('fence', { type: 'fence', region: s.from, operationId: s.status.operationId });
    const target = r.mirrored.find((m) => m.region === s.run.to);
    if (target && !target.ok) {
      throw new Error(
        `the fence (epoch ${r.state.epoch}) is not recorded in ${s.run.to}'s bucket: ${target.error}`,
      );
    }
    s.fencedAt = Date.now();
    s.status.facts.epoch = r.state.epoch;
    s.status.facts.fence = {
      epoch: r.state.epoch,
      at: new Date(s.fencedAt).toISOString(),
      mirrored: r.mirrored,
    };
    const missed = r.mirrored.filter((m) => !m.ok).map((m) => m.region);
    let hookDetail: string;
    try {
      const h = await s.hook(s.from, 'fence', r.state.epoch);
      hooked.fence = h.called;
      hookDetail = h.detail;
    } catch (err) {
      if (!bestEffort) throw err;
      const e = toOperationError(err, 'fence');
      s.status.facts.fenceHookError = e.message;
      hookDetail = `fence hook of ${s.from} failed (best effort, recorded): ${e.message}`;
    }
    step.detail =
      `${s.from} halted at epoch ${r.state.epoch}` +
      (missed.length ? ` (not recorded in ${missed.join(', ')})` : '') +
      `; ${hookDetail}`;
    s.faultPoint('fence');
  });
}

async function restoreStep(s: FailoverSession): Promise<void> {
  if (!s.hasServices) return skip(s, 'restore', 'the app declares no services');
  await s.runStep('restore', async (step) => {
    if (!s.manifest) {
      const chosen = s.status.facts.restorePoint as { id: string };
      s.manifest = await s.readManifest(s.run.to, chosen.id);
    }
    const services: Record<string, string> = Object.fromEntries(
      s.manifest.services.map((x) => [x.name, 'Pending']),
    );
    s.status.facts.services = services;
    // No compensation: it writes only into the target, which serves nothing until the commit.
    step.detail = await restoreInto(s.op, {
      app: s.app,
      region: s.run.to,
      taskQueuePrefix: s.input.taskQueuePrefix,
      manifest: s.manifest,
      perService: services,
    });
    s.faultPoint('restore');
  });
}

/**
 * Applies a `promote` or `unfence` change to the target region, then calls its unfence hook. The
 * compensation (registered first) restores the previous state and, if the hook was called,
 * fences the target again.
 */
async function changeTargetAndUnfence(s: FailoverSession, type: 'promote' | 'unfence') {
  let hooked = false;
  s.op.onFailureUndo(type, async () => {
    const r = await s.restorePrevious(type);
    if (hooked) await s.hook(s.run.to, 'fence', r.state.epoch);
  });
  const r = await s.change(type, { type, region: s.run.to, operationId: s.status.operationId });
  const h = await s.hook(s.run.to, 'unfence', r.state.epoch);
  hooked = h.called;
  return { r, h };
}

/** The new writer, once the write lease since the fence is over (no moment with two writers). */
async function promoteStep(s: FailoverSession): Promise<void> {
  await s.runStep('promote', async (step) => {
    const lease = s.input.plan.writeLeaseMs ?? DEFAULT_WRITE_LEASE_MS;
    const wait = s.fencedAt + lease - Date.now();
    if (wait > 0) {
      step.detail = `waiting ${wait} ms for the write lease since the fence to run out`;
      s.op.publish();
      await sleep(wait);
    }
    // The target's instances may still hold an earlier operation's fence (a region a failback left,
    // or one a planned switchover quiesced): the promote hook lifts it, so the writer takes writes.
    const { r, h } = await changeTargetAndUnfence(s, 'promote');
    step.detail = `${s.run.to} is the writer (epoch ${r.state.epoch}), ${lease} ms after the fence; ${h.detail}`;
    s.faultPoint('promote');
  });
}

async function dnsStep(s: FailoverSession): Promise<void> {
  await s.runStep('dns', async (step) => {
    // Removed records (dns-record-delete) are never written; the claim keeps the list as read here.
    const skip = removedDnsRecords(await s.readControl());
    // switchDns registers its own compensation (the records as they were) before any change.
    await switchDns(s.op, step, {
      app: s.app,
      taskQueuePrefix: s.input.taskQueuePrefix,
      plan: s.input.plan.dns,
      ...(skip.length ? { skip } : {}),
    });
    s.faultPoint('dns');
  });
}

async function verifyStep(s: FailoverSession): Promise<void> {
  const plan = s.input.plan;
  await s.runStep('verify', async (step) => {
    const check = await proxyActivities<CoordinatorActivities>({
      scheduleToCloseTimeout: plan.verifyTimeoutSeconds * 1000,
      startToCloseTimeout: '15s',
      retry: { initialInterval: '500ms', backoffCoefficient: 1.5, maximumInterval: '5s' },
    }).verifyEndpoint({ app: s.app, expectedAddress: plan.targetAddress });
    step.detail = `${check.url} answered ${check.status} from ${check.resolvedAddresses.join(', ')}`;
    s.faultPoint('verify');
  });
}

async function commitStep(s: FailoverSession): Promise<void> {
  await s.runStep('commit', async (step) => {
    const r = await s.change('commit', {
      type: 'activate',
      region: s.run.to,
      operationId: s.status.operationId,
    });
    let state = r.state;
    let mirrored = r.mirrored;
    // A failback brings the app home through a zero-loss switchover: the region it leaves is a
    // clean standby again (not halted), so the app is protected by a failover as before. It stays
    // fenced as a non-writer; a later failover's promote lifts its hook fence.
    const leftHalted = s.run.mode !== 'failback';
    if (!leftHalted) {
      ({ state, mirrored } = await s.change('commit:unfence', {
        type: 'unfence',
        region: s.from,
        operationId: s.status.operationId,
      }));
    }
    s.status.facts.epoch = state.epoch;
    s.status.facts.commit = mirrored;
    s.status.facts.committedAt = new Date().toISOString();
    const missed = mirrored.filter((m) => !m.ok).map((m) => m.region);
    step.detail =
      `active region ${s.run.to}, epoch ${state.epoch}; ${s.from} ${leftHalted ? 'halted' : 'standby'}` +
      (missed.length ? `; not recorded in ${missed.join(', ')}` : '');
  });
}

function skip(s: FailoverSession, name: string, why: string): void {
  const step = s.op.step(name);
  step.status = 'Skipped';
  step.detail = why;
  s.op.publish();
}

/** The data loss window (the RPO achieved), recorded once the restore step has run. */
function recordDataLoss(s: FailoverSession): void {
  const f = s.status.facts;
  if (!s.hasServices) {
    f.dataLoss = 'no services: no data';
    return;
  }
  if (s.run.mode === 'unplanned') {
    const cutAt = Date.parse(s.manifest!.cutAt);
    f.dataLossWindowSeconds = Math.max(0, Math.round((s.fencedAt - cutAt) / 1000));
    f.dataLoss = `writes acknowledged by ${s.from} after ${s.manifest!.cutAt} (the restore point's cut) are not in ${s.run.to}`;
  } else {
    f.dataLossWindowSeconds = 0;
    f.dataLoss = `none: the final restore point was cut after writes stopped in ${s.from}`;
  }
}

/** The steps after the approval, shared by every plan. */
async function switchover(s: FailoverSession): Promise<void> {
  const hooked = { quiesce: false, fence: false };
  const steps = FAILOVER_PLAN_STEPS[s.run.mode];
  if (steps.includes('quiesce')) await quiesceStep(s, hooked);
  if (steps.includes('final-restore-point')) await finalRestorePointStep(s);
  await fenceStep(s, hooked);
  await restoreStep(s);
  recordDataLoss(s);
  if (steps.includes('unfence')) await unfenceStep(s);
  await promoteStep(s);
  await dnsStep(s);
  await verifyStep(s);
}

/** Failback: the halted region the app returns to is let out of halt before it is promoted. */
async function unfenceStep(s: FailoverSession): Promise<void> {
  await s.runStep('unfence', async (step) => {
    const { r, h } = await changeTargetAndUnfence(s, 'unfence');
    step.detail = `${s.run.to} no longer halted (epoch ${r.state.epoch}); ${h.detail}`;
    s.faultPoint('unfence');
  });
}

/**
 * The steps before the switchover: a failover's preflight, or a failback's reprotect and readiness.
 * Returns the approval facts and how to observe them again.
 */
export type Preparation = (
  s: FailoverSession,
) => Promise<{ facts: ApprovalFacts; observe: () => Promise<ApprovalFacts> }>;

/** Runs a failover or failback to its end: Completed, or compensated (Failed, Cancelled, ...). */
export async function runFailover(s: FailoverSession, prepare: Preparation): Promise<OperationStatus> {
  const { op, status } = s;
  setHandler(operationStatusQuery, () => status);
  installApprovalHandler(op);

  const scope = new CancellationScope();
  let cancel: CancelResult | undefined;
  let committing = false;
  installCheckpointHandler(op, s.input.plan.custom ?? []);
  setHandler(
    cancelUpdate,
    async (req) => {
      const running = status.steps.find((x) => x.status === 'Running');
      cancel = {
        operationId: status.operationId,
        cancelledAt: new Date().toISOString(),
        by: req.by,
        ...(running ? { step: running.name } : {}),
      };
      status.facts.cancel = { ...cancel, reason: req.reason };
      op.publish();
      await op.audit(
        'operation.cancel-requested',
        'accepted',
        { reason: req.reason, step: running?.name, requestId: req.requestId },
        req.by,
      );
      scope.cancel();
      return cancel;
    },
    {
      validator: (_req) => {
        if (status.endedAt) {
          throw ApplicationFailure.create({
            type: 'operation-ended',
            message: `operation ${status.operationId} already ended at ${status.endedAt} (${status.phase})`,
            details: [{ endedAt: status.endedAt, phase: status.phase }],
          });
        }
        const commit = s.op.step('commit');
        if (committing) {
          const at = commit.startedAt ?? new Date().toISOString();
          throw ApplicationFailure.create({
            type: 'already-committed',
            message: `operation ${status.operationId} committed at ${at}: too late to cancel (fail back instead)`,
            details: [{ committedAt: at }],
          });
        }
        if (cancel) {
          throw ApplicationFailure.create({
            type: 'already-cancelled',
            message: `operation ${status.operationId} is being cancelled (by ${cancel.by} at ${cancel.cancelledAt})`,
            details: [{ cancelledAt: cancel.cancelledAt }],
          });
        }
      },
    },
  );

  await op.audit('operation.started', 'info', {
    spec: status.spec,
    requestedBy: s.input.requestedBy,
    mode: s.run.mode,
  });
  let ended = false;
  try {
    await scope.run(async () => {
      const { facts, observe } = await prepare(s);
      let endedAtApproval = false;
      await s.around('approval', async () => {
        endedAtApproval = await approvalStep(s, facts, observe);
      });
      if (endedAtApproval) {
        ended = true;
        return;
      }
      await switchover(s);
    });
    committing = true;
    if (!ended) {
      await commitStep(s);
      status.phase = 'Completed';
    }
  } catch (err) {
    const failed = status.steps.find((x) => x.status === 'Failed' || x.status === 'Running');
    if (cancel && isCancellation(err)) {
      await op.cancelAndCompensate({
        code: 'cancelled',
        message: `cancelled by ${cancel.by}: ${(status.facts.cancel as { reason: string }).reason}`,
        step: cancel.step,
      });
    } else {
      await op.failAndCompensate(err, failed?.name ?? 'preflight');
    }
  }
  await s.release();
  return op.end();
}

export async function failoverWorkflow(input: FailoverInput): Promise<OperationStatus> {
  const s = new FailoverSession(input, {
    kind: 'failover',
    mode: input.spec.mode,
    spec: input.spec,
    to: input.spec.to,
  });
  return runFailover(s, preflight);
}

export { approvalStep, checkFailoverTarget };
