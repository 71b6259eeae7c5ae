import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { WITNESS, type SwitchyardConfig } from '../config/config.schema';
import type { ControlState, ControlStateStore } from '../storage/control-state.store';
import type { AppControllerInput } from '../../workflows/app-controller.workflow';
import {
  fenceRecorded,
  fenceWriteQuorum,
  leaseQuorumReachable,
  leaseReadQuorum,
  type ControlRequest,
  type ControlResult,
  type MirrorResult,
} from '../../workflows/control';
import {
  appControllerWorkflowId,
  applyControlChangeUpdate,
  coordinatorTaskQueue,
  readControlUpdate,
} from '../../workflows/definitions';

export type { ControlChange, ControlRequest, ControlResult } from '../../workflows/control';

/**
 * The app controller's activities (docs/fencing.md). Operation workflows change the control state
 * only through `applyControlChange`, which reaches the app's controller workflow with the Temporal
 * client (starting it on first use); the controller itself reads and mirrors the state in the
 * buckets through `readControlMirrors` and `mirrorControlState`.
 */
export interface ControlActivityDeps {
  config: SwitchyardConfig;
  /** The store the controller mirrors through (short per-region timeouts: a stopped bucket is reported, not waited for). */
  controlState: ControlStateStore;
  /** The worker's Temporal client. */
  temporal: () => Promise<Client>;
}

export const CONTROLLER_WORKFLOW_TYPE = 'appControllerWorkflow';

function regionsOf(config: SwitchyardConfig, app: string): string[] {
  const a = config.apps[app];
  if (!a) throw ApplicationFailure.nonRetryable(`unknown app "${app}"`, 'unknown-app');
  return a.regions.map((r) => r.name);
}

/** Starts the app's controller if it is not running (an already running one is used as is). */
export function controllerStart(
  config: SwitchyardConfig,
  app: string,
  extra: Partial<AppControllerInput> = {},
) {
  return new WithStartWorkflowOperation(CONTROLLER_WORKFLOW_TYPE, {
    workflowId: appControllerWorkflowId(app),
    taskQueue: coordinatorTaskQueue(config.temporal.taskQueuePrefix),
    args: [{ app, regions: regionsOf(config, app), ...extra } satisfies AppControllerInput],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

/** An update the controller refused (a rule of control.ts) is final; anything else is retried. */
function rethrow(err: unknown): never {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    throw ApplicationFailure.nonRetryable(err.cause.message, err.cause.type ?? 'control-change-refused');
  }
  throw err;
}

/**
 * How many attempts a fence gets to reach its quorum (the controller applies it once; every
 * retry mirrors it again, so a bucket that answers again completes it). After that the failure
 * is final, so that the operation compensates instead of retrying for as long as its policy lets it.
 */
export const FENCE_QUORUM_ATTEMPTS = 3;

/** The activity's attempt (1 outside an activity, e.g. when a test calls it directly). */
function activityAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

/**
 * Why a fence that the controller applied does not count (null when it does): fewer than
 * W = n - R + 1 buckets hold it, or fewer than R answered, so that no region could hold a write
 * lease after it (docs/fencing.md). The message names the unreachable buckets; with two regions
 * and no witness it says to add one. Retryable (type `fence-quorum-unreachable`) until attempt
 * FENCE_QUORUM_ATTEMPTS, then non-retryable.
 */
export function fenceQuorumFailure(
  region: string,
  result: ControlResult,
  context: { app: string; regions: number; witness: boolean; attempt: number },
): ApplicationFailure | null {
  const { mirrored } = result;
  if (fenceRecorded(mirrored) && leaseQuorumReachable(mirrored)) return null;
  const n = mirrored.length;
  const ok = mirrored.filter((m) => m.ok).length;
  const w = fenceWriteQuorum(n);
  const r = leaseReadQuorum(n);
  const unreachable = mirrored
    .filter((m) => !m.ok)
    .map((m) => `${m.region === WITNESS ? 'the witness' : `${m.region}'s bucket`} (${m.error ?? 'failed'})`)
    .join(', ');
  let message =
    ok < w
      ? `fence of ${region} (epoch ${result.state.epoch}) is recorded in ${ok} of ${n} buckets; it needs ${w} ` +
        `so that every write lease (a read of ${r}) sees it`
      : `fence of ${region} (epoch ${result.state.epoch}) is recorded in ${ok} of ${n} buckets, but with ${ok} ` +
        `answering no region can hold a write lease (it reads ${r}), so the failover could name no writer`;
  message += `; unreachable: ${unreachable}`;
  if (!context.witness && context.regions === 2) {
    message +=
      `. With two regions and no witness every quorum needs both regions' buckets: add ` +
      `apps.${context.app}.fencing.witness (a third bucket outside both regions) so that two of three suffice`;
  }
  if (context.attempt >= FENCE_QUORUM_ATTEMPTS) {
    return ApplicationFailure.nonRetryable(
      `${message} (gave up after ${context.attempt} attempts)`,
      'fence-quorum-unreachable',
    );
  }
  // The retry (same requestId) applies nothing again, it mirrors once more.
  return ApplicationFailure.retryable(message, 'fence-quorum-unreachable');
}

/** How long a mirror waits for the other buckets once a read quorum holds the state. */
export const MIRROR_GRACE_MS = 300;

export function createControlActivities(deps: ControlActivityDeps) {
  return {
    /** Applies one change through the app's controller; the same requestId is applied once. */
    async applyControlChange(input: ControlRequest): Promise<ControlResult> {
      regionsOf(deps.config, input.app);
      const client = await deps.temporal();
      const result = await client.workflow
        .executeUpdateWithStart(applyControlChangeUpdate, {
          args: [input],
          startWorkflowOperation: controllerStart(deps.config, input.app),
        })
        .catch(rethrow);
      const c = input.change;
      // An override's halt is a fence by hand: it must reach the same quorum.
      if (c.type === 'fence' || (c.type === 'override' && c.action === 'halt')) {
        const failure = fenceQuorumFailure(c.region, result, {
          app: input.app,
          regions: regionsOf(deps.config, input.app).length,
          witness: Boolean(deps.config.apps[input.app]!.fencing.witness),
          attempt: activityAttempt(),
        });
        if (failure) throw failure;
      }
      return result;
    },

    /** The controller's view of the state after every change accepted before it (starts it if needed). */
    async readControl(input: { app: string }): Promise<ControlState> {
      regionsOf(deps.config, input.app);
      const client = await deps.temporal();
      return client.workflow
        .executeUpdateWithStart(readControlUpdate, {
          args: [],
          startWorkflowOperation: controllerStart(deps.config, input.app),
        })
        .catch(rethrow);
    },

    /** The controller's first state: the newest copy in the buckets, or the configuration's. */
    async readControlMirrors(input: { app: string }): Promise<ControlState> {
      regionsOf(deps.config, input.app);
      return (await deps.controlState.read(input.app)).state;
    },

    /** Writes the state to every region's bucket; reports each region, never fails on one. */
    async mirrorControlState(input: { app: string; state: ControlState }): Promise<MirrorResult[]> {
      regionsOf(deps.config, input.app);
      // A read quorum holding the state is enough to answer: a stopped bucket costs the grace, not
      // its timeouts (docs/fencing.md).
      const quorum = leaseReadQuorum(deps.controlState.places(input.app).length);
      const results = await deps.controlState.write(input.app, input.state, {
        quorum,
        graceMs: MIRROR_GRACE_MS,
      });
      return results.map(({ region, ok, error }) => (ok ? { region, ok } : { region, ok, error }));
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
