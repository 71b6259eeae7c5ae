/**
 * Region failure detection as pure state machines: no timers, no clock, no I/O. Time is an input
 * (`now`, milliseconds), so tests simulate minutes in milliseconds and a coordinator replays the
 * same decisions from the same inputs. See docs/health-monitoring.md.
 *
 * Two layers:
 * - `VantageVerdict`: one vantage point's view of one region, from consecutive probe results and
 *   thresholds (hysteresis): `down` after `failureThreshold` failures in a row, `up` again after
 *   `successThreshold` successes in a row. Runs in the monitor process.
 * - `RegionDetector`: the quorum over every vantage point's verdict, with flap damping, giving the
 *   region's state. Runs where the verdicts are collected (QuorumAggregator, the coordinator).
 */

export type Verdict = 'up' | 'down';

export interface VerdictThresholds {
  failureThreshold: number;
  successThreshold: number;
}

/** One vantage point's verdict on one region, from consecutive probe results. */
export class VantageVerdict {
  private current: Verdict | 'unknown' = 'unknown';
  private failures = 0;
  private successes = 0;

  constructor(private readonly thresholds: VerdictThresholds) {}

  get verdict(): Verdict | 'unknown' {
    return this.current;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records one probe result; returns the new verdict when it changed. */
  observe(ok: boolean): Verdict | undefined {
    if (ok) {
      this.successes++;
      this.failures = 0;
      if (this.current !== 'up' && this.successes >= this.thresholds.successThreshold) {
        this.current = 'up';
        return 'up';
      }
    } else {
      this.failures++;
      this.successes = 0;
      if (this.current !== 'down' && this.failures >= this.thresholds.failureThreshold) {
        this.current = 'down';
        return 'down';
      }
    }
    return undefined;
  }
}

/**
 * `unknown` until a majority of vantage points has given a verdict; `halted` is set from outside
 * (a fenced region) and wins over the votes.
 */
export type RegionState = 'unknown' | 'healthy' | 'degraded' | 'down' | 'halted';

/** One vantage point's vote on one region. */
export interface VantageVote {
  /** What counts in the quorum: its reported verdict; `unknown` before its first report and while silent. */
  verdict: Verdict | 'unknown';
  /** ISO time since when it has been silent (no report for `staleAfterSeconds`); null while it reports. */
  silentSince: string | null;
}

export interface Votes {
  up: number;
  down: number;
  /** Vantage points without a verdict: none reported yet, or silent. */
  unknown: number;
  /** Of `unknown`, those that are silent. */
  silent: number;
  total: number;
  byVantage: Record<string, VantageVote>;
}

/** What a coordinator keeps of a region's state to restore it after a restart (no votes). */
export interface RegionSnapshot {
  state: RegionState;
  /** Oldest first. */
  history: RegionTransition[];
}

export interface RegionTransition {
  region: string;
  from: RegionState;
  to: RegionState;
  /** Milliseconds since the epoch (or the simulation's zero). */
  at: number;
  reason: string;
  votes: Votes;
}

export interface RegionDetectorOptions {
  region: string;
  /** Every vantage point of the quorum; a majority of this list decides. */
  vantagePoints: string[];
  /** Flap damping: continuous healthy time before a recovered region counts as healthy. */
  recoverAfterMs: number;
  /** How many transitions `history` keeps (newest last); default 100. */
  historyLimit?: number;
}

/** What the votes say right now, before damping. */
type Reading = 'healthy' | 'degraded' | 'down' | 'undecided';

export class RegionDetector {
  private readonly verdicts = new Map<string, Verdict | 'unknown'>();
  /** Silent vantage points, with since when (ms). */
  private readonly silentSince = new Map<string, number>();
  private current: RegionState = 'unknown';
  private halted = false;
  /** Since when a majority has continuously said `up` (undefined while it does not). */
  private majorityUpSince: number | undefined;
  /** Since when every vantage point that has a verdict has continuously said `up`. */
  private allUpSince: number | undefined;
  private readonly transitions: RegionTransition[] = [];
  private readonly historyLimit: number;

  constructor(private readonly options: RegionDetectorOptions) {
    if (options.vantagePoints.length === 0)
      throw new Error('a region detector needs at least one vantage point');
    for (const v of options.vantagePoints) this.verdicts.set(v, 'unknown');
    this.historyLimit = options.historyLimit ?? 100;
  }

  get region(): string {
    return this.options.region;
  }

  get state(): RegionState {
    return this.current;
  }

  /** The newest transitions, oldest first. */
  get history(): readonly RegionTransition[] {
    return this.transitions;
  }

  votes(): Votes {
    const byVantage = Object.fromEntries(
      [...this.verdicts].map(([v, verdict]) => {
        const since = this.silentSince.get(v);
        return [v, { verdict, silentSince: since === undefined ? null : new Date(since).toISOString() }];
      }),
    );
    const values = [...this.verdicts.values()];
    return {
      up: values.filter((v) => v === 'up').length,
      down: values.filter((v) => v === 'down').length,
      unknown: values.filter((v) => v === 'unknown').length,
      silent: this.silentSince.size,
      total: values.length,
      byVantage,
    };
  }

  /** The vantage point's counted verdict (`unknown` while silent). */
  verdictOf(vantage: string): Verdict | 'unknown' | undefined {
    return this.verdicts.get(vantage);
  }

