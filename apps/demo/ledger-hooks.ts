import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Handoff, WriteGate } from './handoff';
import { bearerMatches, type Exchange, type Handler, HttpError, type Reply } from './http';
import { BadArtifactError, type Ledger } from './ledger';
import type { OrdersRepository } from './orders.repository';

/**
 * The ledger's HTTP backup hooks under `/hooks/ledger` (the contract of Switchyard's http service
 * adapter; docs/demo-app.md). A quiesce holds new writes to both services (they wait, they are
 * not refused), waits for the writes in flight and the handoff queue, and so leaves the ledger
 * equal to the orders table until it is released or its lease runs out.
 */

export const HOOK_BASE = '/hooks/ledger';

export interface LedgerHookDeps {
  region: string;
  ledger: Ledger;
  gate: WriteGate;
  handoff: Handoff;
  orders: OrdersRepository | undefined;
  /** When set, every hook requires `Authorization: Bearer <token>`. */
  token: string | undefined;
  log: (event: Record<string, unknown>) => void;
}

interface Quiesce {
  restorePointId: string;
  leaseSeconds: number;
  leaseExpiresAt: number;
  timer: NodeJS.Timeout;
  openGate: () => void;
  /** Resolves once nothing is in flight and the handoff queue is empty. */
  ready: Promise<void>;
  isReady: boolean;
  /** Resolves when the quiesce ends (released or lease run out). */
  ended: Promise<void>;
  end: () => void;
}

const MAX_LEASE_SECONDS = 3600;

function restorePointIdOf(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._:-]{1,200}$/.test(value)) {
    throw new HttpError(400, 'bad_request', 'restorePointId: expected a restore point id');
  }
  return value;
}

export class LedgerHooks {
  private current: Quiesce | undefined;
  private lastEnded: { restorePointId: string; why: string; at: string } | undefined;
  private restoring = false;

  constructor(private readonly deps: LedgerHookDeps) {}

  routes(): Record<string, Handler> {
    const guarded =
      (h: Handler): Handler =>
      (x) => {
        if (this.deps.token !== undefined && !bearerMatches(x.req.headers.authorization, this.deps.token)) {
          throw new HttpError(401, 'unauthorized', 'the backup hooks need a valid bearer token');
        }
        return h(x);
      };
    return {
      [`POST ${HOOK_BASE}/quiesce`]: guarded(async (x) => this.quiesce(await x.json())),
      [`POST ${HOOK_BASE}/marker`]: guarded(async (x) => this.marker(await x.json())),
      [`POST ${HOOK_BASE}/snapshot`]: guarded(async (x) => this.snapshot(x, await x.json())),
      [`POST ${HOOK_BASE}/release`]: guarded(async (x) => this.release(await x.json())),
      [`POST ${HOOK_BASE}/restore`]: guarded((x) => this.restore(x)),
      [`GET ${HOOK_BASE}/verify`]: guarded(() => this.verify()),
      [`POST ${HOOK_BASE}/discard`]: guarded(() => this.discard()),
      [`GET ${HOOK_BASE}/status`]: guarded(() => [200, this.status()]),
    };
  }

  /** What the hooks hold right now (also for tests and operators). */
  status() {
    const q = this.current;
    return {
      region: this.deps.region,
      quiesced: q
        ? {
            restorePointId: q.restorePointId,
            leaseExpiresAt: new Date(q.leaseExpiresAt).toISOString(),
            drained: q.isReady,
          }
        : null,
      restoring: this.restoring,
      heldWrites: this.deps.gate.waiting,
      pendingHandoffs: this.deps.handoff.pending,
      ...this.deps.ledger.marker(),
    };
  }

  /** Ends any quiesce (the app is stopping). */
  close(): void {
    if (this.current) this.endQuiesce(this.current, 'the app stopped');
  }

