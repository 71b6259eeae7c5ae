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

export interface Votes {
  up: number;
  down: number;
  /** Vantage points that have not given a verdict yet. */
  unknown: number;
  total: number;
  byVantage: Record<string, Verdict | 'unknown'>;
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
    const byVantage = Object.fromEntries(this.verdicts);
    const values = [...this.verdicts.values()];
    return {
      up: values.filter((v) => v === 'up').length,
      down: values.filter((v) => v === 'down').length,
      unknown: values.filter((v) => v === 'unknown').length,
      total: values.length,
      byVantage,
    };
  }

  /** A vantage point's new verdict. Throws for a vantage point outside the quorum. */
  report(vantage: string, verdict: Verdict, now: number): RegionTransition | undefined {
    if (!this.verdicts.has(vantage))
      throw new Error(`vantage point "${vantage}" is not one of ${this.options.vantagePoints.join(', ')}`);
    this.verdicts.set(vantage, verdict);
    return this.evaluate(now, `${vantage} says ${verdict}`);
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
    if (v.up >= majority) return v.down > 0 ? 'degraded' : 'healthy';
    // Neither side has a majority: with unknowns, wait for them; without, the votes are split.
    return v.unknown > 0 ? 'undecided' : 'degraded';
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
      case 'unknown':
        // First sight: nothing recovered, nothing to damp.
        return reading === 'undecided' ? undefined : this.move(reading, now, reason);
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
