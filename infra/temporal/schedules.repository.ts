import type { AppConfig, SwitchyardConfig } from '../config/config.schema';
import {
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleDescription,
  type ScheduleHandle,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ScheduleSpec,
  WorkflowNotFoundError,
} from '@temporalio/client';
import {
  appScheduleId,
  coordinatorTaskQueue,
  parseOperationId,
  SCHEDULED_WORKFLOW_TYPE,
  searchAttributes,
  STATUS_MEMO_KEY,
} from '../../workflows/definitions';
import {
  isTerminal,
  type OperationError,
  type OperationPhase,
  type OperationStatus,
} from '../../workflows/operation';
import {
  SCHEDULED_RUN_MEMO_KEY,
  type ScheduledOperationInput,
  type ScheduledRunResult,
  type ScheduleKind,
  type SupportedScheduleKind,
} from '../../workflows/scheduled.workflow';
import type { ScheduleSnapshot, ScheduleTombstone } from '../../workflows/soft-delete';

/** When a schedule acts: every N seconds, or on a cron expression (UTC unless it says TZ=...). */
export type ScheduleTiming = { everySeconds: number } | { cron: string };

export interface NewSchedule {
  app: string;
  name: string;
  kind: SupportedScheduleKind;
  timing: ScheduleTiming;
  /** How late a missed run may still start after the scheduler was unavailable. */
  catchupWindowSeconds: number;
  paused: boolean;
  /** Why: kept as the schedule's note until a pause or unpause says another. */
  note: string;
  createdBy: string;
  /** Verification schedules: every run ends with a test restore (docs/drills.md). */
  testRestore?: boolean;
}

/** The operation one run of a schedule started, as far as it is known. */
export interface ScheduleRunView {
  scheduledAt: string;
  startedAt: string;
  /** The run's own workflow (see scheduledOperationWorkflow), for Temporal's tools. */
  workflowId: string;
  runId: string;
  /** Running while the run waits for its operation; Failed only if the run itself broke. */
  runStatus: string;
  operationId?: string;
  /** The operation's phase now (Running until it ends). */
  phase?: OperationPhase;
  error?: OperationError;
  /** The run started no operation: `reason` says why (another was in progress). */
  skipped?: boolean;
  reason?: string;
}

export interface ScheduleView {
  name: string;
  app: string;
  kind: ScheduleKind;
  scheduleId: string;
  everySeconds?: number;
  cron?: string;
  paused: boolean;
  /** Why it was created, paused or unpaused (the latest of these). */
  note: string;
  overlap: 'skip';
  catchupWindowSeconds: number;
  nextRunAt: string | null;
  /** Upcoming run times (at most 5). */
  nextRunsAt: string[];
  lastRunAt: string | null;
  lastResult: ScheduleRunView | null;
  createdAt: string;
  createdBy?: string;
  /** Verification schedules created with `testRestore`: each run ends with a test restore. */
  testRestore?: boolean;
  updatedAt: string | null;
  runs: { taken: number; skippedOverlap: number; missedCatchupWindow: number };
  /** Soft-deleted: paused, hidden from listings, purged at `undoableUntil` unless undone. */
  deleted?: ScheduleTombstone;
}

/**
 * Temporal refuses a schedule note over 1000 bytes ("Failed to patch schedule", found by the API
 * fuzzer with a 2000-character reason). A note is a label for people; the whole reason is in the
 * audit log and the operation, so a longer one is cut, at most 1000 bytes of UTF-8 with its ellipsis.
 */
export const SCHEDULE_NOTE_MAX_BYTES = 1000;

export function scheduleNote(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= SCHEDULE_NOTE_MAX_BYTES) return text;
  const chars = [...text];
  let bytes = Buffer.byteLength('…', 'utf8');
  let end = 0;
  while (end < chars.length && bytes + Buffer.byteLength(chars[end]!, 'utf8') <= SCHEDULE_NOTE_MAX_BYTES) {
    bytes += Buffer.byteLength(chars[end]!, 'utf8');
    end++;
  }
  return `${chars.slice(0, end).join('')}…`;
}

