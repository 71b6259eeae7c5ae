import {
  type Client,
  type WorkflowExecutionDescription,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { APPROVAL_REFUSALS, type ApprovalState, type DecisionRequest } from '../../workflows/approval';
import {
  appOwnOperationWorkflowId,
  appSlotWorkflowId,
  type CancelRequest,
  type CancelResult,
  cancelUpdate,
  coordinatorTaskQueue,
  decideApprovalUpdate,
  isSoftDeleteKind,
  OPERATION_SLOT_OF,
  type OperationSlot,
  operationIdOf,
  operationSearchAttributes,
  parseOperationId,
  searchAttributes,
  type SlottedOperationKind,
  type SoftDeleteKind,
  STATUS_MEMO_KEY,
  undoUpdate,
  WORKFLOW_TYPES,
} from '../../workflows/definitions';
import {
  type RestorePointDeleteInput,
  type ScheduleDeleteInput,
  UNDO_REFUSALS,
  type UndoRequest,
  type UndoResult,
} from '../../workflows/soft-delete';
import { executeUpdateWithin, UpdateNotTakenError } from './update-deadline';
import type { DnsOverrideInput, DnsRecordDeleteInput } from '../../workflows/dns-record-soft';
import type { FailoverInput } from '../../workflows/failover.workflow';
import type { ControlOverrideInput } from '../../workflows/control-override.workflow';
import type { RegionRemoveInput } from '../../workflows/region-remove.workflow';
import {
  initialOperationStatus,
  isTerminal,
  type OperationKind,
  type OperationPhase,
  type OperationSpec,
  type OperationStatus,
} from '../../workflows/operation';

/** Another operation holds the app's slot. */
export class OperationConflictError extends Error {
  constructor(
    readonly app: string,
    readonly runningOperationId: string | undefined,
  ) {
    super(
      `an operation is already running for app "${app}"` +
        (runningOperationId ? ` (${runningOperationId})` : ''),
    );
    this.name = 'OperationConflictError';
  }
}

/** The workflow refused an approval decision; `code` is one of APPROVAL_REFUSALS. */
export class ApprovalRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApprovalRefusedError';
  }
}

/** The workflow refused an undo; `code` is one of UNDO_REFUSALS. */
export class UndoRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'UndoRefusedError';
  }
}

/** The workflow refused a cancel (or the operation cannot be cancelled); `code` says why. */
export class CancelRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CancelRefusedError';
  }
}

const CANCELLABLE_KINDS: readonly OperationKind[] = ['failover', 'failback'];

/** What the end of each soft kind's window did, for an undo that comes too late. */
const PURGED: Partial<Record<OperationKind, string>> = {
  'restore-point-delete': 'the restore point was purged',
  'schedule-delete': 'the schedule was purged',
  'region-remove': 'the region was removed for good',
  'control-override': 'the override stays (the state before it is no longer kept)',
  'dns-record-delete': 'the removal of the DNS record is final',
  'dns-override': 'the override stays (the record sets before it are no longer kept)',
};

/** The operation id of a workflow execution: `<app>-<uuid>` of its own workflow id, else of its run id. */
export function operationIdOfExecution(app: string, workflowId: string, runId: string): string {
  const own = appOwnOperationWorkflowId(app, '');
  return workflowId.startsWith(own)
    ? operationIdOf(app, workflowId.slice(own.length))
    : operationIdOf(app, runId);
}

export interface OperationSummary {
  operationId: string;
  kind: OperationKind;
  app: string;
  phase: OperationPhase;
  startedAt: string;
  endedAt?: string;
  requestedBy?: string;
  spec?: OperationStatus['spec'];
  approval?: ApprovalState;
  /** A soft delete: when its window ends (the purge). */
  undoableUntil?: string;
}

export interface OperationFilter {
  app?: string;
  /** Only operations of these apps (those the asking API serves). */
  apps?: readonly string[];
  kind?: OperationKind;
  phase?: OperationPhase;
  limit?: number;
}

const TEMPORAL_CLOSED_WITHOUT_STATUS = new Set(['TERMINATED', 'TIMED_OUT', 'CANCELLED']);

/**
 * Operations as Temporal holds them. Reads use the workflow's memo (updated at every step
 * transition), so an operation can be inspected even while no worker is running.
 */
export class OperationsRepository {
  constructor(
    private readonly client: () => Promise<Client>,
    private readonly taskQueuePrefix: string,
  ) {}

  startFailover(input: FailoverInput): Promise<string> {
    return this.start('failover', input.app, input.spec, input.requestedBy, input);
  }

