import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import type { AuditOutcome, AuditStore } from '../../../infra/audit/audit.port';
import { escapeUnsafe, NAME_TEXT_MAX } from '../../../workflows/safe-text';
import { Metrics } from '../system/metrics';
import { AUDIT_STORE } from '../tokens';
import { ApiError } from './api-error';
import type { AuthenticatedRequest } from './auth.guard';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What each mutating route does, in the audit log's words (one name per concept, as in docs/audit.md). */
const ROUTE_ACTIONS: Record<string, { action: string; target: (req: Request) => string }> = {
  'POST /v1/apps/:app/failovers': { action: 'failover.request', target: (r) => `app:${r.params.app}` },
  'POST /v1/operations/:id/approvals': {
    action: 'approval.decide',
    target: (r) => `operation:${r.params.id}`,
  },
  'POST /v1/apps/:app/restore-points': {
    action: 'restore-point.request',
    target: (r) => `app:${r.params.app}`,
  },
  'POST /v1/apps/:app/verifications': {
    action: 'verification.request',
    target: (r) => `app:${r.params.app}`,
  },
  'POST /v1/apps/:app/drills': { action: 'drill.request', target: (r) => `app:${r.params.app}` },
  'POST /v1/apps/:app/restores': {
    action: 'restore.request',
    target: (r) =>
      `restore-point:${String((r.body as { restorePointId?: unknown } | undefined)?.restorePointId ?? '?')}`,
  },
  'DELETE /v1/restore-points/:id': {
    action: 'restore-point.delete',
    target: (r) => `restore-point:${r.params.id}`,
  },
  'POST /v1/operations/:id/undo': { action: 'operation.undo', target: (r) => `operation:${r.params.id}` },
  'POST /v1/operations/:id/checkpoints/:step/confirm': {
    action: 'checkpoint.confirm',
    target: (r) => `operation:${r.params.id}`,
  },
  'POST /v1/operations/:id/cancel': { action: 'operation.cancel', target: (r) => `operation:${r.params.id}` },
  'POST /v1/apps/:app/failbacks': { action: 'failback.request', target: (r) => `app:${r.params.app}` },
  'POST /v1/monitor/reports': {
    action: 'monitor.report',
    target: (r) => {
      const body = r.body as { app?: unknown; region?: unknown } | undefined;
      return `region:${String(body?.app ?? '?')}/${String(body?.region ?? '?')}`;
    },
  },
  'DELETE /v1/apps/:app/regions/:region': {
    action: 'region.remove',
    target: (r) => `region:${r.params.app}/${r.params.region}`,
  },
  'POST /v1/apps/:app/overrides': { action: 'control.override', target: (r) => `app:${r.params.app}` },
  ...scheduleActions(),
  'DELETE /v1/apps/:app/dns-records/:name': {
    action: 'dns-record.delete',
    target: (r) => `dns-record:${r.params.app}/${r.params.name}`,
  },
  'PUT /v1/apps/:app/dns-records/:name': {
    action: 'dns-record.override',
    target: (r) => `dns-record:${r.params.app}/${r.params.name}`,
  },
  'POST /v1/tokens': { action: 'token.create', target: () => 'token:new' },
  'DELETE /v1/tokens/:id': { action: 'token.revoke', target: (r) => `token:${r.params.id}` },
};

/** Every schedule route, as `schedule.<verb>` on `schedule:<app>/<name>`. */
function scheduleActions(): Record<string, { action: string; target: (req: Request) => string }> {
  const target = (r: Request) => {
    const body = r.body as { name?: unknown; kind?: unknown } | undefined;
    return `schedule:${r.params.app}/${String(r.params.name ?? body?.name ?? body?.kind ?? '?')}`;
  };
  const one = '/v1/apps/:app/schedules/:name';
  return {
    'POST /v1/apps/:app/schedules': { action: 'schedule.create', target },
    [`PATCH ${one}`]: { action: 'schedule.update', target },
    [`DELETE ${one}`]: { action: 'schedule.delete', target },
    [`POST ${one}/trigger`]: { action: 'schedule.trigger', target },
    [`POST ${one}/pause`]: { action: 'schedule.pause', target },
    [`POST ${one}/unpause`]: { action: 'schedule.unpause', target },
    [`POST ${one}/backfill`]: { action: 'schedule.backfill', target },
  };
}

