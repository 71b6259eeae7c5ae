/**
 * How the demo's two services stay a consistent pair: every write passes the WriteGate, and a
 * number service A stored reaches service B through the Handoff queue a little later. Closing
 * the gate and waiting for `gate.idle()` then `handoff.drained()` gives a moment where B holds
 * exactly what A holds: the consistent cut a restore point captures.
 */

/** Holds new writes while anyone holds it; counts the writes that already passed. */
export class WriteGate {
  private readonly holders = new Set<symbol>();
  private opened: (() => void)[] = [];
  private idled: (() => void)[] = [];
  private inflight = 0;
  /** Writes waiting for the gate to open. */
  waiting = 0;

  get held(): boolean {
    return this.holders.size > 0;
  }

  /** Waits while the gate is held, then counts the caller as in flight until `leave()`. */
  async enter(): Promise<void> {
    while (this.holders.size > 0) {
      this.waiting++;
      try {
        await new Promise<void>((resolve) => this.opened.push(resolve));
      } finally {
        this.waiting--;
      }
    }
    this.inflight++;
  }

  leave(): void {
    this.inflight--;
    if (this.inflight === 0) for (const resolve of this.idled.splice(0)) resolve();
  }

  /** Closes the gate; the returned function opens it again (once; later calls do nothing). */
  hold(): () => void {
    const token = Symbol('hold');
    this.holders.add(token);
    return () => {
      if (!this.holders.delete(token) || this.holders.size > 0) return;
      for (const resolve of this.opened.splice(0)) resolve();
    };
  }

  /** Resolves once no write is in flight. */
  idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idled.push(resolve));
  }
}

/**
 * An in-process queue from service A to service B: each number is delivered `delayMs` after it
 * was pushed, in push order. Until then A has it and B does not, as in any real handoff.
 */
export class Handoff {
  private queue: { n: number; due: number }[] = [];
  private drainedWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly delayMs: number,
    private readonly deliver: (ns: number[]) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  push(n: number): void {
    this.queue.push({ n, due: this.closed ? 0 : Date.now() + this.delayMs });
    if (this.closed) this.deliverUpTo(Number.POSITIVE_INFINITY);
    else this.schedule();
  }

  /** Resolves once every number pushed so far has been delivered. */
  drained(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }

  /**
   * Delivers everything still queued at once (a graceful stop hands over what A accepted); from
   * then on a number pushed is delivered at once, and a failed delivery is not retried.
   */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.deliverUpTo(Number.POSITIVE_INFINITY);
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0]!.due - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.deliverUpTo(Date.now());
    }, wait);
  }

  private deliverUpTo(now: number): void {
    let k = 0;
    while (k < this.queue.length && this.queue[k]!.due <= now) k++;
    if (k > 0) {
      try {
        this.deliver(this.queue.slice(0, k).map((x) => x.n));
        this.queue.splice(0, k);
      } catch (err) {
        this.onError(err as Error);
        if (this.closed) {
          this.queue.splice(0, k);
        } else {
          // Kept in the queue and tried again after another delay.
          const retryAt = Date.now() + this.delayMs;
          for (let i = 0; i < k; i++) this.queue[i]!.due = retryAt;
        }
      }
    }
    if (this.queue.length === 0) for (const resolve of this.drainedWaiters.splice(0)) resolve();
    else if (!this.closed) this.schedule();
  }
}
