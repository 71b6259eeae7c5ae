import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { operationStatusQuery, searchAttributes, type SoftDeleteKind, undoUpdate } from './definitions';
import { OPERATION_STEPS, type OperationSpec, type OperationStatus, type OperationStep } from './operation';
import { OperationRuntime, toOperationError } from './operation-runtime';
import { type ApprovalFacts, type ApprovalPolicy, initialApprovalState } from './approval';
import { awaitApproval, installApprovalHandler } from './approval-flow';
import { type SoftDeleteApproval, UNDO_REFUSALS, type UndoResult } from './soft-delete';

/**
 * The life of every soft delete (docs/soft-deletes.md), whatever its target:
 *
 *   preflight (the guard rails, against the target as it is now)
 *   → tombstone (hidden at once, nothing removed)
 *   → window (phase Undoable: a durable timer until `undoableUntil`, or an undo)
 *   → undo (the target back exactly as it was)
 *     | purge (the target removed for good)
 *
 * Undo is an Update whose validator refuses once the window has passed (by workflow time, the same
 * clock as the timer) or once undo or purge has begun, so undo and purge can never both happen.
 * Deterministic: the target's steps call activities.
 */

export interface SoftDeleteTarget {
  /** Prefix of the audit events: `<noun>.tombstoned`, `<noun>.undeleted`, `<noun>.purged`. */
  noun: 'restore-point' | 'schedule' | 'region' | 'control' | 'dns-record';
  /**
   * The audit events' names when they are not `<noun>.tombstoned|undeleted|purged` (an override
   * hides nothing: `control.overridden`, `control.override-undone`, `control.override-purged`).
   */
  events?: { tombstoned: string; undone: string; purged: string };
  /** The name of the step that tombstones (default `tombstone`; an override's is `override`). */
  tombstoneStep?: string;
  /** The target in words, e.g. `restore point shop-…`, `schedule nightly`. */
  what: string;
  /** Fields naming the target, in every audit event and in the undo's answer. */
  names:
    | { restorePointId: string; restorePointIds?: string[] }
    | { scheduleName: string }
    | { region: string; action?: string }
    | { recordName: string; region?: string };
  /**
   * Failure types of `undo` that mean "refused, nothing changed" (e.g. the state was changed
   * since): the undo's caller gets that refusal (type, message, details) and the operation stays
   * Undoable until its window ends, as if no undo had been asked.
   */
  undoRefusals?: readonly string[];
  /** What an approver is shown as deleted (restore point ids, `schedule <name>`). */
  deleting: string[];
  preflight(step: OperationStep): Promise<void>;
  /** Returns audit details of the tombstone; `undoableUntil` is the window's end as it stands now. */
  tombstone(step: OperationStep, undoableUntil: string): Promise<Record<string, unknown>>;
  undo(step: OperationStep): Promise<void>;
  /** Returns audit details of the purge; `publish` shows a changed step (e.g. a wait) at once. */
  purge(step: OperationStep, publish: () => void): Promise<Record<string, unknown>>;
}

export interface SoftDeleteStart {
  kind: SoftDeleteKind;
  app: string;
  operationId: string;
  spec: OperationSpec;
  requestedBy: string;
  undoableUntil: string;
  /** With an approval: the window's length from the approval on (else undoableUntil stands). */
  windowSeconds?: number;
  approval?: SoftDeleteApproval;
}

/** The operation's status as it starts (the steps of its kind, the window in its facts). */
export function softDeleteStatus(input: SoftDeleteStart, facts: Record<string, unknown>): OperationStatus {
  return {
    operationId: input.operationId,
    kind: input.kind,
    app: input.app,
    spec: input.spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: OPERATION_STEPS[input.kind].map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    facts: { ...facts, undoableUntil: input.undoableUntil },
    approval: initialApprovalState(input.approval?.policy ?? NO_APPROVAL, input.requestedBy),
  };
}

const NO_APPROVAL: ApprovalPolicy = {
  required: 0,
  roles: ['approver'],
  excludeRequester: true,
  expiresAfterSeconds: 1,
};

