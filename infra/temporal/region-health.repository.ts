import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { SwitchyardConfig } from '../config/config.schema';
import { controllerStart } from '../activities/control.activities';
import {
  appControllerWorkflowId,
  recordRegionTransitionUpdate,
  regionHealthQuery,
} from '../../workflows/definitions';
import type {
  RecordRegionTransitionResult,
  RegionHealthBook,
  RegionHealthTransition,
} from '../../workflows/region-health';

/** The controller refused the transition (its validator): retrying cannot help. */
export class RegionTransitionRefusedError extends Error {
  override name = 'RegionTransitionRefusedError';
}

/**
 * Region health kept by each app's controller (workflows/region-health.ts): the API records every
 * region transition there and reads them back when it starts. Bounded by `timeoutMs` per call:
 * a Temporal or worker that does not answer is the caller's to retry.
 */
export class RegionHealthRepository {
  constructor(
    private readonly client: () => Promise<Client>,
    private readonly config: SwitchyardConfig,
    private readonly timeoutMs = 5_000,
  ) {}

  /** The app's region health, or null when the app has no controller yet. */
  async load(app: string): Promise<RegionHealthBook | null> {
    const client = await this.client();
    try {
      return await client.withDeadline(Date.now() + this.timeoutMs, () =>
        client.workflow.getHandle(appControllerWorkflowId(app)).query(regionHealthQuery),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  /** Records one transition with the app's controller, starting it if it is not running. */
  async record(app: string, transition: RegionHealthTransition): Promise<RecordRegionTransitionResult> {
    const client = await this.client();
    try {
      return await client.withDeadline(Date.now() + this.timeoutMs, () =>
        client.workflow.executeUpdateWithStart(recordRegionTransitionUpdate, {
          args: [{ app, transition }],
          startWorkflowOperation: controllerStart(this.config, app),
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError)
        throw new RegionTransitionRefusedError(err.cause?.message ?? err.message);
      throw err;
    }
  }
}
