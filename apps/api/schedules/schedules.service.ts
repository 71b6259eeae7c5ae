import { Inject, Injectable, Logger } from '@nestjs/common';
import { type SwitchyardConfig, softDeleteWindowSeconds } from '../../../infra/config/config.schema';
import { OperationsRepository } from '../../../infra/temporal/operations.repository';
import {
  defaultScheduleEverySeconds,
  InvalidScheduleTimingError,
  ScheduleDeletedError,
  ScheduleExistsError,
  ScheduleMissingError,
  SchedulesRepository,
  type ScheduleTiming,
  type ScheduleView,
} from '../../../infra/temporal/schedules.repository';
import { OPERATION_SLOT_OF } from '../../../workflows/definitions';
import { SUPPORTED_SCHEDULE_KINDS, type SupportedScheduleKind } from '../../../workflows/scheduled.workflow';
import { AppsService } from '../apps/apps.service';
import { ApiError, temporalUnavailable } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { deleteApproval } from '../operations/delete-approval';
import { OperationsService } from '../operations/operations.service';
import { CONFIG } from '../tokens';
import {
  type BackfillScheduleRequest,
  type CreateScheduleRequest,
  scheduleNameSchema,
  type UpdateScheduleRequest,
} from './schedules.dto';

/** The repository's refusals in the API's words; Temporal being down as 503. */
function toApiError(err: unknown): unknown {
  if (err instanceof ScheduleMissingError) {
    return ApiError.notFound('schedule-not-found', err.message, { app: err.app, name: err.scheduleName });
  }
  if (err instanceof ScheduleExistsError) {
    return ApiError.conflict('schedule-exists', err.message, { app: err.app, name: err.scheduleName });
  }
  if (err instanceof ScheduleDeletedError) {
    return ApiError.conflict('schedule-deleted', err.message, {
      app: err.app,
      name: err.scheduleName,
      operationId: err.tombstone.operationId,
      undoableUntil: err.tombstone.undoableUntil,
    });
  }
  if (err instanceof InvalidScheduleTimingError) {
    const issues = [{ path: 'body.cron', message: err.message }];
    return ApiError.badRequest('validation-failed', `body.cron: ${err.message}`, { issues });
  }
  return temporalUnavailable(err) ?? err;
}

async function answer<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw toApiError(err);
  }
}

/** How long a trigger waits for an operation that has finished but not yet closed its workflow. */
const CLOSING_WAIT_MS = 10_000;