export class ScheduleExistsError extends Error {
  constructor(
    readonly app: string,
    readonly scheduleName: string,
  ) {
    super(`app "${app}" already has a schedule named "${scheduleName}"`);
    this.name = 'ScheduleExistsError';
  }
}

export class ScheduleMissingError extends Error {
  constructor(
    readonly app: string,
    readonly scheduleName: string,
  ) {
    super(`app "${app}" has no schedule named "${scheduleName}"`);
    this.name = 'ScheduleMissingError';
  }
}

/** The schedule is soft-deleted (by `tombstone.operationId`); only undo brings it back. */
export class ScheduleDeletedError extends Error {
  constructor(
    readonly app: string,
    readonly scheduleName: string,
    readonly tombstone: ScheduleTombstone,
  ) {
    super(
      `schedule ${scheduleName} of app "${app}" is deleted (operation ${tombstone.operationId}, undoable until ${tombstone.undoableUntil}); undo that operation to bring it back`,
    );
    this.name = 'ScheduleDeletedError';
  }
}

/** A purge found the schedule without this operation's tombstone: someone changed it; not deleted. */
export class ScheduleTombstoneMissingError extends Error {
  constructor(
    readonly app: string,
    readonly scheduleName: string,
    readonly operationId: string,
  ) {
    super(
      `schedule ${scheduleName} of app "${app}" has no tombstone of operation ${operationId}: not deleted`,
    );
    this.name = 'ScheduleTombstoneMissingError';
  }
}

/** Temporal refused the timing (e.g. a cron field out of range); nothing was created or changed. */
export class InvalidScheduleTimingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidScheduleTimingError';
  }
}

interface ScheduleMemo {
  app: string;
  name: string;
  kind: ScheduleKind;
  createdBy: string;
  testRestore?: boolean;
}

const iso = (d: Date | undefined) => (d ? d.toISOString() : null);

/**
 * An app's schedules as Temporal Schedules (id appScheduleId(app, name)). Each starts
 * scheduledOperationWorkflow, which runs the real operation in the app's slot; the schedule's
 * overlap policy is SKIP, so a run never starts while the previous one still waits for its operation.
 */
export class SchedulesRepository {
  constructor(
    private readonly client: () => Promise<Client>,
    private readonly taskQueuePrefix: string,
  ) {}