  /**
   * Starts an operation's workflow in its slot (OPERATION_SLOT_OF). The memo holds the initial
   * status, so the operation can be read at once, before any worker has run it.
   */
  async start(
    kind: SlottedOperationKind,
    app: string,
    spec: OperationSpec,
    requestedBy: string,
    input: unknown,
  ): Promise<string> {
    const client = await this.client();
    const initial = initialOperationStatus(kind, app, spec, requestedBy, new Date().toISOString());
    const slot = OPERATION_SLOT_OF[kind];
    try {
      const handle = await client.workflow.start(WORKFLOW_TYPES[kind], {
        taskQueue: coordinatorTaskQueue(this.taskQueuePrefix),
        workflowId: appSlotWorkflowId(app, slot),
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        args: [input],
        memo: { [STATUS_MEMO_KEY]: initial },
        typedSearchAttributes: operationSearchAttributes(app, kind),
      });
      return operationIdOf(app, handle.firstExecutionRunId);
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new OperationConflictError(app, await this.runningOperationId(app, slot));
      }
      throw err;
    }
  }

  /**
   * Starts a soft delete under a workflow id of its own (`switchyard.app.<app>.op.<uuid>`): it holds
   * no slot, and many may be open at once. The operation id is `<app>-<uuid>`.
   */
  startRestorePointDelete(
    input: Omit<RestorePointDeleteInput, 'operationId'>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    return this.startSoftDelete('restore-point-delete', input, { restorePointId: input.spec.restorePointId });
  }

  /** Starts a schedule's soft delete (see startRestorePointDelete). */
  startScheduleDelete(
    input: Omit<ScheduleDeleteInput, 'operationId'>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    return this.startSoftDelete('schedule-delete', input, { scheduleName: input.spec.scheduleName });
  }

  /** Starts the removal of one of an app's DNS records (see startRestorePointDelete). */
  startDnsRecordDelete(
    input: Omit<DnsRecordDeleteInput, 'operationId'>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    return this.startSoftDelete('dns-record-delete', input, { recordName: input.spec.recordName });
  }

  /** Starts an override of one of an app's DNS records (see startRestorePointDelete). */
  startDnsOverride(
    input: Omit<DnsOverrideInput, 'operationId'>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    return this.startSoftDelete('dns-override', input, {
      recordName: input.spec.recordName,
      region: input.spec.region,
    });
  }

  /** Starts a region's soft removal (see startRestorePointDelete). */
  startRegionRemove(
    input: Omit<RegionRemoveInput, 'operationId'>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    return this.startSoftDelete('region-remove', input, { region: input.spec.region });
  }

  /** Starts an override of the app's control state (see startRestorePointDelete). */
  startControlOverride(
    input: Omit<ControlOverrideInput, 'operationId'>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    return this.startSoftDelete('control-override', input, {
      action: input.spec.action,
      region: input.spec.region,
    });
  }

  private async startSoftDelete(
    kind: SoftDeleteKind,
    input: Omit<
      | RestorePointDeleteInput
      | ScheduleDeleteInput
      | RegionRemoveInput
      | ControlOverrideInput
      | DnsRecordDeleteInput
      | DnsOverrideInput,
      'operationId'
    >,
    facts: Record<string, unknown>,
  ): Promise<{ operationId: string; undoableUntil: string }> {
    const client = await this.client();
    const uuid = randomUUID();
    const operationId = operationIdOf(input.app, uuid);
    const initial = initialOperationStatus(
      kind,
      input.app,
      input.spec,
      input.requestedBy,
      new Date().toISOString(),
    );
    initial.facts = { ...facts, undoableUntil: input.undoableUntil };
    await client.workflow.start(WORKFLOW_TYPES[kind], {
      taskQueue: coordinatorTaskQueue(this.taskQueuePrefix),
      workflowId: appOwnOperationWorkflowId(input.app, uuid),
      workflowIdConflictPolicy: 'FAIL',
      args: [{ ...input, operationId }],
      memo: { [STATUS_MEMO_KEY]: { ...initial, operationId } },
      typedSearchAttributes: operationSearchAttributes(input.app, kind),
    });
    return { operationId, undoableUntil: input.undoableUntil };
  }

  /**
   * Undoes a soft delete through the workflow's Update; its validator decides (the window, undone
   * already, purged). Null when there is no such operation.
   */
  async undo(operationId: string, req: UndoRequest): Promise<UndoResult | null> {
    const id = await this.locate(operationId);
    if (!id) return null;
    const client = await this.client();
    try {
      return await executeUpdateWithin(client, id, undoUpdate, req);
    } catch (err) {
      if (err instanceof UpdateNotTakenError) throw err;
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        const details = err.cause.details?.[0] as Record<string, unknown> | undefined;
        throw new UndoRefusedError(err.cause.type ?? 'refused', err.cause.message, details);
      }
      // Closed: its own record says what happened.
      const op = await this.get(operationId);
      if (!op) return null;
      const until = op.facts.undoableUntil as string | undefined;
      if (!isSoftDeleteKind(op.kind)) {
        throw new UndoRefusedError(UNDO_REFUSALS.notUndoable, `a ${op.kind} operation cannot be undone`);
      }
      if (op.phase === 'Undone') {
        throw new UndoRefusedError(
          UNDO_REFUSALS.alreadyUndone,
          `operation ${operationId} was already undone`,
        );
      }
      if (op.phase === 'Completed') {
        throw new UndoRefusedError(
          UNDO_REFUSALS.windowClosed,
          `the undo window of operation ${operationId} closed at ${until ?? '?'}: ${PURGED[op.kind] ?? 'the target was purged'}`,
          { undoableUntil: until },
        );
      }
      if (isTerminal(op.phase)) {
        throw new UndoRefusedError(
          UNDO_REFUSALS.notUndoable,
          `operation ${operationId} is not undoable (phase ${op.phase})`,
        );
      }
      throw err;
    }
  }

  /**
   * Cancels a failover or failback through the workflow's Update; its validator refuses once the
   * commit has started. Null when there is no such operation.
   */
  async cancel(operationId: string, req: CancelRequest): Promise<CancelResult | null> {
    const id = await this.locate(operationId);
    if (!id) return null;
    const refuseClosed = (op: OperationStatus): never => {
      const committedAt = op.facts.committedAt as string | undefined;
      if (op.phase === 'Completed' && committedAt) {
        throw new CancelRefusedError(
          'already-committed',
          `operation ${operationId} committed at ${committedAt}: too late to cancel (fail back instead)`,
          { committedAt, endedAt: op.endedAt },
        );
      }
      throw new CancelRefusedError(
        'operation-ended',
        `operation ${operationId} already ended at ${op.endedAt ?? '?'} (${op.phase})`,
        { endedAt: op.endedAt, phase: op.phase },
      );
    };
    const before = statusFromDescription(operationId, id.description);
    if (!CANCELLABLE_KINDS.includes(before.kind)) {
      throw new CancelRefusedError(
        'not-cancellable',
        `a ${before.kind} operation cannot be cancelled (only failovers and failbacks)`,
      );
    }
    if (isTerminal(before.phase)) refuseClosed(before);
    const client = await this.client();
    try {
      return await executeUpdateWithin(client, id, cancelUpdate, req);
    } catch (err) {
      if (err instanceof UpdateNotTakenError) throw err;
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        const details = err.cause.details?.[0] as Record<string, unknown> | undefined;
        throw new CancelRefusedError(err.cause.type ?? 'refused', err.cause.message, details);
      }
      // Closed as the cancel arrived: its own record says when.
      const op = await this.get(operationId);
      if (op && isTerminal(op.phase)) refuseClosed(op);
      throw err;
    }
  }

  /** The id of the operation holding one of the app's slots, if one is running. */
  async runningOperationId(app: string, slot: OperationSlot = 'operation'): Promise<string | undefined> {
    const client = await this.client();
    try {
      const d = await client.workflow.getHandle(appSlotWorkflowId(app, slot)).describe();
      return d.status.name === 'RUNNING' ? operationIdOf(app, d.runId) : undefined;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Finds the workflow run behind an operation id: the run id under one of the app's slot
   * workflow ids, or else the latest run of the operation's own workflow id
   * (`switchyard.app.<app>.op.<uuid>`). Null when neither holds it.
   */
  async locate(
    operationId: string,
  ): Promise<{ workflowId: string; runId: string; description: WorkflowExecutionDescription } | null> {
    const id = parseOperationId(operationId);
    if (!id) return null;
    const client = await this.client();
    const found = await Promise.all(
      id.workflowIds.map(async (workflowId) => {
        try {
          const description = await client.workflow.getHandle(workflowId, id.runId).describe();
          return { workflowId, runId: id.runId, description };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return null;
          throw err;
        }
      }),
    );
    const inSlot = found.find((f) => f !== null);
    if (inSlot) return inSlot;
    try {
      const description = await client.workflow.getHandle(id.ownWorkflowId).describe();
      return { workflowId: id.ownWorkflowId, runId: description.runId, description };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  /** The operation at work for the app: running, and not yet at a terminal phase. */
  async activeOperationId(app: string, slot: OperationSlot = 'operation'): Promise<string | undefined> {
    const id = await this.runningOperationId(app, slot);
    if (!id) return undefined;
    const op = await this.get(id);
    return op && !isTerminal(op.phase) ? id : undefined;
  }

  /**
   * An operation that has recorded its outcome still holds the app's slot for the moment it takes
   * to close. Waits for that (at most `timeoutMs`); false when the operation is still at work.
   */
  async awaitClosingOperation(operationId: string, timeoutMs: number): Promise<boolean> {
    const op = await this.get(operationId);
    if (!op || !isTerminal(op.phase)) return false;
    const id = await this.locate(operationId);
    if (!id) return true;
    const client = await this.client();
    const closed = client.workflow
      .getHandle(id.workflowId, id.runId)
      .result()
      .then(
        () => true,
        () => true,
      );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async get(operationId: string): Promise<OperationStatus | null> {
    const found = await this.locate(operationId);
    return found ? statusFromDescription(operationId, found.description) : null;
  }

  /**
   * Sends an approver's decision to the operation's workflow as an Update; the workflow's validator
   * decides. Returns null when there is no such operation.
   */
  async decideApproval(operationId: string, req: DecisionRequest): Promise<ApprovalState | null> {
    const id = await this.locate(operationId);
    if (!id) return null;
    const client = await this.client();
    try {
      return await executeUpdateWithin(client, id, decideApprovalUpdate, req);
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
        throw new ApprovalRefusedError(err.cause.type ?? 'refused', err.cause.message);
      }
      // Closed, or closing as the decision arrived: the operation's own record says why not.
      const exists = await this.get(operationId);
      if (!exists) return null;
      if (exists.phase !== 'AwaitingApproval') {
        throw new ApprovalRefusedError(
          APPROVAL_REFUSALS.notAwaiting,
          `the operation is not awaiting approval (phase ${exists.phase})`,
        );
      }
      throw err;
    }
  }

  async list(filter: OperationFilter): Promise<OperationSummary[]> {
    const client = await this.client();
    const clauses = [`${searchAttributes.kind.name} IS NOT NULL`];
    if (filter.app) clauses.push(`${searchAttributes.app.name} = '${filter.app}'`);
    // App names are configuration names (lowercase letters, digits, dashes): safe in quotes.
    if (filter.apps) {
      clauses.push(`${searchAttributes.app.name} IN (${filter.apps.map((a) => `'${a}'`).join(', ')})`);
    }
    if (filter.kind) clauses.push(`${searchAttributes.kind.name} = '${filter.kind}'`);
    if (filter.phase) clauses.push(`${searchAttributes.phase.name} = '${filter.phase}'`);
    const out: OperationSummary[] = [];
    const limit = filter.limit ?? 100;
    for await (const w of client.workflow.list({
      query: clauses.join(' AND '),
      pageSize: Math.min(limit, 100),
    })) {
      const app = w.typedSearchAttributes.get(searchAttributes.app);
      if (!app) continue;
      const operationId = operationIdOfExecution(app, w.workflowId, w.runId);
      const s = statusFromDescription(operationId, w as WorkflowExecutionDescription);
      out.push({
        operationId,
        kind: s.kind,
        app: s.app,
        phase: s.phase,
        startedAt: s.startedAt,
        endedAt: s.endedAt,
        requestedBy: s.requestedBy,
        spec: s.spec,
        ...(s.phase === 'AwaitingApproval' ? { approval: s.approval } : {}),
        ...(isSoftDeleteKind(s.kind) ? { undoableUntil: s.facts.undoableUntil as string } : {}),
      });
      if (out.length >= limit) break;
    }
    return out;
  }
}

function statusFromDescription(
  operationId: string,
  d: Pick<
    WorkflowExecutionDescription,
    'memo' | 'status' | 'startTime' | 'closeTime' | 'typedSearchAttributes'
  >,
): OperationStatus {
  const memo = d.memo?.[STATUS_MEMO_KEY] as Partial<OperationStatus> | undefined;
  const status: OperationStatus = {
    kind: (d.typedSearchAttributes.get(searchAttributes.kind) as OperationKind | undefined) ?? 'failover',
    app: d.typedSearchAttributes.get(searchAttributes.app) ?? '',
    phase: 'Running',
    steps: [],
    startedAt: d.startTime.toISOString(),
    facts: {},
    requestedBy: '',
    spec: { to: '', mode: 'planned', reason: '' },
    ...memo,
    operationId,
  };
  // Someone terminated the workflow (or it timed out) before it could record an outcome.
  if (TEMPORAL_CLOSED_WITHOUT_STATUS.has(d.status.name) && !isTerminal(status.phase)) {
    status.phase = 'Failed';
    status.error = {
      code: `workflow-${d.status.name.toLowerCase().replace('_', '-')}`,
      message: `the workflow was ${d.status.name.toLowerCase().replace('_', ' ')} before it recorded an outcome`,
    };
    status.endedAt = d.closeTime?.toISOString();
  }
  return status;
}
