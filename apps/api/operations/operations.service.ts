import { removedRegionRefusal } from '../../../workflows/control-guards';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { SwitchyardConfig } from '../../../infra/config/config.schema';
import {
  ApprovalRefusedError,
  CancelRefusedError,
  OperationConflictError,
  type OperationFilter,
  OperationsRepository,
  UndoRefusedError,
} from '../../../infra/temporal/operations.repository';
import {
  type OperationSlot,
  parseOperationId,
  type SlottedOperationKind,
} from '../../../workflows/definitions';
import type { AppConfig } from '../../../infra/config/config.schema';
import { buildCustomSteps } from '../../../infra/config/custom-steps';
import { buildDnsSwitchPlan } from '../../../infra/dns/dns-plan';
import type { ControlState } from '../../../infra/storage/control-state.store';
import { everyDnsRecordRemoved } from '../../../workflows/dns-record-soft';
import type { FailoverMode } from '../../../workflows/operation';
import type { FailbackInput } from '../../../workflows/failback.workflow';
import type { FailoverInput, FailoverPlan } from '../../../workflows/failover.workflow';
import type { OperationSpec, OperationStatus } from '../../../workflows/operation';
import { AppsService } from '../apps/apps.service';
import { ApiError, orUnavailable } from '../common/api-error';
import type { Principal } from '../common/auth.guard';
import { Metrics } from '../system/metrics';
import { CONFIG } from '../tokens';
import type { FailoverTrigger } from '../../../workflows/automatic-decision';
import { APPROVAL_REFUSALS } from '../../../workflows/approval';
import type { ApprovalDecisionRequest, FailbackRequest, FailoverRequest } from './failover.dto';

/** How long a request waits for an operation that has finished but not yet closed its workflow. */
const CLOSING_WAIT_MS = 10_000;

@Injectable()
export class OperationsService {
  private readonly log = new Logger('operations');

  constructor(
    @Inject(CONFIG) private readonly config: SwitchyardConfig,
    private readonly apps: AppsService,
    private readonly operations: OperationsRepository,
    private readonly metrics: Metrics,
  ) {}

  /** Checks everything that can be checked before anything starts; a refusal changes nothing. */
  async startFailover(
    appName: string,
    req: FailoverRequest & { trigger?: FailoverTrigger },
    principal: Principal,
  ): Promise<{ operationId: string }> {
    const app = this.apps.appConfig(appName);
    const target = app.regions.find((r) => r.name === req.to);
    if (!target) {
      throw ApiError.unprocessable('unknown-region', `app "${appName}" has no region "${req.to}"`, {
        regions: app.regions.map((r) => r.name),
      });
    }
    await this.ensureSlotFree(appName, 'operation');
    const control = await this.apps.readControlState(appName);
    if (control.state.activeRegion === req.to) {
      throw ApiError.conflict('already-active', `region "${req.to}" is already active for app "${appName}"`, {
        activeRegion: control.state.activeRegion,
        epoch: control.state.epoch,
      });
    }
    refuseWithoutDnsRecords(appName, app, control.state);
    if (control.state.halted.includes(req.to)) {
      throw ApiError.conflict(
        'region-halted',
        `region "${req.to}" of app "${appName}" is halted (fenced by an earlier failover): bring the app back with a failback`,
        { halted: control.state.halted, epoch: control.state.epoch },
      );
    }
    const removed = removedRegionRefusal(control.state, appName, req.to, 'a failover target');
    if (removed) throw new ApiError(removed.status, removed.code, removed.message, removed.details);
    const input: FailoverInput = {
      app: appName,
      spec: req,
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      plan: failoverPlan(app, control.state.activeRegion, target, req.mode, app.policies.approvals.failover),
    };
    const operationId = await this.start('failover', appName, req, principal, input);
    this.log.log(
      `failover ${operationId} of ${appName} to ${req.to} (${req.mode}) requested by ${principal.name}`,
    );
    return { operationId };
  }