export async function runSoftDelete(
  input: SoftDeleteStart,
  status: OperationStatus,
  target: SoftDeleteTarget,
): Promise<OperationStatus> {
  const op = new OperationRuntime(status);
  const events = target.events ?? {
    tombstoned: `${target.noun}.tombstoned`,
    undone: `${target.noun}.undeleted`,
    purged: `${target.noun}.purged`,
  };
  const tombstoneStep = target.tombstoneStep ?? 'tombstone';
  setHandler(operationStatusQuery, () => status);
  // Started as a child (by retention), the search attributes may be missing: set them here too.
  upsertSearchAttributes([
    { key: searchAttributes.app, value: input.app },
    { key: searchAttributes.kind, value: input.kind },
  ]);
  let undoableUntil = input.undoableUntil;
  let until = Date.parse(undoableUntil);
  installApprovalHandler(op);

  let stage: 'before' | 'undoable' | 'undoing' | 'purging' | 'done' = 'before';
  let undoneBy: { by: string; reason: string } | undefined;
  let undone: UndoResult | undefined;
  // An undo the target refused with nothing changed (undoRefusals): its caller gets the refusal.
  let undoAttempts = 0;
  let refused: { attempt: number; failure: ApplicationFailure } | undefined;

  setHandler(
    undoUpdate,
    async (req) => {
      const attempt = ++undoAttempts;
      stage = 'undoing';
      undoneBy = { by: req.by, reason: req.reason };
      await condition(
        () => undone !== undefined || refused?.attempt === attempt || status.phase === 'CompensationFailed',
      );
      if (refused?.attempt === attempt) throw refused.failure;
      if (!undone)
        throw ApplicationFailure.create({
          type: 'undo-failed',
          message: status.error?.message ?? 'undo failed',
        });
      return undone;
    },
    {
      validator: (_req) => {
        if (stage === 'undoing' || status.phase === 'Undone') {
          throw ApplicationFailure.create({
            type: UNDO_REFUSALS.alreadyUndone,
            message: `operation ${status.operationId} was already undone${undoneBy ? ` by ${undoneBy.by}` : ''}`,
          });
        }
        if (stage === 'before' || (stage === 'done' && status.phase !== 'Completed')) {
          throw ApplicationFailure.create({
            type: UNDO_REFUSALS.notUndoable,
            message: `operation ${status.operationId} is not undoable (phase ${status.phase})`,
          });
        }
        // Workflow time: the same clock as the window's timer.
        if (stage !== 'undoable' || Date.now() >= until) {
          throw ApplicationFailure.create({
            type: UNDO_REFUSALS.windowClosed,
            message: `the undo window of operation ${status.operationId} closed at ${undoableUntil}: ${target.what} ${stage === 'done' ? 'was' : 'is being'} purged`,
            details: [{ undoableUntil: undoableUntil }],
          });
        }
      },
    },
  );

  await op.audit('operation.started', 'info', {
    spec: input.spec,
    requestedBy: input.requestedBy,
    ...target.names,
  });
  let failedStep = 'preflight';
  try {
    await op.runStep('preflight', (step) => target.preflight(step));
    failedStep = 'approval';
    if (input.approval && input.approval.policy.required > 0) {
      const facts: ApprovalFacts = {
        activeRegion: '',
        epoch: 0,
        targetRegion: '',
        targetHealthy: true,
        targetHealth: input.approval.why,
        deleting: target.deleting,
      };
      const outcome = await awaitApproval(op, facts, () => Promise.resolve(facts));
      if (outcome.end) return await op.end();
      // The window is the kind's whole window from the approval on, not what was left of it.
      if (input.windowSeconds) {
        undoableUntil = new Date(Date.now() + input.windowSeconds * 1000).toISOString();
        until = Date.parse(undoableUntil);
        status.facts.undoableUntil = undoableUntil;
      }
    } else {
      const step = op.step('approval');
      step.status = 'Skipped';
      step.detail = `policies.approvals.${input.kind} requires none`;
    }
    failedStep = tombstoneStep;
    let details: Record<string, unknown> = {};
    await op.runStep(tombstoneStep, async (step) => {
      details = await target.tombstone(step, undoableUntil);
    });
    await op.audit(events.tombstoned, 'succeeded', {
      ...target.names,
      undoableUntil: undoableUntil,
      ...details,
    });
  } catch (err) {
    status.error = toOperationError(err, failedStep);
    status.phase = 'Failed';
    return op.end();
  }

  // The window: durable (a timer in Temporal), so a worker restart neither loses nor repeats it.
  stage = 'undoable';
  status.phase = 'Undoable';
  const window = op.step('window');
  window.status = 'Running';
  window.startedAt = new Date().toISOString();
  window.detail = `undoable until ${undoableUntil}`;
  op.publish();
  for (;;) {
    const asked = await condition(() => stage === 'undoing', Math.max(0, until - Date.now()));
    if (!asked) break;
    window.detail = `undo asked by ${undoneBy!.by} before ${undoableUntil}`;
    try {
      await op.runStep('undo', (step) => target.undo(step));
    } catch (err) {
      const refusal = refusalOf(err, target.undoRefusals);
      if (refusal) {
        // Refused with nothing changed: the window goes on as if no undo had been asked.
        const step = op.step('undo');
        const at = step.endedAt!;
        step.status = 'Pending';
        step.detail = `undo by ${undoneBy!.by} refused at ${at} (${refusal.type}): ${refusal.message}`;
        delete step.error;
        delete step.startedAt;
        delete step.endedAt;
        const earlier = (status.facts.undoRefusals as unknown[] | undefined) ?? [];
        status.facts.undoRefusals = [
          ...earlier,
          { at, by: undoneBy!.by, code: refusal.type, message: refusal.message },
        ];
        refused = {
          attempt: undoAttempts,
          failure: ApplicationFailure.create({
            type: refusal.type ?? undefined,
            message: refusal.message,
            details: refusal.details ? [...refusal.details] : undefined,
          }),
        };
        undoneBy = undefined;
        stage = 'undoable';
        window.detail = `undoable until ${undoableUntil}`;
        op.publish();
        continue;
      }
      window.status = 'Completed';
      window.endedAt = new Date().toISOString();
      status.error = toOperationError(err, 'undo');
      status.phase = 'CompensationFailed';
      stage = 'done';
      return op.end();
    }
    window.status = 'Completed';
    window.endedAt = op.step('undo').startedAt;
    status.facts.undoneBy = undoneBy!.by;
    status.facts.undoReason = undoneBy!.reason;
    status.phase = 'Undone';
    stage = 'done';
    await op.audit(events.undone, 'succeeded', { ...target.names, reason: undoneBy!.reason }, undoneBy!.by);
    undone = {
      operationId: status.operationId,
      kind: input.kind,
      target: target.what,
      ...target.names,
      undoneAt: op.step('undo').endedAt!,
      by: undoneBy!.by,
    };
    return op.end();
  }
  window.status = 'Completed';
  window.endedAt = new Date().toISOString();

  stage = 'purging';
  window.detail = `window ended at ${undoableUntil} without an undo`;
  status.phase = 'Running';
  let purged: Record<string, unknown> = {};
  try {
    await op.runStep('purge', async (step) => {
      purged = await target.purge(step, () => op.publish());
    });
  } catch (err) {
    status.error = toOperationError(err, 'purge');
    status.phase = 'Failed';
    stage = 'done';
    return op.end();
  }
  await op.audit(events.purged, 'succeeded', { ...target.names, ...purged });
  status.phase = 'Completed';
  stage = 'done';
  return op.end();
}

/** The failure behind `err` when its type is one of `types` (an activity's, or the workflow's own). */
function refusalOf(err: unknown, types: readonly string[] = []): ApplicationFailure | undefined {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause instanceof ApplicationFailure && types.includes(cause.type ?? '') ? cause : undefined;
}
