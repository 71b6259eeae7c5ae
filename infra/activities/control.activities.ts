import { ApplicationFailure } from '@temporalio/common';
import { type Client, WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import type { SwitchyardConfig } from '../config/config.schema';
import type { ControlState, ControlStateStore } from '../storage/control-state.store';
import type { AppControllerInput } from '../../workflows/app-controller.workflow';
import {
  fenceRecorded,
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
      if (c.type === 'fence' && !fenceRecorded(result.mirrored)) {
        const missed = result.mirrored.filter((m) => !m.ok);
        // Retryable: the retry (same requestId) applies nothing again, it mirrors once more.
        throw new Error(
          `fence of ${c.region} (epoch ${result.state.epoch}) is recorded in ${result.mirrored.length - missed.length} ` +
            `of ${result.mirrored.length} region buckets; it needs a majority ` +
            `(unreachable: ${missed.map((m) => `${m.region}: ${m.error ?? 'failed'}`).join('; ')})`,
        );
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
      const results = await deps.controlState.write(input.app, input.state);
      return results.map(({ region, ok, error }) => (ok ? { region, ok } : { region, ok, error }));
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