  async create(s: NewSchedule): Promise<ScheduleView> {
    const client = await this.client();
    const scheduleId = appScheduleId(s.app, s.name);
    const input: ScheduledOperationInput = {
      kind: s.kind,
      app: s.app,
      taskQueuePrefix: this.taskQueuePrefix,
      scheduleId,
      ...(s.testRestore !== undefined ? { testRestore: s.testRestore } : {}),
    };
    const memo: ScheduleMemo = {
      app: s.app,
      name: s.name,
      kind: s.kind,
      createdBy: s.createdBy,
      ...(s.testRestore !== undefined ? { testRestore: s.testRestore } : {}),
    };
    try {
      await client.schedule.create({
        scheduleId,
        spec: toSpec(s.timing),
        action: {
          type: 'startWorkflow',
          workflowType: SCHEDULED_WORKFLOW_TYPE,
          // Temporal appends the scheduled time to make each run's id unique.
          workflowId: `${scheduleId}.run`,
          taskQueue: coordinatorTaskQueue(this.taskQueuePrefix),
          args: [input],
        },
        policies: {
          overlap: ScheduleOverlapPolicy.SKIP,
          catchupWindow: s.catchupWindowSeconds * 1000,
        },
        memo: { ...memo },
        typedSearchAttributes: [
          { key: searchAttributes.app, value: s.app },
          { key: searchAttributes.kind, value: s.kind },
        ],
        state: { paused: s.paused, note: scheduleNote(s.note) },
      });
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) throw new ScheduleExistsError(s.app, s.name);
      throw timingError(err) ?? err;
    }
    return this.mustGet(s.app, s.name);
  }

  /** Null when the app has no schedule of that name. */
  async get(app: string, name: string): Promise<ScheduleView | null> {
    const client = await this.client();
    try {
      const d = await client.schedule.getHandle(appScheduleId(app, name)).describe();
      return await this.view(client, app, name, d);
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return null;
      throw err;
    }
  }

  /**
   * The app's schedules, by name; soft-deleted ones only with `includeDeleted`. Temporal's schedule list is eventually consistent (a schedule
   * appears there a moment after it is created); each one listed is then described afresh.
   */
  async list(app: string, opts: { includeDeleted?: boolean } = {}): Promise<ScheduleView[]> {
    const client = await this.client();
    const prefix = appScheduleId(app, '');
    const ids: string[] = [];
    for await (const s of client.schedule.list({ query: `${searchAttributes.app.name} = '${app}'` })) {
      if (s.scheduleId.startsWith(prefix)) ids.push(s.scheduleId);
    }
    const views = await Promise.all(ids.map((id) => this.get(app, id.slice(prefix.length))));
    return views
      .filter((v): v is ScheduleView => v !== null && (!v.deleted || opts.includeDeleted === true))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async update(app: string, name: string, timing: ScheduleTiming): Promise<ScheduleView> {
    await this.act(app, name, (h) =>
      h
        .update((prev) => ({ ...prev, spec: toSpec(timing) }))
        .catch((err: unknown) => {
          throw timingError(err) ?? err;
        }),
    );
    return this.mustGet(app, name);
  }

  async pause(app: string, name: string, note: string): Promise<ScheduleView> {
    await this.act(app, name, (h) => h.pause(scheduleNote(note)));
    return this.mustGet(app, name);
  }

  async unpause(app: string, name: string, note: string): Promise<ScheduleView> {
    await this.act(app, name, (h) => h.unpause(scheduleNote(note)));
    return this.mustGet(app, name);
  }

  /**
   * Runs the schedule's action now, paused or not. Overlap ALLOW_ALL: the run starts even while an
   * earlier one waits for its operation, and then records itself as skipped (the slot is taken),
   * so a trigger is never silently dropped.
   */
  async trigger(app: string, name: string): Promise<void> {
    await this.act(app, name, (h) => h.trigger(ScheduleOverlapPolicy.ALLOW_ALL));
  }

  /** Takes the actions the schedule would have taken in [from, to], now, under its overlap policy (SKIP). */
  async backfill(app: string, name: string, from: Date, to: Date): Promise<void> {
    await this.act(app, name, (h) =>
      h.backfill({ start: from, end: to, overlap: ScheduleOverlapPolicy.SKIP }),
    );
  }

  /** Deletes the schedule; a run in progress and its operation go on. */
  async delete(app: string, name: string): Promise<void> {
    await this.act(app, name, (h) => h.delete());
  }

  /**
   * What a soft delete needs to bring the schedule back exactly (its state, and all it takes to
   * recreate it), and its tombstone if it is soft-deleted already. Null when there is none.
   */
  async snapshot(
    app: string,
    name: string,
  ): Promise<{ snapshot: ScheduleSnapshot; deleted?: ScheduleTombstone } | null> {
    const client = await this.client();
    let d: ScheduleDescription;
    try {
      d = await client.schedule.getHandle(appScheduleId(app, name)).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return null;
      throw err;
    }
    const memo = (d.memo ?? {}) as Partial<ScheduleMemo>;
    const input = actionInput(d);
    const interval = d.spec.intervals?.[0];
    const cron = d.spec.calendars?.[0]?.comment;
    return {
      snapshot: {
        name,
        kind: (input?.kind ?? memo.kind ?? 'restore-point') as SupportedScheduleKind,
        timing: interval ? { everySeconds: Math.round(interval.every / 1000) } : { cron: cron ?? '' },
        catchupWindowSeconds: Math.round(d.policies.catchupWindow / 1000),
        paused: d.state.paused,
        note: d.state.note ?? '',
        createdBy: memo.createdBy ?? 'unknown',
      },
      ...(input?.deleted ? { deleted: input.deleted } : {}),
    };
  }

  /**
   * Soft-deletes the schedule: paused (no run starts) with a note saying why, and the tombstone
   * kept in its action's input (a run started anyway starts nothing). Idempotent for the same
   * operation; refused (ScheduleDeletedError) when another operation's tombstone is there.
   */
  async tombstone(app: string, name: string, tombstone: ScheduleTombstone): Promise<void> {
    await this.act(app, name, (h) =>
      h.update((prev) => {
        const input = actionInput(prev);
        if (input?.deleted && input.deleted.operationId !== tombstone.operationId) {
          throw new ScheduleDeletedError(app, name, input.deleted);
        }
        return {
          ...prev,
          action: { ...prev.action, args: [{ ...input, deleted: tombstone }] },
          state: {
            paused: true,
            note: scheduleNote(
              `deleted by ${tombstone.by} (operation ${tombstone.operationId}), undoable until ${tombstone.undoableUntil}: ${tombstone.reason}`,
            ),
          },
        };
      }),
    );
  }

  /**
   * Undoes a soft delete: the tombstone removed and the state (paused, note) as it was before; a
   * schedule that is gone is recreated from the snapshot. `restored: false` when the schedule now
   * carries another operation's tombstone (not ours to lift).
   */
  async untombstone(
    app: string,
    operationId: string,
    snapshot: ScheduleSnapshot,
  ): Promise<{ restored: boolean; recreated: boolean }> {
    const now = await this.snapshot(app, snapshot.name);
    if (!now) {
      await this.create({ app, ...snapshot });
      return { restored: true, recreated: true };
    }
    if (now.deleted && now.deleted.operationId !== operationId) return { restored: false, recreated: false };
    await this.act(app, snapshot.name, (h) =>
      h.update((prev) => {
        const { deleted: _lifted, ...input } = actionInput(prev) ?? ({} as ScheduledOperationInput);
        return {
          ...prev,
          action: { ...prev.action, args: [input] },
          state: { paused: snapshot.paused, note: scheduleNote(snapshot.note) },
        };
      }),
    );
    return { restored: true, recreated: false };
  }

  /**
   * Deletes a soft-deleted schedule for good. `gone` when it no longer exists; refused
   * (ScheduleTombstoneMissingError) when it does not carry this operation's tombstone.
   */
  async purgeDeleted(app: string, name: string, operationId: string): Promise<'deleted' | 'gone'> {
    const now = await this.snapshot(app, name);
    if (!now) return 'gone';
    if (now.deleted?.operationId !== operationId)
      throw new ScheduleTombstoneMissingError(app, name, operationId);
    try {
      await this.act(app, name, (h) => h.delete());
    } catch (err) {
      if (err instanceof ScheduleMissingError) return 'gone';
      throw err;
    }
    return 'deleted';
  }

  private async act(app: string, name: string, fn: (h: ScheduleHandle) => Promise<void>): Promise<void> {
    const client = await this.client();
    try {
      await fn(client.schedule.getHandle(appScheduleId(app, name)));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new ScheduleMissingError(app, name);
      throw err;
    }
  }

  private async mustGet(app: string, name: string): Promise<ScheduleView> {
    const v = await this.get(app, name);
    if (!v) throw new ScheduleMissingError(app, name);
    return v;
  }

  private async view(
    client: Client,
    app: string,
    name: string,
    d: ScheduleDescription,
  ): Promise<ScheduleView> {
    const memo = (d.memo ?? {}) as Partial<ScheduleMemo>;
    const kind = (d.typedSearchAttributes.get(searchAttributes.kind) ??
      memo.kind ??
      'restore-point') as ScheduleKind;
    const interval = d.spec.intervals?.[0];
    // Temporal compiles a cron expression into a calendar; the expression itself is kept as the
    // calendar's comment (see toSpec).
    const cron = d.spec.calendars?.[0]?.comment;
    const last = d.info.recentActions.at(-1);
    const deleted = actionInput(d)?.deleted;
    return {
      name,
      app,
      kind,
      scheduleId: d.scheduleId,
      ...(interval ? { everySeconds: Math.round(interval.every / 1000) } : {}),
      ...(!interval && cron ? { cron } : {}),
      paused: d.state.paused,
      note: d.state.note ?? '',
      overlap: 'skip',
      catchupWindowSeconds: Math.round(d.policies.catchupWindow / 1000),
      nextRunAt: d.state.paused ? null : iso(d.info.nextActionTimes[0]),
      nextRunsAt: d.state.paused ? [] : d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString()),
      lastRunAt: iso(last?.takenAt),
      lastResult: last ? await this.runView(client, last) : null,
      createdAt: d.info.createdAt.toISOString(),
      ...(memo.createdBy ? { createdBy: memo.createdBy } : {}),
      ...(memo.testRestore !== undefined ? { testRestore: memo.testRestore } : {}),
      updatedAt: iso(d.info.lastUpdatedAt),
      runs: {
        taken: d.info.numActionsTaken,
        skippedOverlap: d.info.numActionsSkippedOverlap,
        missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
      },
      ...(deleted ? { deleted } : {}),
    };
  }

  /** What a run did: its own memo names the operation; the operation's memo says where it stands. */
  private async runView(
    client: Client,
    action: ScheduleDescription['info']['recentActions'][number],
  ): Promise<ScheduleRunView> {
    const { workflowId, firstExecutionRunId: runId } = action.action.workflow;
    const view: ScheduleRunView = {
      scheduledAt: action.scheduledAt.toISOString(),
      startedAt: action.takenAt.toISOString(),
      workflowId,
      runId,
      runStatus: 'Unknown',
    };
    let result: ScheduledRunResult | undefined;
    try {
      const run = await client.workflow.getHandle(workflowId, runId).describe();
      view.runStatus = pascal(run.status.name);
      result = run.memo?.[SCHEDULED_RUN_MEMO_KEY] as ScheduledRunResult | undefined;
    } catch (err) {
      // Past the namespace's retention the run is gone; the schedule still says when it ran.
      if (err instanceof WorkflowNotFoundError) return view;
      throw err;
    }
    if (!result) return view;
    if ('skipped' in result) return { ...view, skipped: true, reason: result.reason };
    const out: ScheduleRunView = {
      ...view,
      operationId: result.operationId,
      phase: result.phase,
      ...(result.error ? { error: result.error } : {}),
    };
    if (isTerminal(result.phase)) return out;
    return { ...out, ...(await this.operationPhase(client, result.operationId)) };
  }

  /** The phase (and error) an operation's memo holds now; nothing when it cannot be read. */
  private async operationPhase(
    client: Client,
    operationId: string,
  ): Promise<Pick<ScheduleRunView, 'phase' | 'error'>> {
    const id = parseOperationId(operationId);
    if (!id) return {};
    for (const workflowId of id.workflowIds) {
      let d;
      try {
        d = await client.workflow.getHandle(workflowId, id.runId).describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) continue;
        throw err;
      }
      const status = d.memo?.[STATUS_MEMO_KEY] as Partial<OperationStatus> | undefined;
      const closed = d.status.name !== 'RUNNING';
      if (closed && (!status?.phase || !isTerminal(status.phase))) {
        // Terminated, cancelled or timed out before it could record an outcome.
        const what = d.status.name.toLowerCase().replace('_', ' ');
        return {
          phase: 'Failed',
          error: {
            code: `workflow-${what.replace(' ', '-')}`,
            message: `the operation's workflow was ${what}`,
          },
        };
      }
      return status?.phase ? { phase: status.phase, ...(status.error ? { error: status.error } : {}) } : {};
    }
    return {};
  }
}