export function isMutating(req: Request): boolean {
  return MUTATING.has(req.method);
}

/** Routes that write no event before their action: a monitor's heartbeat would flood the log. */
const NO_REQUEST_EVENT = new Set(['POST /v1/monitor/reports']);

function escapeStrings(details: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(details).map(([k, v]) => [k, typeof v === 'string' ? escapeUnsafe(v) : v]),
  );
}

function reasonOf(req: Request): string | undefined {
  const body = req.body as { reason?: unknown } | undefined;
  const fromBody =
    body && typeof body === 'object' && typeof body.reason === 'string' ? body.reason : undefined;
  const fromQuery = typeof req.query.reason === 'string' ? req.query.reason : undefined;
  return fromBody ?? fromQuery;
}

/**
 * What a request would do, in the audit log's words. Its reason and target are whatever the client
 * sent: they are recorded escaped (workflows/safe-text.ts), so no text can make the chain unverifiable.
 */
export function describeRequest(req: Request): { action: string; target: string; reason?: string } {
  const route = (req.route as { path?: string } | undefined)?.path;
  const known = route ? ROUTE_ACTIONS[`${req.method} ${route}`] : undefined;
  const reason = reasonOf(req);
  return {
    action: known?.action ?? `http.${req.method.toLowerCase()}`,
    target: escapeUnsafe(known?.target(req) ?? `path:${req.path}`, NAME_TEXT_MAX * 2),
    reason: reason === undefined ? undefined : escapeUnsafe(reason),
  };
}

/**
 * The audit events of mutating API calls, with the authenticated principal as the actor. Before
 * its action runs, a call writes `request.received` (recordRequest); if that cannot be written the
 * call is refused with 503 `audit-unavailable` and nothing changes. Its outcome, `accepted` or
 * `refused` under the route's action, follows with the same requestId (record). Request bodies
 * are not copied (they may hold secrets); handlers add what matters through `res.locals.audit`.
 */
@Injectable()
export class AuditTrail {
  private readonly log = new Logger('audit');

  constructor(
    @Inject(AUDIT_STORE) private readonly store: AuditStore,
    private readonly metrics: Metrics,
  ) {}

  /** Fails closed: throws ApiError 503 `audit-unavailable` when the event cannot be written. */
  async recordRequest(req: AuthenticatedRequest): Promise<void> {
    const route = (req.route as { path?: string } | undefined)?.path;
    if (route && NO_REQUEST_EVENT.has(`${req.method} ${route}`)) return;
    const { action, target, reason } = describeRequest(req);
    try {
      await this.store.append({
        actor: req.principal?.name ?? 'anonymous',
        action: 'request.received',
        target,
        reason,
        requestId: req.requestId,
        outcome: 'info',
        details: { action, method: req.method, route: route ?? req.path },
      });
    } catch (err) {
      this.metrics.auditAppendFailures.inc({ kind: 'request' });
      this.log.error(`audit unavailable, refusing ${req.method} ${req.path}: ${(err as Error).message}`);
      throw new ApiError(
        503,
        'audit-unavailable',
        'the audit log cannot be written, so nothing was done; try again once it is back',
      );
    }
  }

  /**
   * The call's outcome. A failure is logged and counted, not thrown: the action has already taken
   * effect (or was refused), and its request event is in the log.
   */
  async record(
    req: AuthenticatedRequest,
    status: number,
    outcome: AuditOutcome,
    details: Record<string, unknown> = {},
    target?: string,
  ): Promise<void> {
    const described = describeRequest(req);
    try {
      await this.store.append({
        actor: req.principal?.name ?? 'anonymous',
        action: described.action,
        target: target === undefined ? described.target : escapeUnsafe(target, NAME_TEXT_MAX * 2),
        reason: described.reason,
        requestId: req.requestId,
        outcome,
        details: escapeStrings({ status, ...details }),
      });
    } catch (err) {
      this.metrics.auditAppendFailures.inc({ kind: outcome === 'refused' ? 'refusal' : 'result' });
      this.log.error(`audit event not recorded for ${req.method} ${req.path}: ${(err as Error).message}`);
    }
  }
}
