import {
  ActivityFailure,
  allHandlersFinished,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowFailure,
  condition,
  ApplicationFailure,
  log,
  ParentClosePolicy,
  proxyActivities,
  startChild,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { AuditEventInput, AuditOutcome } from '../infra/audit/audit.port';
import type { RecordingActivities } from '../infra/activities/recording.activities';
import type { NotificationEventName } from '../infra/notify/notification.port';
import { searchAttributes, STATUS_MEMO_KEY } from './definitions';
import type { OperationError, OperationStatus, OperationStep } from './operation';
import type { deliverNotificationWorkflow, sealAuditWorkflow } from './recording.workflows';

/**
 * What every operation workflow does around its own steps: publish its status (memo, search
 * attribute), record audit events for each transition, send notifications, and run a saga's
 * compensations in reverse. Deterministic: used inside workflows only.
 */

const recording = proxyActivities<RecordingActivities>({
  startToCloseTimeout: '10s',
  // The audit store being down must not hold a failover for long: after these attempts the gap
  // is recorded on the operation (facts.auditErrors) and the operation goes on.
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 5 },
});

export function toOperationError(err: unknown, step?: string): OperationError {
  let cause: unknown = err;
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && cause.cause)
    cause = cause.cause;
  if (cause instanceof CancelledFailure) {
    return { code: 'cancelled', message: `step "${step ?? '?'}" was interrupted by a cancel`, step };
  }
  if (cause instanceof ApplicationFailure) {
    return { code: cause.type ?? 'failed', message: cause.message, step };
  }
  if (cause instanceof TimeoutFailure) {
    return { code: 'timeout', message: `step "${step ?? '?'}" timed out (${cause.timeoutType})`, step };
  }
  return { code: 'failed', message: cause instanceof Error ? cause.message : String(cause), step };
}

const succeeded = (phase: OperationStatus['phase']) => phase === 'Completed' || phase === 'Undone';

export class OperationRuntime {
  private auditCount = 0;
  private notificationCount = 0;
  private readonly pending: Promise<unknown>[] = [];
  private readonly compensations: { step: string; run: () => Promise<void> }[] = [];

  constructor(readonly status: OperationStatus) {}

  publish(): void {
    upsertMemo({ [STATUS_MEMO_KEY]: this.status });
    upsertSearchAttributes([{ key: searchAttributes.phase, value: this.status.phase }]);
  }

  step(name: string): OperationStep {
    const s = this.status.steps.find((x) => x.name === name);
    if (!s) throw new Error(`no step named ${name}`);
    return s;
  }

  /** Appends an audit event about this operation; exactly once per call, even across retries and replays. */
  async audit(
    action: string,
    outcome: AuditOutcome,
    details: Record<string, unknown> = {},
    actor = 'system',
  ): Promise<void> {
    const event: AuditEventInput = {
      actor,
      action,
      target: `operation:${this.status.operationId}`,
      reason: this.status.spec.reason,
      outcome,
      details: { app: this.status.app, kind: this.status.kind, ...details },
      idempotencyKey: `${this.status.operationId}:${++this.auditCount}`,
    };
    try {
      await recording.recordAudit(event);
    } catch (err) {
      const errors = (this.status.facts.auditErrors as string[] | undefined) ?? [];
      errors.push(`${action}: ${toOperationError(err).message}`);
      this.status.facts.auditErrors = errors;
      log.error('audit event not recorded', { action });
    }
  }

  /**
   * Sends a notification through a workflow of its own that this operation abandons: delivery
   * retries never hold the operation (or the app's operation slot).
   */
  notify(event: NotificationEventName, payload: Record<string, unknown> = {}): void {
    const delivery = {
      id: `${this.status.operationId}:${++this.notificationCount}`,
      event,
      payload: {
        operationId: this.status.operationId,
        app: this.status.app,
        kind: this.status.kind,
        phase: this.status.phase,
        ...payload,
      },
    };
    this.handOff(`notification ${event}`, () =>
      startChild<typeof deliverNotificationWorkflow>('deliverNotificationWorkflow', {
        workflowId: `switchyard.notification.${delivery.id}`,
        args: [delivery],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      }),
    );
  }

  private handOff(what: string, start: () => Promise<unknown>): void {
    this.pending.push(
      start().catch((err: unknown) => {
        const errors = (this.status.facts.notificationErrors as string[] | undefined) ?? [];
        errors.push(`${what}: ${toOperationError(err).message}`);
        this.status.facts.notificationErrors = errors;
      }),
    );
  }

