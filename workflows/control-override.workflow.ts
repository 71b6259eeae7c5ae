import { proxyActivities, sleep } from '@temporalio/workflow';
import type { RegionActivities } from '../infra/activities/failover.activities';
import type { ControlState } from '../infra/storage/control-state.store';
import {
  type ControlSnapshot,
  describeSnapshot,
  overrideRefusal,
  overrideUndoRefusal,
  snapshotOf,
} from './control-guards';
import { ControlSession, refuse } from './control-hold';
import type { ControlOverrideSpec, OperationStatus } from './operation';
import type { SoftDeleteApproval } from './soft-delete';
import { regionTaskQueue } from './definitions';
import { toOperationError } from './operation-runtime';
import { runSoftDelete, softDeleteStatus } from './soft-delete-flow';

/**
 * An operator's override of an app's control state (docs/fencing.md#overrides), on the soft-delete
 * steps: applied at once through the controller (step `override`), undoable until the window
 * ends, when the saved previous state is dropped (the purge). The undo puts the previous
 * activeRegion, writer and halted regions back only while the state still is what the override
 * set; otherwise it is refused (`control-state-changed`, both shown) and nothing changes. Both are
 * made while the operation holds the app (claim … release). Whenever the writer moves from one
 * region to another, no region is the writer for the write lease first, so two never overlap.
 */
export interface ControlOverrideInput {
  app: string;
  operationId: string;
  spec: ControlOverrideSpec;
  requestedBy: string;
  taskQueuePrefix: string;
  undoableUntil: string;
  windowSeconds?: number;
  approval?: SoftDeleteApproval;
  regions: string[];
  /** apps.<app>.fencing.writeLeaseSeconds in ms: how long an old writer may still take writes. */
  writeLeaseMs: number;
}

export async function controlOverrideWorkflow(input: ControlOverrideInput): Promise<OperationStatus> {
  const { app, spec } = input;
  const { action, region } = spec;
  const start = { ...input, kind: 'control-override' as const };
  const status = softDeleteStatus(start, { action, region });
  const control = new ControlSession(app, status.operationId);
  const surely = new ControlSession(app, status.operationId, true);
  let previous: ControlSnapshot | undefined;
  let set: ControlSnapshot | undefined;
  let undoAttempt = 0;

  /** Writes stop in `from` (no writer) and its instances' leases run out before `to` may write. */
  async function handOver(session: ControlSession, key: string, state: ControlState, to: string | null) {
    const from = state.writer ?? null;
    if (from === null || to === null || from === to) return '';
    await session.change(`${key}:quiesce`, {
      type: 'quiesce',
      region: from,
      operationId: status.operationId,
    });
    await sleep(input.writeLeaseMs);
    return `no writer for the write lease (${input.writeLeaseMs} ms) before ${to}; `;
  }

  /**
   * The region's fence (or unfence) hook, best effort on its own task queue: its instances stop
   * (or resume) at once; a region whose workers or hook cannot be reached is stopped by the lease.
   */
  async function hook(to: string, action: 'fence' | 'unfence', epoch: number): Promise<string> {
    const region = proxyActivities<RegionActivities>({
      taskQueue: regionTaskQueue(input.taskQueuePrefix, to),
      scheduleToCloseTimeout: '15s',
      startToCloseTimeout: '10s',
      retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s' },
    });
    try {
      const r = await region.callFenceHook({
        app,
        region: to,
        action,
        epoch,
        operationId: status.operationId,
      });
      return r.detail;
    } catch (err) {
      return `${action} hook of ${to} not reached (${toOperationError(err).message}): the write lease stops its instances`;
    }
  }

  return runSoftDelete(start, status, {
    noun: 'control',
    events: {
      tombstoned: 'control.overridden',
      undone: 'control.override-undone',
      purged: 'control.override-purged',
    },
    tombstoneStep: 'override',
    what: `override ${action} ${region} of ${app}`,
    names: { region, action },
    deleting: [`control state of ${app}: ${action} ${region}`],
    undoRefusals: ['control-state-changed', 'operation-in-progress'],

    async preflight(step) {
      const state = await control.read();
      const refusal = overrideRefusal(state, app, action, region, input.regions, status.operationId);
      if (refusal) refuse(refusal);
      status.facts.before = { ...snapshotOf(state), epoch: state.epoch };
      step.detail = `${action} ${region} may be applied to ${describeSnapshot(snapshotOf(state))} (epoch ${state.epoch})`;
    },

    async tombstone(step) {
      const done = await control.holding('override', async (state) => {
        const refusal = overrideRefusal(state, app, action, region, input.regions, status.operationId);
        if (refusal) refuse(refusal);
        previous = snapshotOf(state);
        status.facts.previous = { ...previous, epoch: state.epoch };
        const handed = action === 'set-active' ? await handOver(control, 'override', state, region) : '';
        const r = await control.change('override', {
          type: 'override',
          action,
          region,
          operationId: status.operationId,
        });
        set = snapshotOf(r.state);
        status.facts.set = { ...set, epoch: r.state.epoch };
        const missed = r.mirrored.filter((m) => !m.ok).map((m) => m.region);
        step.detail =
          `${handed}${action} ${region}: ${describeSnapshot(set)} (epoch ${r.state.epoch}), ` +
          `was ${describeSnapshot(previous)} (epoch ${state.epoch})` +
          (missed.length ? `; not mirrored to ${missed.join(', ')}` : '');
        return { previous: status.facts.previous, set: status.facts.set, epoch: r.state.epoch };
      });
      if (action === 'halt') {
        const hooked = await hook(region, 'fence', done.epoch);
        step.detail = `${step.detail ?? ''}; ${hooked}`;
        return { ...done, hook: hooked };
      }
      return done;
    },

    async undo(step) {
      const n = ++undoAttempt;
      // Who changed the state last, before this operation's own claim does.
      const seen = await surely.read();
      const back = await surely.holding(`undo-${n}`, async (state) => {
        const refusal = overrideUndoRefusal(app, status.operationId, set!, state, seen.operationId ?? null);
        if (refusal) refuse(refusal);
        const handed = await handOver(surely, `undo-${n}`, state, previous!.writer);
        const r = await surely.change(`undo-${n}:restore`, {
          type: 'restore',
          previous: { ...state, ...previous! },
          operationId: status.operationId,
        });
        step.detail = `${handed}back to ${describeSnapshot(snapshotOf(r.state))} (epoch ${r.state.epoch})`;
        return r.state;
      });
      // The halt's hook fence lifted, once the region is no longer halted.
      if (action === 'halt' && !back.halted.includes(region)) {
        step.detail = `${step.detail ?? ''}; ${await hook(region, 'unfence', back.epoch)}`;
      }
    },

    async purge(step) {
      delete status.facts.previous;
      step.detail = `the override stays: the state before it (${describeSnapshot(previous!)}) is no longer kept`;
      return { kept: status.facts.set };
    },
  });
}
