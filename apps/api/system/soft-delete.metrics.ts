import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import type { AuditStore } from '../../../infra/audit/audit.port';
import { OperationsRepository } from '../../../infra/temporal/operations.repository';
import { AUDIT_STORE } from '../tokens';
import { Metrics } from './metrics';

/** How long one reading serves scrapes (Prometheus scrapes every 15–60 s). */
const CACHE_MS = 10_000;

/** The audit events of each soft-delete outcome (docs/soft-deletes.md), for every target noun. */
const EVENTS = {
  tombstones: [
    'restore-point.tombstoned',
    'schedule.tombstoned',
    'region.tombstoned',
    'control.overridden',
    'dns-record.tombstoned',
    'dns-record.overridden',
  ],
  undos: [
    'restore-point.undeleted',
    'schedule.undeleted',
    'region.undeleted',
    'control.override-undone',
    'dns-record.undeleted',
    'dns-record.override-undone',
  ],
  purges: [
    'restore-point.purged',
    'schedule.purged',
    'region.purged',
    'control.override-purged',
    'dns-record.purged',
    'dns-record.override-purged',
  ],
} as const;
type Outcome = keyof typeof EVENTS;

type Counts = Record<Outcome, Map<string, { app: string; kind: string; n: number }>>;

/**
 * Soft deletes as metrics, derived when Prometheus scrapes from what survives an API restart: the
 * audit log (tombstones, undos, purges: each recorded once by the operation's workflow) and
 * Temporal's visibility (the windows open now):
 * `switchyard_soft_delete_tombstones_total{app, kind}`, `…_undos_total`, `…_purges_total`, and
 * `switchyard_soft_delete_undoable{app, kind}`.
 */
@Injectable()
export class SoftDeleteMetrics implements OnModuleInit {
  private cached:
    { at: number; value: Promise<{ counts: Counts; undoable: Map<string, number> }> } | undefined;

  constructor(
    @Inject(AUDIT_STORE) private readonly audit: AuditStore,
    private readonly operations: OperationsRepository,
    private readonly metrics: Metrics,
  ) {}

  private async count(
    actions: readonly string[],
  ): Promise<Map<string, { app: string; kind: string; n: number }>> {
    const out = new Map<string, { app: string; kind: string; n: number }>();
    for (const action of actions) {
      let cursor: string | undefined;
      do {
        const page = await this.audit.list({ action, limit: 1000, ...(cursor ? { cursor } : {}) });
        for (const e of page.items) {
          const app = String(e.details.app ?? '');
          const kind = String(e.details.kind ?? '');
          const key = `${app}\u0000${kind}`;
          const c = out.get(key) ?? { app, kind, n: 0 };
          c.n += 1;
          out.set(key, c);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    return out;
  }

  read(): Promise<{ counts: Counts; undoable: Map<string, number> }> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.value;
    const value = (async () => {
      const [tombstones, undos, purges] = await Promise.all([
        this.count(EVENTS.tombstones),
        this.count(EVENTS.undos),
        this.count(EVENTS.purges),
      ]);
      const undoable = new Map<string, number>();
      const open = await this.operations.list({ phase: 'Undoable', limit: 10_000 }).catch(() => []);
      for (const o of open) {
        const key = `${o.app}\u0000${o.kind}`;
        undoable.set(key, (undoable.get(key) ?? 0) + 1);
      }
      return { counts: { tombstones, undos, purges }, undoable };
    })();
    // A failed reading is not kept: the next scrape tries again.
    value.catch(() => (this.cached = undefined));
    this.cached = { at: Date.now(), value };
    return value;
  }

  onModuleInit(): void {
    const read = () => this.read();
    const registers = [this.metrics.registry];
    const counter = (outcome: Outcome, help: string) =>
      new Counter({
        name: `switchyard_soft_delete_${outcome}_total`,
        help,
        labelNames: ['app', 'kind'] as const,
        registers,
        async collect() {
          const { counts } = await read();
          this.reset();
          for (const c of counts[outcome].values()) this.inc({ app: c.app, kind: c.kind }, c.n);
        },
      });
    counter(
      'tombstones',
      'Soft deletes whose target was tombstoned (hidden), by app and kind, from the audit log',
    );
    counter('undos', 'Soft deletes undone within their window, by app and kind, from the audit log');
    counter('purges', 'Soft deletes purged when their window ended, by app and kind, from the audit log');
    new Gauge({
      name: 'switchyard_soft_delete_undoable',
      help: 'Soft deletes whose undo window is open now (phase Undoable), by app and kind',
      labelNames: ['app', 'kind'] as const,
      registers,
      async collect() {
        const { undoable } = await read();
        this.reset();
        for (const [key, n] of undoable) {
          const [app, kind] = key.split('\u0000');
          this.set({ app: app!, kind: kind! }, n);
        }
      },
    });
  }
}