@Injectable()
export class SchedulesService {
  private readonly log = new Logger('schedules');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly apps: AppsService,
    private readonly schedules: SchedulesRepository,
    private readonly operations: OperationsRepository,
    private readonly operationsService: OperationsService,
  ) {}

  /** 404 for an unknown app, and for a name no schedule can have. */
  private target(app: string, name: string): void {
    this.apps.appConfig(app);
    if (!scheduleNameSchema.safeParse(name).success) throw toApiError(new ScheduleMissingError(app, name));
  }

  /** 409 schedule-deleted for a soft-deleted schedule: only undo changes it. */
  private async live(app: string, name: string): Promise<ScheduleView> {
    const view = await this.get(app, name);
    if (view.deleted) throw toApiError(new ScheduleDeletedError(app, name, view.deleted));
    return view;
  }

  list(app: string, opts: { includeDeleted?: boolean } = {}): Promise<ScheduleView[]> {
    this.apps.appConfig(app);
    return answer(this.schedules.list(app, opts));
  }

  async get(app: string, name: string): Promise<ScheduleView> {
    this.target(app, name);
    const view = await answer(this.schedules.get(app, name));
    if (!view) throw toApiError(new ScheduleMissingError(app, name));
    return view;
  }

  async create(appName: string, req: CreateScheduleRequest, principal: Principal): Promise<ScheduleView> {
    const app = this.apps.appConfig(appName);
    const kind = supportedKind(req.kind);
    const timing: ScheduleTiming = req.cron
      ? { cron: req.cron }
      : {
          everySeconds: req.everySeconds ?? defaultScheduleEverySeconds(app, kind),
        };
    const name = req.name ?? kind;
    const view = await answer(
      this.schedules.create({
        app: appName,
        name,
        kind,
        timing,
        catchupWindowSeconds: app.restorePoints.schedule.catchupWindowSeconds,
        paused: req.paused,
        note: req.reason,
        createdBy: principal.name,
        ...(req.testRestore !== undefined ? { testRestore: req.testRestore } : {}),
      }),
    );
    this.log.log(
      `schedule ${name} of ${appName} (${kind}, ${describeTiming(timing)}) created by ${principal.name}`,
    );
    return view;
  }

  async update(app: string, name: string, req: UpdateScheduleRequest): Promise<ScheduleView> {
    await this.live(app, name);
    const timing: ScheduleTiming = req.cron ? { cron: req.cron } : { everySeconds: req.everySeconds! };
    return answer(this.schedules.update(app, name, timing));
  }

  async pause(app: string, name: string, reason: string): Promise<ScheduleView> {
    await this.live(app, name);
    return answer(this.schedules.pause(app, name, reason));
  }

  async unpause(app: string, name: string, reason: string): Promise<ScheduleView> {
    await this.live(app, name);
    return answer(this.schedules.unpause(app, name, reason));
  }

  /**
   * Runs the schedule now. Refused with 409 while an operation of its kind holds the app's slot:
   * the run would only record itself as skipped. (Between this check and the run another may
   * start; the run then records the skip.)
   */
  async trigger(app: string, name: string): Promise<{ app: string; name: string; triggeredAt: string }> {
    const schedule = await this.live(app, name);
    const kind = supportedKind(schedule.kind);
    const running = await answer(this.operations.runningOperationId(app, OPERATION_SLOT_OF[kind]));
    if (running && !(await this.operations.awaitClosingOperation(running, CLOSING_WAIT_MS))) {
      throw ApiError.conflict(
        'operation-in-progress',
        `a ${kind} operation is already running for app "${app}"`,
        {
          operationId: running,
        },
      );
    }
    const triggeredAt = new Date().toISOString();
    await answer(this.schedules.trigger(app, name));
    return { app, name, triggeredAt };
  }

  async backfill(app: string, name: string, req: BackfillScheduleRequest): Promise<ScheduleView> {
    await this.live(app, name);
    if (req.to.getTime() > Date.now()) {
      const message = 'must not be in the future: a backfill takes the runs that were missed';
      throw ApiError.badRequest('validation-failed', `body.to: ${message}`, {
        issues: [{ path: 'body.to', message }],
      });
    }
    await answer(this.schedules.backfill(app, name, req.from, req.to));
    return this.get(app, name);
  }

  /**
   * Soft-deletes a schedule (docs/soft-deletes.md): a `schedule-delete` operation pauses and
   * tombstones it at once and deletes it when the undo window ends. 409 schedule-already-deleted
   * when it is deleted already; the workflow checks again.
   */
  async softDelete(
    appName: string,
    name: string,
    reason: string,
    principal: Principal,
  ): Promise<{ operationId: string; undoableUntil: string; awaitingApproval: boolean }> {
    const app = this.apps.appConfig(appName);
    const view = await this.get(appName, name);
    if (view.deleted) {
      throw ApiError.conflict(
        'schedule-already-deleted',
        `schedule ${name} of app "${appName}" is already deleted (operation ${view.deleted.operationId}); undo that operation to bring it back`,
        { operationId: view.deleted.operationId },
      );
    }
    const windowSeconds = softDeleteWindowSeconds(app, 'schedule-delete');
    const undoableUntil = new Date(Date.now() + windowSeconds * 1000).toISOString();
    const approval = deleteApproval(app, 'schedule-delete');
    const started = await this.operationsService.startScheduleDelete({
      app: appName,
      spec: { scheduleName: name, reason, trigger: 'api' },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      undoableUntil,
      windowSeconds,
      ...(approval ? { approval } : {}),
    });
    this.log.log(
      `soft delete ${started.operationId} of schedule ${name} of ${appName} requested by ${principal.name}; ` +
        (approval ? `waits for approval (${approval.why})` : `undoable until ${undoableUntil}`),
    );
    return { ...started, awaitingApproval: approval !== undefined };
  }
}

/** 422 for a kind the API knows of but cannot schedule yet. */
function supportedKind(kind: string): SupportedScheduleKind {
  if ((SUPPORTED_SCHEDULE_KINDS as readonly string[]).includes(kind)) return kind as SupportedScheduleKind;
  throw ApiError.unprocessable(
    'unsupported-kind',
    `schedules of kind "${kind}" are not supported yet (supported: ${SUPPORTED_SCHEDULE_KINDS.join(', ')})`,
    { kind, supported: SUPPORTED_SCHEDULE_KINDS },
  );
}

function describeTiming(t: ScheduleTiming): string {
  return 'everySeconds' in t ? `every ${t.everySeconds}s` : `cron "${t.cron}"`;
}
