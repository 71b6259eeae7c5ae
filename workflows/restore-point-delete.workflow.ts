import {
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { SoftDeleteActivities } from '../infra/activities/soft-delete.activities';
import { operationStatusQuery, searchAttributes, undoUpdate } from './definitions';
import { OPERATION_STEPS, type OperationStatus } from './operation';
import { OperationRuntime, toOperationError } from './operation-runtime';
import {
  type RestorePointDeleteInput,
  TOMBSTONE_SCHEMA,
  type Tombstone,
  UNDO_REFUSALS,
  type UndoResult,
} from './soft-delete';

/**
 * Soft-deletes one restore point (docs/soft-deletes.md):
 *
 *   preflight (the guard rails, against the buckets as they are now)
 *   → tombstone (in every reachable region: hidden at once, nothing removed)
 *   → window (phase Undoable: a durable timer until `undoableUntil`, or an undo)
 *   → undo (the tombstones removed: the restore point is back, byte for byte)
 *     | purge (manifest, artifacts, every version, in every region; then the tombstones)
 *
 * Undo is an Update whose validator refuses once the window has passed (by workflow time, the same
 * clock as the timer) or once undo or purge has begun, so undo and purge can never both happen.
 */

const buckets = proxyActivities<SoftDeleteActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Undo and purge must reach every region; a region that is down for a while is waited for. */
const everywhere = proxyActivities<SoftDeleteActivities>({
  startToCloseTimeout: '10m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

export async function restorePointDeleteWorkflow(input: RestorePointDeleteInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const restorePointId = spec.restorePointId;
  const status: OperationStatus = {
    operationId: input.operationId,
    kind: 'restore-point-delete',
    app,
    spec,
    requestedBy: input.requestedBy,
    phase: 'Running',
    steps: OPERATION_STEPS['restore-point-delete'].map((name) => ({ name, status: 'Pending' })),
    startedAt: new Date().toISOString(),
    facts: { restorePointId, undoableUntil: input.undoableUntil },
  };
  const op = new OperationRuntime(status);
  setHandler(operationStatusQuery, () => status);
  // Started as a child by retention, the search attributes may be missing: set them here too.
  upsertSearchAttributes([
    { key: searchAttributes.app, value: app },
    { key: searchAttributes.kind, value: 'restore-point-delete' },
  ]);
  const until = Date.parse(input.undoableUntil);

  let stage: 'before' | 'undoable' | 'undoing' | 'purging' | 'done' = 'before';
  let undoneBy: { by: string; reason: string } | undefined;
  let undone: UndoResult | undefined;

  setHandler(
    undoUpdate,
    async (req) => {
      stage = 'undoing';
      undoneBy = { by: req.by, reason: req.reason };
      await condition(() => undone !== undefined || status.phase === 'CompensationFailed');
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
            message: `the undo window of operation ${status.operationId} closed at ${input.undoableUntil}: restore point ${restorePointId} ${stage === 'done' ? 'was' : 'is being'} purged`,
            details: [{ undoableUntil: input.undoableUntil }],
          });
        }
      },
    },
  );

  await op.audit('operation.started', 'info', { spec, requestedBy: input.requestedBy, restorePointId });
  let failedStep = 'preflight';
  try {
    await op.runStep('preflight', async (step) => {
      const checked = await buckets.checkRestorePointDeletable({ app, restorePointId });
      status.facts.cutAt = checked.cutAt;
      step.detail = `restore point ${restorePointId} (cut ${checked.cutAt}) may be deleted; undoable until ${input.undoableUntil}`;
    });

    failedStep = 'tombstone';
    await op.runStep('tombstone', async (step) => {
      const tombstone: Tombstone = {
        schema: TOMBSTONE_SCHEMA,
        restorePointId,
        operationId: status.operationId,
        deletedAt: new Date().toISOString(),
        undoableUntil: input.undoableUntil,
        by: input.requestedBy,
        reason: spec.reason,
      };
      const r = await buckets.writeTombstones({ app, tombstone });
      status.facts.tombstoned = r.written;
      if (r.unreachable.length) status.facts.tombstoneUnreachable = r.unreachable;
      step.detail =
        `tombstone written in ${r.written.join(', ')}` +
        (r.unreachable.length
          ? `; not in ${r.unreachable.map((u) => `${u.region} (${u.error})`).join(', ')}`
          : '');
    });
    await op.audit('restore-point.tombstoned', 'succeeded', {
      restorePointId,
      undoableUntil: input.undoableUntil,
      regions: status.facts.tombstoned,
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
  window.detail = `undoable until ${input.undoableUntil}`;
  op.publish();
  const asked = await condition(() => stage === 'undoing', Math.max(0, until - Date.now()));
  window.status = 'Completed';
  window.endedAt = new Date().toISOString();

  if (asked) {
    window.detail = `undo asked by ${undoneBy!.by} before ${input.undoableUntil}`;
    try {
      await op.runStep('undo', async (step) => {
        const r = await everywhere.removeTombstones({ app, restorePointId, operationId: status.operationId });
        step.detail = `tombstone removed in ${r.removed.join(', ') || 'no region (none was left)'}; ${restorePointId} is back`;
      });
    } catch (err) {
      status.error = toOperationError(err, 'undo');
      status.phase = 'CompensationFailed';
      stage = 'done';
      return op.end();
    }
    status.facts.undoneBy = undoneBy!.by;
    status.facts.undoReason = undoneBy!.reason;
    status.phase = 'Undone';
    stage = 'done';
    await op.audit(
      'restore-point.undeleted',
      'succeeded',
      { restorePointId, reason: undoneBy!.reason },
      undoneBy!.by,
    );
    undone = {
      operationId: status.operationId,
      restorePointId,
      undoneAt: op.step('undo').endedAt!,
      by: undoneBy!.by,
    };
    return op.end();
  }

  stage = 'purging';
  window.detail = `window ended at ${input.undoableUntil} without an undo`;
  status.phase = 'Running';
  try {
    await op.runStep('purge', async (step) => {
      const r = await everywhere.purgeDeletedRestorePoint({
        app,
        restorePointId,
        operationId: status.operationId,
      });
      status.facts.purged = r;
      step.detail = r.map((x) => `${x.region}: ${x.removed} object version(s) removed`).join('; ');
    });
  } catch (err) {
    status.error = toOperationError(err, 'purge');
    status.phase = 'Failed';
    stage = 'done';
    return op.end();
  }
  await op.audit('restore-point.purged', 'succeeded', { restorePointId, regions: status.facts.purged });
  status.phase = 'Completed';
  stage = 'done';
  return op.end();
}