  /**
   * A failback to the app's halted region (or the one named): 409 nothing-to-fail-back when no
   * region is halted, 422 when the named region is unknown or not halted.
   */
  async startFailback(
    appName: string,
    req: FailbackRequest,
    principal: Principal,
  ): Promise<{ operationId: string; to: string }> {
    const app = this.apps.appConfig(appName);
    await this.ensureSlotFree(appName, 'operation');
    const control = await this.apps.readControlState(appName);
    const { halted } = control.state;
    const candidates = halted.filter((r) => r !== control.state.activeRegion);
    if (req.to !== undefined && !app.regions.some((r) => r.name === req.to)) {
      throw ApiError.unprocessable('unknown-region', `app "${appName}" has no region "${req.to}"`, {
        regions: app.regions.map((r) => r.name),
      });
    }
    if (candidates.length === 0) {
      throw ApiError.conflict(
        'nothing-to-fail-back',
        `app "${appName}" has no halted region to fail back to: it runs in ${control.state.activeRegion} and no failover has fenced another region`,
        { activeRegion: control.state.activeRegion, halted },
      );
    }
    if (req.to !== undefined && !candidates.includes(req.to)) {
      throw ApiError.unprocessable(
        'not-halted',
        `region "${req.to}" of app "${appName}" is not halted: a failback returns to a halted region (${candidates.join(', ')})`,
        { halted: candidates },
      );
    }
    if (req.to === undefined && candidates.length > 1) {
      throw ApiError.unprocessable(
        'region-required',
        `app "${appName}" has several halted regions (${candidates.join(', ')}): name one with "to"`,
        { halted: candidates },
      );
    }
    refuseWithoutDnsRecords(appName, app, control.state);
    const to = req.to ?? candidates[0]!;
    const removed = removedRegionRefusal(control.state, appName, to, 'a failback target');
    if (removed) throw new ApiError(removed.status, removed.code, removed.message, removed.details);
    const target = app.regions.find((r) => r.name === to)!;
    const input: FailbackInput = {
      app: appName,
      spec: { to, reason: req.reason },
      requestedBy: principal.name,
      taskQueuePrefix: this.config.temporal.taskQueuePrefix,
      plan: failoverPlan(
        app,
        control.state.activeRegion,
        target,
        'failback',
        app.policies.approvals.failback ?? app.policies.approvals.failover,
      ),
    };
    const operationId = await this.start('failback', appName, input.spec, principal, input);
    this.log.log(`failback ${operationId} of ${appName} to ${to} requested by ${principal.name}`);
    return { operationId, to };
  }

  /**
   * Cancels a failover or failback before its commit (the workflow's validator decides): 409
   * already-committed naming the commit time, operation-ended naming the end, not-cancellable.
   */
  async cancel(id: string, body: { reason: string }, principal: Principal, requestId?: string) {
    this.served(id);
    try {
      const result = await orUnavailable(
        this.operations.cancel(id, { by: principal.name, reason: body.reason, requestId }),
      );
      if (!result) throw ApiError.notFound('operation-not-found', `no operation with id "${id}"`);
      this.log.log(`operation ${id} cancelled by ${principal.name}`);
      return result;
    } catch (err) {
      if (err instanceof CancelRefusedError) throw ApiError.conflict(err.code, err.message, err.details);
      throw err;
    }
  }

  /** 409 when the slot holds an operation still at work (one that has just ended is waited for). */
  async ensureSlotFree(app: string, slot: OperationSlot): Promise<void> {
    const running = await orUnavailable(this.operations.runningOperationId(app, slot));
    if (running && !(await this.operations.awaitClosingOperation(running, CLOSING_WAIT_MS))) {
      throw ApiError.conflict(
        'operation-in-progress',
        slot === 'operation'
          ? `an operation is already running for app "${app}"`
          : `a ${slot} operation is already running for app "${app}"`,
        { operationId: running },
      );
    }
  }

  /** The operation at work in one of the app's slots, with its status; undefined when none. */
  async activeOperation(app: string, slot: OperationSlot): Promise<OperationStatus | undefined> {
    const id = await orUnavailable(this.operations.activeOperationId(app, slot));
    return id ? ((await orUnavailable(this.operations.get(id))) ?? undefined) : undefined;
  }

  /** Starts a soft delete of a restore point (no slot: its own workflow id). */
  async startRestorePointDelete(input: Parameters<OperationsRepository['startRestorePointDelete']>[0]) {
    const started = await orUnavailable(this.operations.startRestorePointDelete(input));
    this.metrics.operationsStarted.inc({ kind: 'restore-point-delete', app: input.app });
    return started;
  }

  /** Starts a soft delete of a schedule (no slot: its own workflow id). */
  async startScheduleDelete(input: Parameters<OperationsRepository['startScheduleDelete']>[0]) {
    const started = await orUnavailable(this.operations.startScheduleDelete(input));
    this.metrics.operationsStarted.inc({ kind: 'schedule-delete', app: input.app });
    return started;
  }

  /** Starts the removal of one of an app's DNS records (no slot: its own workflow id). */
  async startDnsRecordDelete(input: Parameters<OperationsRepository['startDnsRecordDelete']>[0]) {
    const started = await orUnavailable(this.operations.startDnsRecordDelete(input));
    this.metrics.operationsStarted.inc({ kind: 'dns-record-delete', app: input.app });
    return started;
  }

  /** Starts an override of one of an app's DNS records (no slot: its own workflow id). */
  async startDnsOverride(input: Parameters<OperationsRepository['startDnsOverride']>[0]) {
    const started = await orUnavailable(this.operations.startDnsOverride(input));
    this.metrics.operationsStarted.inc({ kind: 'dns-override', app: input.app });
    return started;
  }