/** The input the schedule starts its runs with (undefined for a schedule made by other tools). */
function actionInput(d: ScheduleDescription): ScheduledOperationInput | undefined {
  const args = (d.action as { args?: unknown[] }).args;
  return args?.[0] as ScheduledOperationInput | undefined;
}

/**
 * The cron expression is also given as its own comment (`<cron> # <cron>`): Temporal keeps only
 * the compiled calendar, and the comment is how the expression comes back in describe().
 */
function toSpec(timing: ScheduleTiming): ScheduleSpec {
  return 'everySeconds' in timing
    ? { intervals: [{ every: timing.everySeconds * 1000 }] }
    : { cronExpressions: [`${timing.cron} # ${timing.cron}`] };
}

/** The client turns Temporal's "Invalid schedule spec" refusal into a TypeError. */
function timingError(err: unknown): InvalidScheduleTimingError | undefined {
  return err instanceof TypeError && !(err instanceof InvalidScheduleTimingError)
    ? new InvalidScheduleTimingError(err.message)
    : undefined;
}

function pascal(s: string): string {
  return s
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

/**
 * Default interval of an app's restore point schedule: restorePoints.schedule.everySeconds, or
 * half the RPO so that one missed run still meets it; never under a minute.
 */
export function defaultEverySeconds(app: AppConfig): number {
  return app.restorePoints.schedule.everySeconds ?? Math.max(60, Math.floor(app.policies.rpoSeconds / 2));
}

/** A verification schedule created without a timing runs daily (restorePoints.verification.everySeconds). */
export const DEFAULT_VERIFICATION_EVERY_SECONDS = 86_400;

/** A drill schedule created without a timing runs weekly. */
export const DEFAULT_DRILL_EVERY_SECONDS = 7 * 86_400;

/** The interval of a schedule of `kind` created without a timing. */
export function defaultScheduleEverySeconds(app: AppConfig, kind: SupportedScheduleKind): number {
  if (kind === 'drill') return DEFAULT_DRILL_EVERY_SECONDS;
  return kind === 'verification'
    ? (app.restorePoints.verification.everySeconds ?? DEFAULT_VERIFICATION_EVERY_SECONDS)
    : defaultEverySeconds(app);
}

/**
 * Creates the schedules the configuration turns on and that do not exist yet: the `restore-point`
 * schedule (`restorePoints.schedule.enabled`) and the `verification` schedule
 * (`restorePoints.verification.enabled`). An existing schedule is left as it is: what operators
 * changed through the API (interval, pause) wins over the file.
 */
export async function ensureConfiguredSchedules(
  repo: SchedulesRepository,
  config: Pick<SwitchyardConfig, 'apps'>,
): Promise<{ app: string; kind: 'restore-point' | 'verification'; created: boolean }[]> {
  const out: { app: string; kind: 'restore-point' | 'verification'; created: boolean }[] = [];
  for (const [name, app] of Object.entries(config.apps)) {
    if (app.services.length === 0) continue;
    const wanted: { kind: 'restore-point' | 'verification'; setting: string; catchup: number }[] = [];
    if (app.restorePoints.schedule.enabled) {
      wanted.push({
        kind: 'restore-point',
        setting: 'restorePoints.schedule.enabled',
        catchup: app.restorePoints.schedule.catchupWindowSeconds,
      });
    }
    if (app.restorePoints.verification.enabled) {
      wanted.push({
        kind: 'verification',
        setting: 'restorePoints.verification.enabled',
        catchup: app.restorePoints.schedule.catchupWindowSeconds,
      });
    }
    for (const w of wanted) {
      if (await repo.get(name, w.kind)) {
        out.push({ app: name, kind: w.kind, created: false });
        continue;
      }
      try {
        await repo.create({
          app: name,
          name: w.kind,
          kind: w.kind,
          timing: { everySeconds: defaultScheduleEverySeconds(app, w.kind) },
          catchupWindowSeconds: w.catchup,
          paused: false,
          note: `created from configuration (${w.setting})`,
          createdBy: 'config',
        });
        out.push({ app: name, kind: w.kind, created: true });
      } catch (err) {
        // Another worker created it first.
        if (!(err instanceof ScheduleExistsError)) throw err;
        out.push({ app: name, kind: w.kind, created: false });
      }
    }
  }
  return out;
}
