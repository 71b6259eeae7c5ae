import { z } from 'zod';
import { RegionDetector, type RegionState, type RegionTransition, type Votes } from './region-detector';

/**
 * Collects the verdict reports of every vantage point (monitor processes), feeds one
 * RegionDetector per region and emits region transitions. This is the part a coordinator embeds:
 * it is fed only verdict changes and emits only state transitions, so a workflow that receives
 * its transitions gets a handful of events per outage, never one per probe.
 *
 * Its own clock decides (the time a report is received): monitors run on other hosts whose
 * clocks may differ; their `at` only orders the reports of one vantage point.
 */

/** What a monitor sends when its verdict on a region changes. */
export const verdictReportSchema = z
  .object({
    vantage: z.string().min(1),
    region: z.string().min(1),
    verdict: z.enum(['up', 'down']),
    /** The monitor's clock, ISO 8601. */
    at: z.string().datetime(),
    /** Latency of the probe that decided the verdict. */
    latencyMs: z.number().min(0),
    /** Why the probe that decided it failed, or `ok`. */
    reason: z.string(),
  })
  .strict();
export type VerdictReport = z.infer<typeof verdictReportSchema>;

export interface QuorumAggregatorOptions {
  regions: string[];
  vantagePoints: string[];
  recoverAfterSeconds: number;
  /** Clock and timer, injectable for tests; default Date.now and setTimeout. */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => { clear(): void };
}

export type TransitionListener = (t: RegionTransition) => void;

export class UnknownReporterError extends Error {
  override name = 'UnknownReporterError';
}

export class QuorumAggregator {
  private readonly detectors = new Map<string, RegionDetector>();
  private readonly timers = new Map<string, { at: number; clear(): void }>();
  private readonly lastAt = new Map<string, number>();
  private readonly listeners = new Set<TransitionListener>();
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => { clear(): void };
  private closed = false;

  constructor(options: QuorumAggregatorOptions) {
    this.now = options.now ?? Date.now;
    this.setTimer =
      options.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return { clear: () => clearTimeout(t) };
      });
    for (const region of options.regions)
      this.detectors.set(
        region,
        new RegionDetector({
          region,
          vantagePoints: options.vantagePoints,
          recoverAfterMs: options.recoverAfterSeconds * 1000,
        }),
      );
  }

  /** Calls `fn` with every transition; returns a function that unsubscribes. */
  onTransition(fn: TransitionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * One report. Returns the transition it caused, if any. Reports older than the last one of the
   * same vantage point for the same region (a retry overtaken by a newer report) are ignored.
   * Throws UnknownReporterError for a region or vantage point outside the configuration.
   */
  receive(report: VerdictReport): RegionTransition | undefined {
    const detector = this.detectors.get(report.region);
    if (!detector) throw new UnknownReporterError(`unknown region "${report.region}"`);
    if (!(report.vantage in detector.votes().byVantage))
      throw new UnknownReporterError(`unknown vantage point "${report.vantage}"`);
    const key = `${report.vantage}\u0000${report.region}`;
    const at = Date.parse(report.at);
    if (at < (this.lastAt.get(key) ?? -Infinity)) return undefined;
    this.lastAt.set(key, at);
    return this.after(detector, detector.report(report.vantage, report.verdict, this.now()));
  }

  /** Marks a region fenced (halted) or lifts it; set by the coordinator, not by probes. */
  setHalted(region: string, halted: boolean, reason: string): RegionTransition | undefined {
    const detector = this.detector(region);
    return this.after(detector, detector.setHalted(halted, this.now(), reason));
  }

  state(region: string): RegionState {
    return this.detector(region).state;
  }

  votes(region: string): Votes {
    return this.detector(region).votes();
  }

  history(region: string): readonly RegionTransition[] {
    return this.detector(region).history;
  }

  states(): Record<string, RegionState> {
    return Object.fromEntries([...this.detectors].map(([r, d]) => [r, d.state]));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) t.clear();
    this.timers.clear();
    this.listeners.clear();
  }

  private detector(region: string): RegionDetector {
    const d = this.detectors.get(region);
    if (!d) throw new UnknownReporterError(`unknown region "${region}"`);
    return d;
  }

  /** Emits a transition and (re)arms the region's damping timer. */
  private after(detector: RegionDetector, t: RegionTransition | undefined): RegionTransition | undefined {
    if (t) for (const fn of this.listeners) fn(t);
    this.arm(detector);
    return t;
  }

  private arm(detector: RegionDetector): void {
    if (this.closed) return;
    const due = detector.nextDeadline();
    const armed = this.timers.get(detector.region);
    if (armed && armed.at === due) return;
    armed?.clear();
    this.timers.delete(detector.region);
    if (due === undefined) return;
    const timer = this.setTimer(
      () => {
        this.timers.delete(detector.region);
        this.after(detector, detector.tick(this.now()));
      },
      Math.max(0, due - this.now()),
    );
    this.timers.set(detector.region, { at: due, clear: timer.clear });
  }
}