  private async quiesce(body: Record<string, unknown>): Promise<Reply> {
    const id = restorePointIdOf(body.restorePointId);
    const lease = body.leaseSeconds;
    if (typeof lease !== 'number' || !Number.isInteger(lease) || lease < 1 || lease > MAX_LEASE_SECONDS) {
      throw new HttpError(
        400,
        'bad_request',
        `leaseSeconds: expected an integer from 1 to ${MAX_LEASE_SECONDS}`,
      );
    }
    const held = this.current;
    if (held && held.restorePointId !== id) {
      throw new HttpError(
        409,
        'quiesced',
        `already quiesced for restore point ${held.restorePointId} until ${new Date(held.leaseExpiresAt).toISOString()}`,
      );
    }
    if (this.restoring) throw new HttpError(409, 'restoring', 'a restore is replacing the ledger');
    // The same restore point again (a retried call) waits for the same cut; the lease is not extended.
    const q = held ?? this.startQuiesce(id, lease);
    await this.whenReady(q);
    return [
      200,
      { quiesced: true, restorePointId: id, leaseExpiresAt: new Date(q.leaseExpiresAt).toISOString() },
    ];
  }

  private startQuiesce(restorePointId: string, leaseSeconds: number): Quiesce {
    const { gate, handoff } = this.deps;
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const q: Quiesce = {
      restorePointId,
      leaseSeconds,
      leaseExpiresAt: Date.now() + leaseSeconds * 1000,
      openGate: gate.hold(),
      timer: setTimeout(
        () => this.endQuiesce(q, `its lease of ${leaseSeconds} s ran out`),
        leaseSeconds * 1000,
      ),
      ready: Promise.resolve(),
      isReady: false,
      ended,
      end,
    };
    // A dead coordinator must not keep the app frozen, nor keep a stopping process alive.
    q.timer.unref();
    q.ready = (async () => {
      await gate.idle();
      await handoff.drained();
      q.isReady = true;
    })();
    this.current = q;
    this.deps.log({ region: this.deps.region, msg: 'ledger quiesced', restorePointId, leaseSeconds });
    return q;
  }

  private endQuiesce(q: Quiesce, why: string): void {
    if (this.current !== q) return;
    clearTimeout(q.timer);
    this.current = undefined;
    this.lastEnded = { restorePointId: q.restorePointId, why, at: new Date().toISOString() };
    q.openGate();
    q.end();
    this.deps.log({
      region: this.deps.region,
      msg: 'ledger released',
      restorePointId: q.restorePointId,
      why,
    });
  }

  /** Waits for the cut; fails when the quiesce ends first. */
  private async whenReady(q: Quiesce): Promise<void> {
    const first = await Promise.race([
      q.ready.then(() => 'ready' as const),
      q.ended.then(() => 'ended' as const),
    ]);
    if (first === 'ended' || this.current !== q) {
      throw new HttpError(
        409,
        'quiesce_ended',
        `the quiesce for ${q.restorePointId} ended before the handoff queue drained ` +
          `(${this.lastEnded?.why ?? 'released'}; ${this.deps.handoff.pending} numbers pending)`,
      );
    }
  }

  /** The quiesce of `id`, ready; 409 not_quiesced when there is none (never taken, released, expired). */
  private async quiesced(id: string): Promise<Quiesce> {
    const q = this.current;
    if (!q || q.restorePointId !== id) {
      const ended = this.lastEnded?.restorePointId === id ? this.lastEnded : undefined;
      throw new HttpError(
        409,
        'not_quiesced',
        ended
          ? `the quiesce for restore point ${id} has ended (${ended.why}, at ${ended.at}): take a new cut`
          : `not quiesced for restore point ${id}${q ? ` (quiesced for ${q.restorePointId})` : ''}`,
      );
    }
    await this.whenReady(q);
    return q;
  }

  private async marker(body: Record<string, unknown>): Promise<Reply> {
    await this.quiesced(restorePointIdOf(body.restorePointId));
    return [200, this.deps.ledger.marker()];
  }

