import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  proxyActivities,
} from '@temporalio/workflow';
import type { ControlActivities } from '../infra/activities/control.activities';
import type { ControlState } from '../infra/storage/control-state.store';
import type { ControlChange, ControlResult } from './control';
import { type ControlRefusal, CONTROL_REFUSALS } from './control-guards';

/**
 * How the soft operations on an app's control state (region-remove, control-override) reach its
 * controller: each change once (request id `<operation>:<key>`), and their changes made while they
 * hold the app (claim … release), so that no failover starts between their check and their change.
 * Deterministic: used inside workflows only.
 */

const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/** Undo and purge must reach the controller: Temporal or a bucket away for a while is waited for. */
const surely = proxyActivities<ControlActivities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** A refusal of the guard rails as a final failure: its code is the type, its details kept. */
export function refuse(r: ControlRefusal): never {
  throw ApplicationFailure.create({
    nonRetryable: true,
    type: r.code,
    message: r.message,
    details: r.details ? [r.details] : undefined,
  });
}

function failureType(err: unknown): string | undefined {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

export class ControlSession {
  constructor(
    readonly app: string,
    readonly operationId: string,
    /** Undo and purge: retried until the controller answers. */
    private readonly mustHappen = false,
  ) {}

  private get activities() {
    return this.mustHappen ? surely : control;
  }

  change(key: string, change: ControlChange): Promise<ControlResult> {
    return this.activities.applyControlChange({
      app: this.app,
      requestId: `${this.operationId}:${key}`,
      change,
    });
  }

  read(): Promise<ControlState> {
    return this.activities.readControl({ app: this.app });
  }

  /**
   * Runs `body` while this operation holds the app (the state passed is the claimed one).
   * Another operation holding it is `operation-in-progress`, naming it; nothing is changed.
   */
  async holding<T>(key: string, body: (state: ControlState) => Promise<T>): Promise<T> {
    let claimed: ControlResult;
    try {
      claimed = await this.change(`${key}:claim`, { type: 'claim', operationId: this.operationId });
    } catch (err) {
      if (failureType(err) !== 'operation-held') throw err;
      const holder = (await this.read()).currentOperation ?? 'another operation';
      refuse({
        code: CONTROL_REFUSALS.operationInProgress,
        status: 409,
        message: `operation ${holder} holds app "${this.app}": wait until it ends`,
        details: { operationId: holder },
      });
    }
    try {
      return await body(claimed.state);
    } finally {
      await CancellationScope.nonCancellable(() =>
        surely.applyControlChange({
          app: this.app,
          requestId: `${this.operationId}:${key}:release`,
          change: { type: 'release', operationId: this.operationId },
        }),
      );
    }
  }
}
