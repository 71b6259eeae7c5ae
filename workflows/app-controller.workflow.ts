import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ControlActivities } from '../infra/activities/control.activities';
import type { ControlState } from '../infra/storage/control-state.store';
import {
  applyControlChange,
  checkControlRequest,
  ControlChangeError,
  type ControlResult,
  type ControlTransition,
} from './control';
import {
  applyControlChangeUpdate,
  controllerQuery,
  readControlUpdate,
  recordRegionTransitionUpdate,
  regionHealthQuery,
} from './definitions';
import { recordRegionTransition, regionTransitionProblem, type RegionHealthBook } from './region-health';

/**
 * An app's controller (docs/fencing.md): the one place its control state changes. Changes arrive
 * as updates and are applied one at a time in the order they were accepted; each is mirrored to
 * every region's bucket before the next starts, and each requestId is applied once, also across
 * continue-as-new. History stays bounded: the controller continues as new when Temporal suggests
 * it or after `maxHistoryEvents`, once no change is in flight.
 */
export interface AppControllerInput {
  app: string;
  /** The app's regions (from configuration): changes naming another region are refused. */
  regions: string[];
  /** Continue as new once the history holds this many events (default 2000; tests set it small). */
  maxHistoryEvents?: number;
  /** What the previous run handed over. */
  carried?: CarriedControl;
}

export interface CarriedControl {
  state: ControlState;
  transitions: ControlTransition[];
  applied: AppliedChange[];
  generation: number;
  /** Region health (workflows/region-health.ts); absent in runs from before it existed. */
  regionHealth?: RegionHealthBook;
}

interface AppliedChange {
  requestId: string;
  result: ControlResult;
}

export const DEFAULT_MAX_HISTORY_EVENTS = 2_000;
/** Transitions the query shows. */
export const RECENT_TRANSITIONS = 50;
/** requestIds remembered for deduplication (a retried activity comes back within minutes). */
export const REMEMBERED_REQUESTS = 200;

const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

export async function appControllerWorkflow(input: AppControllerInput): Promise<void> {
  const { app, regions } = input;
  const maxHistoryEvents = input.maxHistoryEvents ?? DEFAULT_MAX_HISTORY_EVENTS;
  let state: ControlState | undefined = input.carried?.state;
  const transitions: ControlTransition[] = [...(input.carried?.transitions ?? [])];
  const applied = new Map<string, ControlResult>(
    (input.carried?.applied ?? []).map((a) => [a.requestId, a.result]),
  );
  const generation = (input.carried?.generation ?? 0) + 1;
  let regionHealth: RegionHealthBook = input.carried?.regionHealth ?? {};

  // One change at a time, in the order the updates were accepted: each handler chains on the last.
  let tail: Promise<unknown> = state
    ? Promise.resolve()
    : control.readControlMirrors({ app }).then((s) => {
        state = s;
      });
  let inFlight = 0;
  function serial<T>(fn: (current: ControlState) => Promise<T>): Promise<T> {
    inFlight++;
    const run = tail.then(() => fn(state!));
    tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run.finally(() => inFlight--);
  }

  const mirror = (s: ControlState) => control.mirrorControlState({ app, state: s });

  setHandler(
    applyControlChangeUpdate,
    (req) =>
      serial(async (current) => {
        const prior = applied.get(req.requestId);
        if (prior) {
          // A retried request: nothing is applied again. If some bucket missed it, the newest
          // state (which includes this change's effect or a later one) is mirrored once more.
          if (prior.mirrored.some((m) => !m.ok)) prior.mirrored = await mirror(current);
          return prior;
        }
        let next: ControlState;
        try {
          next = applyControlChange(current, req.change, new Date().toISOString());
        } catch (err) {
          if (err instanceof ControlChangeError) throw ApplicationFailure.nonRetryable(err.message, err.code);
          throw err;
        }
        state = next;
        transitions.push({
          revision: next.revision ?? 0,
          requestId: req.requestId,
          change: req.change,
          at: next.updatedAt,
          epoch: next.epoch,
          activeRegion: next.activeRegion,
          writer: next.writer,
          halted: next.halted,
        });
        if (transitions.length > RECENT_TRANSITIONS)
          transitions.splice(0, transitions.length - RECENT_TRANSITIONS);
        const result: ControlResult = { state: next, mirrored: await mirror(next) };
        applied.set(req.requestId, result);
        if (applied.size > REMEMBERED_REQUESTS) applied.delete(applied.keys().next().value!);
        return result;
      }),
    {
      validator: (req) => {
        if (req.app !== app) {
          throw ApplicationFailure.nonRetryable(
            `this controller is app "${app}"'s, not "${req.app}"'s`,
            'invalid-change',
          );
        }
        try {
          checkControlRequest(req, regions);
        } catch (err) {
          if (err instanceof ControlChangeError) throw ApplicationFailure.nonRetryable(err.message, err.code);
          throw err;
        }
      },
    },
  );

  // A read that waits for every change accepted before it (and for the first load).
  setHandler(readControlUpdate, () => serial(async (current) => current));

  // Region health transitions from the API's quorum: independent of the control state (no wait for
  // its first read, no mirroring), applied in the order accepted.
  setHandler(
    recordRegionTransitionUpdate,
    (req) => {
      const out = recordRegionTransition(regionHealth, req.transition);
      regionHealth = out.book;
      return { recorded: out.recorded, state: regionHealth[req.transition.region]!.state };
    },
    {
      validator: (req) => {
        if (req.app !== app)
          throw ApplicationFailure.nonRetryable(
            `this controller is app "${app}"'s, not "${req.app}"'s`,
            'invalid-transition',
          );
        const problem = regionTransitionProblem(req.transition, regions);
        if (problem) throw ApplicationFailure.nonRetryable(problem, 'invalid-transition');
      },
    },
  );
  setHandler(regionHealthQuery, () => regionHealth);

  setHandler(controllerQuery, () => {
    if (!state) throw new Error(`the controller of app "${app}" is still reading its state from the buckets`);
    return { state, currentOperation: state.currentOperation ?? null, transitions, generation };
  });

  await condition(
    () =>
      state !== undefined &&
      inFlight === 0 &&
      allHandlersFinished() &&
      (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= maxHistoryEvents),
  );
  await continueAsNew<typeof appControllerWorkflow>({
    app,
    regions,
    maxHistoryEvents: input.maxHistoryEvents,
    carried: {
      state: state!,
      transitions,
      applied: [...applied].map(([requestId, result]) => ({ requestId, result })),
      generation,
      regionHealth,
    },
  });
}