  private async snapshot(x: Exchange, body: Record<string, unknown>): Promise<Reply> {
    const id = restorePointIdOf(body.restorePointId);
    await this.quiesced(id);
    const snap = this.deps.ledger.snapshot();
    x.res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(snap.size),
      'X-Ledger-Count': String(snap.marker.count),
      'X-Ledger-Last-Number': String(snap.marker.lastNumber),
    });
    await pipeline(snap.body, x.res);
    return undefined;
  }

  private release(body: Record<string, unknown>): Reply {
    const id = restorePointIdOf(body.restorePointId);
    const q = this.current;
    if (q?.restorePointId === id) {
      this.endQuiesce(q, 'released');
      return [200, { released: true, restorePointId: id }];
    }
    // Released already (a retry) is fine; a lease that ran out first is said, since the cut may
    // not have held for as long as the caller needed it.
    const ended = this.lastEnded?.restorePointId === id ? this.lastEnded : undefined;
    return [
      200,
      {
        released: false,
        restorePointId: id,
        leaseExpired: ended !== undefined && ended.why !== 'released',
        detail: q
          ? `quiesced for another restore point (${q.restorePointId}); left as is`
          : ended
            ? `the quiesce had already ended (${ended.why}, at ${ended.at})`
            : 'not quiesced',
      },
    ];
  }

  private async restore(x: Exchange): Promise<Reply> {
    const id = restorePointIdOf(x.query.get('restorePointId') ?? undefined);
    if (this.current) {
      throw new HttpError(
        409,
        'quiesced',
        `quiesced for restore point ${this.current.restorePointId}: a restore would break that cut`,
      );
    }
    if (this.restoring) throw new HttpError(409, 'restore_in_progress', 'another restore is running');
    this.restoring = true;
    const openGate = this.deps.gate.hold();
    try {
      await this.deps.gate.idle();
      await this.deps.handoff.drained();
      const m = await this.deps.ledger.restore(x.req);
      const detail = `ledger restored from ${id}: ${m.count} numbers, last ${m.lastNumber} (${m.bytes} bytes)`;
      this.deps.log({ region: this.deps.region, msg: detail, restorePointId: id });
      return [200, { detail, count: m.count, lastNumber: m.lastNumber, bytes: m.bytes }];
    } catch (err) {
      if (err instanceof BadArtifactError) throw new HttpError(400, 'bad_artifact', err.message);
      throw err;
    } finally {
      openGate();
      this.restoring = false;
    }
  }

  /**
   * Empties the ledger: a scratch instance forgets what a test restore or a drill restored into it
   * (docs/drills.md). Refused while quiesced or restoring, like a restore.
   */
  private async discard(): Promise<Reply> {
    if (this.current) {
      throw new HttpError(409, 'quiesced', `quiesced for restore point ${this.current.restorePointId}`);
    }
    if (this.restoring) throw new HttpError(409, 'restore_in_progress', 'a restore is running');
    this.restoring = true;
    const openGate = this.deps.gate.hold();
    try {
      await this.deps.gate.idle();
      await this.deps.handoff.drained();
      const before = this.deps.ledger.marker().count;
      await this.deps.ledger.restore(Readable.from([]));
      this.deps.log({ region: this.deps.region, msg: `ledger discarded (${before} numbers)` });
      return [200, { detail: `ledger discarded: ${before} numbers removed` }];
    } finally {
      openGate();
      this.restoring = false;
    }
  }

  /**
   * The ledger file reads back as held, and (when service A is configured) the ledger and the
   * orders table hold the same numbers. New writes wait for the moment of the comparison.
   */
  private async verify(): Promise<Reply> {
    const { gate, handoff, ledger, orders } = this.deps;
    const openGate = gate.hold();
    try {
      await gate.idle();
      await handoff.drained();
      const own = ledger.check();
      if (!own.ok || !orders) {
        return [
          200,
          { ...own, detail: orders ? own.detail : `${own.detail}; no orders database to compare with` },
        ];
      }
      let inOrders: number[];
      try {
        inOrders = await orders.list();
      } catch (err) {
        return [200, { ok: false, detail: `orders unreadable: ${(err as Error).message}` }];
      }
      const orderSet = new Set(inOrders);
      const onlyInOrders = inOrders.filter((n) => !ledger.has(n));
      const onlyInLedger = ledger.list().filter((n) => !orderSet.has(n));
      const { count, lastNumber } = ledger.marker();
      if (onlyInOrders.length === 0 && onlyInLedger.length === 0) {
        return [200, { ok: true, detail: `ledger and orders agree: ${count} numbers, last ${lastNumber}` }];
      }
      const some = (ns: number[]) => ns.slice(0, 5).join(', ') + (ns.length > 5 ? ', ...' : '');
      return [
        200,
        {
          ok: false,
          detail:
            `ledger and orders disagree: ${onlyInOrders.length} only in orders (${some(onlyInOrders)}), ` +
            `${onlyInLedger.length} only in the ledger (${some(onlyInLedger)})`,
        },
      ];
    } finally {
      openGate();
    }
  }
}
