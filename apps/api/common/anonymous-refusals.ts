import { Inject, Injectable, Logger } from '@nestjs/common';
import type { AuditStore } from '../../../infra/audit/audit.port';
import { Metrics } from '../system/metrics';
import { AUDIT_STORE } from '../tokens';
import type { AuthenticatedRequest } from './auth.guard';
import { describeRequest } from './audit-trail';

/** One sampled audit event per source address and window. */
const WINDOW_MS = 60_000;
/** Sources tracked at once; beyond it new sources share one sample (`*`), so memory stays bounded. */
const MAX_SOURCES = 10_000;
/** Sampled text is cut here: a sample records that it happened, not an attacker's novel. */
const MAX_TEXT = 200;

interface SourceState {
  sampledAt: number;
  /** Refusals since the last sample, the one that writes the next sample included. */
  unreported: number;
}

/**
 * Refused requests without a principal (no or bad token, unknown route): anyone who can reach the
 * port can send them, so they never cost one chained row each. Every one is counted in
 * `switchyard_http_anonymous_refused_total`; the audit log gets at most one event per source
 * address and minute per API process: the first refusal of the window, with `count`, the refusals
 * from that source since the previous sample.
 */
@Injectable()
export class AnonymousRefusals {
  private readonly log = new Logger('audit');
  private readonly sources = new Map<string, SourceState>();
  /** The clock; a test replaces it. */
  now: () => number = Date.now;

  constructor(
    @Inject(AUDIT_STORE) private readonly store: AuditStore,
    private readonly metrics: Metrics,
  ) {}

  /** Counts a refusal that is never audited (a read). */
  count(): void {
    this.metrics.anonymousRefused.inc();
  }

  /** Counts the refusal and, when it opens its source's window, writes the sample (never throws). */
  async refused(req: AuthenticatedRequest, status: number, body: { error: string }): Promise<void> {
    this.count();
    const now = this.now();
    const source = this.sourceOf(req, now);
    const state = this.sources.get(source) ?? { sampledAt: -Infinity, unreported: 0 };
    this.sources.set(source, state);
    state.unreported++;
    if (now - state.sampledAt < WINDOW_MS) return;
    const count = state.unreported;
    state.sampledAt = now;
    state.unreported = 0;
    const { action, target, reason } = describeRequest(req);
    try {
      await this.store.append({
        actor: 'anonymous',
        action: cut(action),
        target: cut(target),
        reason: reason === undefined ? undefined : cut(reason),
        requestId: req.requestId,
        outcome: 'refused',
        details: {
          status,
          error: body.error,
          sampled: true,
          source,
          count,
          windowSeconds: WINDOW_MS / 1000,
        },
      });
    } catch (err) {
      this.metrics.auditAppendFailures.inc({ kind: 'sample' });
      this.log.error(`sampled anonymous refusal not recorded: ${(err as Error).message}`);
    }
  }

  private sourceOf(req: AuthenticatedRequest, now: number): string {
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    if (this.sources.has(address) || this.sources.size < MAX_SOURCES) return address;
    for (const [key, s] of this.sources) {
      if (now - s.sampledAt >= WINDOW_MS && s.unreported === 0) this.sources.delete(key);
    }
    return this.sources.size < MAX_SOURCES ? address : '*';
  }
}

function cut(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}