  /** A vantage point's new verdict; a silent one reports again. Throws for one outside the quorum. */
  report(vantage: string, verdict: Verdict, now: number): RegionTransition | undefined {
    if (!this.verdicts.has(vantage))
      throw new Error(`vantage point "${vantage}" is not one of ${this.options.vantagePoints.join(', ')}`);
    if (this.verdicts.get(vantage) === verdict && !this.silentSince.has(vantage)) return undefined;
    this.verdicts.set(vantage, verdict);
    this.silentSince.delete(vantage);
    return this.evaluate(now, `${vantage} says ${verdict}`);
  }

  /**
   * A vantage point that stopped reporting: its verdict counts as `unknown` until it reports again.
   * Silence alone never makes a region `down` (that takes a majority of `down` verdicts) nor lets it
   * recover; it keeps a region from being `healthy` (docs/health-monitoring.md).
   */
  setSilent(vantage: string, now: number): RegionTransition | undefined {
    if (!this.verdicts.has(vantage) || this.silentSince.has(vantage)) return undefined;
    this.verdicts.set(vantage, 'unknown');
    this.silentSince.set(vantage, now);
    return this.evaluate(now, `${vantage} is silent`);
  }

  /**
   * Takes over a state and history kept elsewhere (the app's controller) after a restart; the
   * votes start `unknown` and are rebuilt by the monitors' next reports. Only before anything
   * happened here: a detector with a state or history of its own ignores it.
   */
  restore(snapshot: RegionSnapshot): boolean {
    if (this.current !== 'unknown' || this.transitions.length > 0) return false;
    this.current = snapshot.state;
    this.halted = snapshot.state === 'halted';
    this.transitions.push(...snapshot.history.slice(-this.historyLimit));
    return true;
  }

  /** A fenced region is `halted` whatever the votes say; lifting it re-reads the votes. */
  setHalted(halted: boolean, now: number, reason: string): RegionTransition | undefined {
    if (halted === this.halted) return undefined;
    this.halted = halted;
    if (halted) return this.move('halted', now, reason);
    // Back from halted it is not healthy until damping says so, as after an outage.
    const reading = this.read();
    return (
      this.move(reading === 'healthy' || reading === 'undecided' ? 'degraded' : reading, now, reason) ??
      this.evaluate(now, reason)
    );
  }

  /** Applies damping deadlines that have passed; call at `nextDeadline()` (no input changed). */
  tick(now: number): RegionTransition | undefined {
    return this.evaluate(now, 'stayed healthy through flap damping');
  }

  /** When the state changes next if no verdict changes (a damping deadline), else undefined. */
  nextDeadline(): number | undefined {
    if (this.halted) return undefined;
    const due = (since: number | undefined) =>
      since === undefined ? undefined : since + this.options.recoverAfterMs;
    if (this.current === 'down') return due(this.allUpSince ?? this.majorityUpSince);
    if (this.current === 'degraded') return due(this.allUpSince);
    return undefined;
  }

  private read(): Reading {
    const v = this.votes();
    const majority = Math.floor(v.total / 2) + 1;
    if (v.down >= majority) return 'down';
    // A silent vantage point may be the one that would say down: not healthy, at most degraded.
    if (v.up >= majority) return v.down > 0 || v.silent > 0 ? 'degraded' : 'healthy';
    // Neither side has a majority: with unknowns, wait for them (unless some are silent: they may
    // never answer); without, the votes are split.
    return v.unknown > v.silent ? 'undecided' : 'degraded';
  }

  private evaluate(now: number, reason: string): RegionTransition | undefined {
    const reading = this.read();
    if (this.votes().up < Math.floor(this.verdicts.size / 2) + 1) this.majorityUpSince = undefined;
    else this.majorityUpSince ??= now;
    if (reading !== 'healthy') this.allUpSince = undefined;
    else this.allUpSince ??= now;

    if (this.halted) return undefined;
    const damped = (since: number | undefined) =>
      since !== undefined && now - since >= this.options.recoverAfterMs;
    switch (this.current) {
      case 'unknown': {
        // First sight: nothing recovered, nothing to damp. Unknown until a majority has given a
        // verdict: silent vantage points alone tell nothing about the region.
        const v = this.votes();
        if (reading === 'undecided' || v.up + v.down < Math.floor(v.total / 2) + 1) return undefined;
        return this.move(reading, now, reason);
      }
      case 'healthy':
        return reading === 'down' || reading === 'degraded' ? this.move(reading, now, reason) : undefined;
      case 'degraded':
        if (reading === 'down') return this.move('down', now, reason);
        if (reading === 'healthy' && damped(this.allUpSince))
          return this.move('healthy', now, this.recoveredReason(reason));
        return undefined;
      case 'down':
        if (!damped(this.majorityUpSince)) return undefined;
        // All up again: wait until that, too, has lasted (one transition, not down → degraded →
        // healthy); a minority still failing: degraded.
        if (reading !== 'healthy') return this.move('degraded', now, this.recoveredReason(reason));
        return damped(this.allUpSince) ? this.move('healthy', now, this.recoveredReason(reason)) : undefined;
      case 'halted':
        return undefined;
    }
  }

  private recoveredReason(reason: string): string {
    return `${reason}; healthy majority for ${this.options.recoverAfterMs / 1000} s`;
  }

  private move(to: RegionState, at: number, reason: string): RegionTransition | undefined {
    if (to === this.current) return undefined;
    const t: RegionTransition = {
      region: this.options.region,
      from: this.current,
      to,
      at,
      reason,
      votes: this.votes(),
    };
    this.current = to;
    this.transitions.push(t);
    if (this.transitions.length > this.historyLimit) this.transitions.shift();
    return t;
  }
}