  async runStep(name: string, body: (step: OperationStep) => Promise<void>): Promise<void> {
    const step = this.step(name);
    step.status = 'Running';
    step.startedAt = new Date().toISOString();
    this.publish();
    await this.audit('operation.step.started', 'info', { step: name });
    try {
      await body(step);
      step.status = 'Completed';
    } catch (err) {
      step.status = 'Failed';
      step.error = toOperationError(err, name);
      throw err;
    } finally {
      step.endedAt = new Date().toISOString();
      this.publish();
      // Recorded even when the step was interrupted by a cancel.
      await CancellationScope.nonCancellable(() =>
        this.audit(
          `operation.step.${step.status === 'Completed' ? 'completed' : 'failed'}`,
          step.status === 'Completed' ? 'succeeded' : 'failed',
          {
            step: name,
            detail: step.detail,
            error: step.error,
          },
        ),
      );
    }
  }

  /** Registers how to undo a change of `step`; run in reverse order if a later step fails. */
  onFailureUndo(step: string, run: () => Promise<void>): void {
    this.compensations.push({ step, run });
  }

  /** A step failed: records the error, undoes what was done (in reverse) and sets the outcome phase. */
  async failAndCompensate(err: unknown, step: string): Promise<void> {
    this.status.error = toOperationError(err, step);
    this.status.phase = 'Compensating';
    this.publish();
    this.status.phase = (await this.compensate()) ? 'Failed' : 'CompensationFailed';
  }

  /**
   * An operator cancelled the operation before its commit: the interrupted step and the cancel are
   * recorded, completed steps are undone (in reverse), and the phase is Cancelled (or
   * CompensationFailed when an undo failed).
   */
  async cancelAndCompensate(error: OperationError): Promise<void> {
    this.status.error = error;
    // A request still waiting for approvers is withdrawn: nobody can decide it any more.
    if (this.status.approval?.status === 'Pending') this.status.approval.status = 'Withdrawn';
    for (const s of this.status.steps) {
      if (s.error?.code === 'cancelled') s.error = { ...error, step: s.name };
    }
    this.status.phase = 'Compensating';
    this.publish();
    this.status.phase = (await this.compensate()) ? 'Cancelled' : 'CompensationFailed';
  }

  /** Runs the compensations in reverse; returns false when one of them failed. */
  async compensate(): Promise<boolean> {
    let ok = true;
    for (const c of [...this.compensations].reverse()) {
      const step = this.step(c.step);
      const before = step.status;
      step.status = 'Compensating';
      this.publish();
      try {
        await c.run();
        step.status = before === 'Failed' ? 'Failed' : 'Compensated';
        await this.audit('operation.step.compensated', 'succeeded', { step: c.step });
      } catch (err) {
        ok = false;
        step.status = 'CompensationFailed';
        step.compensationError = toOperationError(err, c.step);
        await this.audit('operation.step.compensation-failed', 'failed', {
          step: c.step,
          error: step.compensationError,
        });
      }
    }
    return ok;
  }

  /**
   * Ends the workflow: Completed (and Undone, a soft delete taken back as asked) returns the
   * status, every other outcome fails the workflow with it.
   */
  async end(): Promise<OperationStatus> {
    await this.finish();
    await condition(allHandlersFinished);
    const { status } = this;
    if (!succeeded(status.phase)) {
      throw ApplicationFailure.nonRetryable(
        status.error?.message ?? `${status.kind} ${status.phase}`,
        status.error?.code ?? status.phase,
        status,
      );
    }
    return status;
  }

  /** Marks steps never reached, publishes the end, records it, and waits for notifications. */
  async finish(): Promise<void> {
    const now = new Date().toISOString();
    for (const s of this.status.steps) {
      if (s.status === 'Pending') s.status = 'Skipped';
      if (s.status === 'Running') {
        s.status = 'Failed';
        s.error ??= this.status.error;
        s.endedAt = now;
      }
    }
    this.status.endedAt = now;
    this.publish();
    await this.audit('operation.finished', succeeded(this.status.phase) ? 'succeeded' : 'failed', {
      phase: this.status.phase,
      error: this.status.error,
    });
    this.notify('operation.finished', { error: this.status.error });
    this.handOff('audit seal', () =>
      startChild<typeof sealAuditWorkflow>('sealAuditWorkflow', {
        workflowId: `switchyard.audit-seal.${this.status.operationId}`,
        parentClosePolicy: ParentClosePolicy.ABANDON,
      }),
    );
    // Only the starts are awaited: the children run on after this operation has closed.
    await Promise.all(this.pending);
    this.publish();
  }
}
