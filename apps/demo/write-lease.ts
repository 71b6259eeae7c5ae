import type { ControlState } from '../../infra/storage/control-state.store';
import { leaseReadQuorum } from '../../workflows/control';

/**
 * The demo app's write lease (docs/fencing.md). An instance accepts writes only while its last
 * successful refresh is younger than `writeLeaseMs` and named its region the writer and not halted.
 * A refresh succeeds when a MAJORITY of the buckets answered (every region's, and the fencing
 * witness when the app has one: `leaseReadQuorum`); it takes the newest state
 * among them. The lease is dated from when the refresh STARTED: whatever the buckets held then is
 * at most that old. A failover waits writeLeaseMs between its fence and its promote, so by the time
 * a new writer is named, every instance that has not seen the fence has stopped on its own.
 */
export interface LeaseRead {
  /** The newest state among the buckets that answered (the configuration's when none holds one). */
  state: ControlState;
  regions: { region: string; ok: boolean; error?: string }[];
}

export interface LeaseStatus {
  accepting: boolean;
  writer: string | null;
  halted: string[];
  epoch: number;
  /** Milliseconds since the start of the last successful refresh; null before the first. */
  leaseAgeMs: number | null;
  writeLeaseMs: number;
  /** Why the last refresh did not count, if it did not. */
  lastError?: string;
}

export type LeaseDecision = { ok: true } | { ok: false; epoch: number; reason: string };

export class WriteLease {
  private state: ControlState | null = null;
  private refreshedAt: number | null = null;
  private lastError: string | undefined;

  constructor(
    private readonly region: string,
    private readonly writeLeaseMs: number,
    /** A monotonic clock in milliseconds (performance.now in the app, a fake in tests). */
    private readonly now: () => number,
  ) {}

  /** Records a refresh that started at `startedAt`: it counts only with a majority of the buckets read. */
  record(startedAt: number, read: LeaseRead): void {
    const ok = read.regions.filter((r) => r.ok).length;
    const quorum = leaseReadQuorum(read.regions.length);
    if (ok < quorum) {
      // Too few buckets to extend the lease, but a newer state that takes writes away counts at once.
      const s = read.state;
      if (ok > 0 && this.isNewer(s) && (s.writer !== this.region || s.halted.includes(this.region))) {
        this.state = s;
      }
      this.lastError =
        `read ${ok} of ${read.regions.length} buckets, a majority (${quorum}) is needed (` +
        read.regions
          .filter((r) => !r.ok)
          .map((r) => `${r.region}: ${r.error ?? 'failed'}`)
          .join('; ') +
        ')';
      return;
    }
    this.lastError = undefined;
    // Never go back: a slow refresh that started earlier does not replace a later one.
    if (this.refreshedAt !== null && startedAt < this.refreshedAt) return;
    this.refreshedAt = startedAt;
    // Epochs and revisions only rise: a bucket that missed the newest copy does not take it back.
    if (this.isNewer(read.state) || this.state === null) this.state = read.state;
  }

  private isNewer(s: ControlState): boolean {
    if (!this.state) return true;
    return s.epoch !== this.state.epoch
      ? s.epoch > this.state.epoch
      : (s.revision ?? 0) > (this.state.revision ?? 0);
  }

  /** Records a refresh that failed as a whole (no answer to count). */
  failed(error: string): void {
    this.lastError = error;
  }

  check(): LeaseDecision {
    const epoch = this.state?.epoch ?? 0;
    if (this.state === null || this.refreshedAt === null) {
      return { ok: false, epoch, reason: `region ${this.region} has not read the control state yet` };
    }
    const age = this.now() - this.refreshedAt;
    if (age >= this.writeLeaseMs) {
      return {
        ok: false,
        epoch,
        reason: `region ${this.region}'s write lease ran out (last read of the control state ${Math.round(age)} ms ago, lease ${this.writeLeaseMs} ms)`,
      };
    }
    if (this.state.halted.includes(this.region)) {
      return { ok: false, epoch, reason: `region ${this.region} is halted (epoch ${epoch})` };
    }
    if (this.state.writer !== this.region) {
      return {
        ok: false,
        epoch,
        reason: `region ${this.region} is not the writer (writer: ${this.state.writer ?? 'none'}, epoch ${epoch})`,
      };
    }
    return { ok: true };
  }

  status(): LeaseStatus {
    return {
      accepting: this.check().ok,
      writer: this.state?.writer ?? null,
      halted: this.state?.halted ?? [],
      epoch: this.state?.epoch ?? 0,
      leaseAgeMs: this.refreshedAt === null ? null : Math.round(this.now() - this.refreshedAt),
      writeLeaseMs: this.writeLeaseMs,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }
}

/**
 * Refreshes `lease` every `refreshMs` until stopped. Reads never overlap; a read that takes longer
 * than the interval delays the next one (and the lease runs out meanwhile if it must).
 */
export function startLeaseRefresh(
  lease: WriteLease,
  read: () => Promise<LeaseRead>,
  refreshMs: number,
  now: () => number,
): { stop(): void; refreshed: () => Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let waiters: (() => void)[] = [];
  const tick = async () => {
    const startedAt = now();
    try {
      lease.record(startedAt, await read());
    } catch (err) {
      lease.failed((err as Error).message);
    }
    const w = waiters;
    waiters = [];
    for (const f of w) f();
    if (!stopped) timer = setTimeout(() => void tick(), Math.max(0, refreshMs - (now() - startedAt)));
  };
  void tick();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    /** Resolves after the next refresh finishes. */
    refreshed: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}
