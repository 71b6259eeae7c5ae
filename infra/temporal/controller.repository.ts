import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { appControllerWorkflowId, controllerQuery, type ControllerView } from '../../workflows/definitions';

/**
 * Reads an app's controller (workflows/app-controller.workflow.ts) with its query: no history
 * event, no start. Bounded: when Temporal or the workers do not answer within `timeoutMs`, the
 * caller falls back to the buckets.
 */
export class ControllerRepository {
  constructor(
    private readonly client: () => Promise<Client>,
    private readonly timeoutMs = 2_000,
  ) {}

  /** The controller's view, or null when the app has no controller yet. Throws when Temporal does not answer. */
  async view(app: string): Promise<ControllerView | null> {
    const deadline = Date.now() + this.timeoutMs;
    const client = await within(this.client(), this.timeoutMs, 'connecting to Temporal');
    try {
      return await client.withDeadline(deadline, () =>
        client.workflow.getHandle(appControllerWorkflowId(app)).query(controllerQuery),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