  /** Starts an operation in its slot; Temporal refuses a second one (409), whatever raced us. */
  async start(
    kind: SlottedOperationKind,
    app: string,
    spec: OperationSpec,
    principal: Principal,
    input: unknown,
  ): Promise<string> {
    try {
      const operationId = await orUnavailable(this.operations.start(kind, app, spec, principal.name, input));
      this.metrics.operationsStarted.inc({ kind, app });
      return operationId;
    } catch (err) {
      if (err instanceof OperationConflictError) {
        throw ApiError.conflict('operation-in-progress', err.message, {
          operationId: err.runningOperationId,
        });
      }
      throw err;
    }
  }

  async get(id: string): Promise<OperationStatus> {
    this.served(id);
    const op = await orUnavailable(this.operations.get(id));
    if (!op) throw ApiError.notFound('operation-not-found', `no operation with id "${id}"`);
    return op;
  }

  /** An approver's decision; the identity is the authenticated principal, never the body. */
  async decideApproval(id: string, body: ApprovalDecisionRequest, principal: Principal, requestId?: string) {
    this.served(id);
    try {
      const approval = await orUnavailable(
        this.operations.decideApproval(id, {
          principal: { name: principal.name, roles: principal.roles },
          credential: principal.credential,
          decision: body.decision,
          comment: body.comment,
          requestId,
          ...(body.round !== undefined ? { round: body.round } : {}),
        }),
      );
      if (!approval) throw ApiError.notFound('operation-not-found', `no operation with id "${id}"`);
      return { operationId: id, approval };
    } catch (err) {
      if (err instanceof ApprovalRefusedError) {
        const forbidden =
          err.code === APPROVAL_REFUSALS.selfApproval || err.code === APPROVAL_REFUSALS.notEligible;
        throw new ApiError(forbidden ? 403 : 409, err.code, err.message);
      }
      throw err;
    }
  }

  /**
   * Undoes a soft delete before its window ends (the workflow's validator decides): 409
   * undo-window-closed naming when it closed, already-undone, not-undoable.
   */
  async undo(id: string, body: { reason: string }, principal: Principal, requestId?: string) {
    this.served(id);
    try {
      const result = await orUnavailable(
        this.operations.undo(id, { by: principal.name, reason: body.reason, requestId }),
      );
      if (!result) throw ApiError.notFound('operation-not-found', `no operation with id "${id}"`);
      this.log.log(`operation ${id} undone by ${principal.name}`);
      return result;
    } catch (err) {
      if (err instanceof UndoRefusedError) throw ApiError.conflict(err.code, err.message, err.details);
      throw err;
    }
  }

  async pendingApprovals(app?: string) {
    return this.list({ app, phase: 'AwaitingApproval' });
  }

  list(filter: OperationFilter) {
    if (filter.app) this.apps.appConfig(filter.app);
    return orUnavailable(this.operations.list({ ...filter, apps: Object.keys(this.config.apps) }));
  }

  /**
   * Other deployments may share the Temporal namespace: an operation of an app this API does not
   * serve is not found here, so it can be neither read nor decided, undone or cancelled.
   */
  private served(id: string): void {
    const parsed = parseOperationId(id);
    if (!parsed || !Object.hasOwn(this.config.apps, parsed.app)) {
      throw ApiError.notFound('operation-not-found', `no operation with id "${id}"`);
    }
  }
}

/**
 * 409 dns-records-removed when every DNS record of the app is removed (dns-record-delete): a
 * failover would have nothing to move. Names the operations to undo.
 */
function refuseWithoutDnsRecords(
  appName: string,
  app: AppConfig,
  state: Pick<ControlState, 'tombstones'>,
): void {
  const removed = everyDnsRecordRemoved(
    app.dns.records.map((r) => r.name),
    state,
  );
  if (removed.length === 0) return;
  throw ApiError.conflict(
    'dns-records-removed',
    `every DNS record of app "${appName}" is removed (${removed.map((r) => `${r.name} by operation ${r.operationId}`).join(', ')}): a failover would move nothing; undo one of those operations first`,
    { removed },
  );
}

/** The facts of a failover's plan, taken from configuration when it starts (kept in history). */
export function failoverPlan(
  app: AppConfig,
  from: string,
  target: AppConfig['regions'][number],
  mode: FailoverMode,
  approval: AppConfig['policies']['approvals']['failover'],
): FailoverPlan {
  return {
    dns: buildDnsSwitchPlan(app, from, target.name),
    custom: buildCustomSteps(app, mode),
    writeLeaseMs: Math.round(app.fencing.writeLeaseSeconds * 1000),
    targetAddress: target.dns.target,
    ttl: app.dns.ttl,
    waitForTtl: app.dns.waitForTtl,
    verifyTimeoutSeconds: app.verify.timeoutSeconds,
    approval,
    services: app.services.map((s) => s.name),
    rpoSeconds: app.policies.rpoSeconds,
    fenceHookTimeoutSeconds: 10,
  };
}
