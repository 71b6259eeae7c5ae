import { z } from 'zod';
import {
  RegionDetector,
  type RegionSnapshot,
  type RegionState,
  type RegionTransition,
  type Votes,
} from './region-detector';

/**
 * Collects the verdict reports of every vantage point (monitor processes), feeds one
 * RegionDetector per region and emits region transitions. This is the part a coordinator embeds:
 * it is fed only verdict changes and emits only state transitions, so a workflow that receives
 * its transitions gets a handful of events per outage, never one per probe.
 *
 * Its own clock decides (the time a report is received), also the order of the reports: monitors
 * run on other hosts whose clocks may differ, and a report dated ahead (a wrong clock or a forged
 * date) must not make the later reports of its vantage point look older and be ignored. A monitor
 * sends one report per region at a time (apps/monitor), so arrival order is its order.
 *
 * Monitors also re-send their current verdicts every `reportEverySeconds` (a heartbeat). A vantage
 * point with no report for `staleAfterSeconds` is silent: its verdicts count as `unknown` in every
 * region until it reports again (RegionDetector.setSilent).
 */

/** What a monitor sends when its verdict on a region changes, and again as a heartbeat. */
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
  /** A vantage point without a report for this long is silent; unset: never. */
  staleAfterSeconds?: number;
  /** Clock and timer, injectable for tests; default Date.now and setTimeout. */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => { clear(): void };
}

export type TransitionListener = (t: RegionTransition) => void;

/** A vantage point falling silent or reporting again after a silence. */
export interface VantageSilence {
  vantage: string;
  silent: boolean;
  /** When it was noticed (the aggregator's clock, ms). */
  at: number;
  /** Its last report before the silence (the aggregator's clock), undefined when none since the start. */
  lastReportAt: number | undefined;
  /** While resuming: since when it had been silent. */
  silentSince?: number;
}
export type SilenceListener = (s: VantageSilence) => void;

export interface ReceiveResult {
  transition: RegionTransition | undefined;
  /** Whether the report changed the vantage point's counted verdict (false for a heartbeat). */
  changed: boolean;
  /** Set when this report ended the vantage point's silence. */
  resumed: VantageSilence | undefined;
}

export class UnknownReporterError extends Error {
  override name = 'UnknownReporterError';
}

export class QuorumAggregator {
  private readonly detectors = new Map<string, RegionDetector>();
  private readonly timers = new Map<string, { at: number; clear(): void }>();
  private readonly listeners = new Set<TransitionListener>();
  private readonly silenceListeners = new Set<SilenceListener>();
  /** Per vantage point: its last report (any region), the silence timer, since when silent. */
  private readonly vantages = new Map<
    string,
    { lastReportAt: number | undefined; timer?: { clear(): void }; silentSince?: number }
  >();
  private readonly staleAfterMs: number | undefined;
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
    this.staleAfterMs =
      options.staleAfterSeconds === undefined ? undefined : options.staleAfterSeconds * 1000;
    for (const region of options.regions)
      this.detectors.set(
        region,
        new RegionDetector({
          region,
          vantagePoints: options.vantagePoints,
          recoverAfterMs: options.recoverAfterSeconds * 1000,
        }),
      );
    for (const v of options.vantagePoints) this.vantages.set(v, { lastReportAt: undefined });
  }

  /**
   * Starts counting silence for the vantage points that have not reported yet: one that still
   * has not reported `staleAfterSeconds` from now is silent. Called when reports can start to
   * arrive (the API's start takes a while; before it listens nobody can report).
   */
  startSilenceClock(): void {
    for (const [v, s] of this.vantages) if (s.lastReportAt === undefined && !s.timer) this.armSilence(v);
  }

  /** Calls `fn` when a vantage point falls silent or reports again; returns a function that unsubscribes. */
  onSilence(fn: SilenceListener): () => void {
    this.silenceListeners.add(fn);
    return () => this.silenceListeners.delete(fn);
  }

  /** Each vantage point's last report and, while silent, since when (the aggregator's clock, ms). */
  vantageStatus(): Record<string, { lastReportAt: number | undefined; silentSince: number | undefined }> {
    return Object.fromEntries(
      [...this.vantages].map(([v, s]) => [v, { lastReportAt: s.lastReportAt, silentSince: s.silentSince }]),
    );
  }

  /**
   * Takes over a region's state and history kept by the coordinator (after a restart); ignored
   * once the region has a state of its own here. Returns whether it was taken.
   */
  restore(region: string, snapshot: RegionSnapshot): boolean {
    const detector = this.detector(region);
    const taken = detector.restore(snapshot);
    if (taken) this.arm(detector);
    return taken;
  }

  /** Calls `fn` with every transition; returns a function that unsubscribes. */
  onTransition(fn: TransitionListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * One report, counted as of its arrival. Returns the transition it caused, if any. Throws
   * UnknownReporterError for a region or vantage point outside the configuration.
   */
  receive(report: VerdictReport): RegionTransition | undefined {
    return this.receiveReport(report).transition;
  }

  /** `receive`, also saying whether the verdict changed and whether a silence ended. */
  receiveReport(report: VerdictReport): ReceiveResult {
    const detector = this.detectors.get(report.region);
    if (!detector) throw new UnknownReporterError(`unknown region "${report.region}"`);
    const vantage = this.vantages.get(report.vantage);
    if (!vantage) throw new UnknownReporterError(`unknown vantage point "${report.vantage}"`);
    const now = this.now();
    // Any report, even an overtaken retry, shows that the vantage point is alive.
    const lastReportAt = vantage.lastReportAt;
    vantage.lastReportAt = now;
    let resumed: VantageSilence | undefined;
    if (vantage.silentSince !== undefined) {
      resumed = {
        vantage: report.vantage,
        silent: false,
        at: now,
        lastReportAt,
        silentSince: vantage.silentSince,
      };
      vantage.silentSince = undefined;
    }
    this.armSilence(report.vantage);
    if (resumed) for (const fn of this.silenceListeners) fn(resumed);

    const before = detector.verdictOf(report.vantage);
    const wasSilent = detector.votes().byVantage[report.vantage]?.silentSince !== null;
    const transition = this.after(detector, detector.report(report.vantage, report.verdict, now));
    return { transition, changed: before !== report.verdict || wasSilent, resumed };
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
    for (const v of this.vantages.values()) v.timer?.clear();
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

  /** (Re)arms the vantage point's silence timer from its last report (or from now, before any). */
  private armSilence(vantage: string): void {
    const v = this.vantages.get(vantage)!;
    v.timer?.clear();
    v.timer = undefined;
    if (this.closed || this.staleAfterMs === undefined || v.silentSince !== undefined) return;
    v.timer = this.setTimer(() => {
      v.timer = undefined;
      this.fallSilent(vantage);
    }, this.staleAfterMs);
  }

  private fallSilent(vantage: string): void {
    const v = this.vantages.get(vantage)!;
    const now = this.now();
    v.silentSince = now;
    const event: VantageSilence = { vantage, silent: true, at: now, lastReportAt: v.lastReportAt };
    for (const fn of this.silenceListeners) fn(event);
    for (const detector of this.detectors.values()) this.after(detector, detector.setSilent(vantage, now));
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
