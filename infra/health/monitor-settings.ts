import { z } from 'zod';

/**
 * Settings of region health monitoring (docs/health-monitoring.md). `monitoringSchema` is meant to
 * become `apps.<app>.monitoring` in switchyard.yaml; until then the monitor process reads a file
 * of its own (`monitorFileSchema`): the same settings with the probe target of every region.
 */

const regionName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,39}$/,
    'expected a lowercase name: a letter, then letters, digits or dashes (max 40)',
  );

const httpUrl = z
  .string()
  .url('expected a URL')
  .refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL');

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port, e.g. 10.0.0.5:5432');

/** What one probe checks: a 2xx answer from an http(s) URL, or a TCP connection accepted. */
export const probeTargetSchema = z.union([
  z.object({ http: httpUrl }).strict(),
  z.object({ tcp: hostPort }).strict(),
]);
export type ProbeTarget = z.infer<typeof probeTargetSchema>;

/** Probe timing and the thresholds that turn probe results into one vantage point's verdict. */
export const probeSettingsSchema = z
  .object({
    /** Time between the starts of two probes of one region from one vantage point. */
    intervalSeconds: z.number().min(0.05).max(3600),
    /** A probe without an answer by then fails; at most the interval, so probes never overlap. */
    timeoutSeconds: z.number().min(0.01).max(3600),
    /** Consecutive failed probes that make the vantage point's verdict `down`. */
    failureThreshold: z.number().int().min(1).max(100),
    /** Consecutive successful probes that make it `up` again. */
    successThreshold: z.number().int().min(1).max(100),
  })
  .strict()
  .refine((s) => s.timeoutSeconds <= s.intervalSeconds, {
    message: 'timeoutSeconds must not exceed intervalSeconds',
    path: ['timeoutSeconds'],
  });
export type ProbeSettings = z.infer<typeof probeSettingsSchema>;

/**
 * Thresholds chosen so that probes failing at random with 20 % probability do not make a region
 * down: with 3 vantage points (one same-site) 3/20 000 simulated 10-minute runs reached `down`
 * with 4 and 6, against 126/3000 with 3 and 4 (docs/health-monitoring.md).
 */
export const DEFAULT_SAME_SITE: ProbeSettings = {
  intervalSeconds: 1,
  timeoutSeconds: 0.8,
  failureThreshold: 4,
  successThreshold: 2,
};

/** Cross-site paths cross WANs: slower answers and more transient loss, hence more tolerance. */
export const DEFAULT_CROSS_SITE: ProbeSettings = {
  intervalSeconds: 2,
  timeoutSeconds: 1.5,
  failureThreshold: 6,
  successThreshold: 2,
};

export const DEFAULT_RECOVER_AFTER_SECONDS = 30;
/** How often a monitor re-sends its current verdicts (a heartbeat), besides each change at once. */
export const DEFAULT_REPORT_EVERY_SECONDS = 10;
/** A vantage point silent for this many report intervals counts as silent. */
export const STALE_AFTER_REPORTS = 3;

export const monitoringSchema = z
  .object({
    /** Probing a region from a vantage point in that same region. */
    sameSite: probeSettingsSchema.default(DEFAULT_SAME_SITE),
    /** Probing a region from a vantage point elsewhere. */
    crossSite: probeSettingsSchema.default(DEFAULT_CROSS_SITE),
    /** Flap damping: how long a recovered region must stay healthy before it counts as healthy. */
    recoverAfterSeconds: z.number().min(0).max(86400).default(DEFAULT_RECOVER_AFTER_SECONDS),
    /** Each monitor re-sends its current verdicts this often (a heartbeat); changes go at once. */
    reportEverySeconds: z.number().min(0.1).max(3600).optional(),
    /**
     * A vantage point with no report for this long is silent: its verdicts count as `unknown`.
     * Default: 3 × reportEverySeconds. Must exceed reportEverySeconds.
     */
    staleAfterSeconds: z.number().min(0.1).max(86400).optional(),
    /**
     * The vantage points whose verdicts form the quorum; a majority of this list decides `down`.
     * A vantage point missing from the list is refused when it reports.
     */
    vantagePoints: z.array(regionName).min(1).optional(),
    /** Probe target per region; in switchyard.yaml a missing region would fall back to its healthUrl. */
    targets: z.record(regionName, probeTargetSchema).optional(),
  })
  .strict()
  .refine((m) => !m.vantagePoints || new Set(m.vantagePoints).size === m.vantagePoints.length, {
    message: 'vantage points must be unique',
    path: ['vantagePoints'],
  })
  .refine((m) => m.staleAfterSeconds === undefined || m.staleAfterSeconds > reportEverySeconds(m), {
    message:
      'staleAfterSeconds must exceed reportEverySeconds (a vantage point would be silent between two heartbeats)',
    path: ['staleAfterSeconds'],
  });
export type MonitoringSettings = z.infer<typeof monitoringSchema>;

/** How often monitors re-send their verdicts: `reportEverySeconds`, else 10. */
export function reportEverySeconds(m: { reportEverySeconds?: number }): number {
  return m.reportEverySeconds ?? DEFAULT_REPORT_EVERY_SECONDS;
}

/** When a vantage point counts as silent: `staleAfterSeconds`, else 3 × the report interval. */
export function staleAfterSeconds(m: { reportEverySeconds?: number; staleAfterSeconds?: number }): number {
  return m.staleAfterSeconds ?? reportEverySeconds(m) * STALE_AFTER_REPORTS;
}

/** The monitor process's own file: the settings, with a target for every region to probe. */
export const monitorFileSchema = z
  .object({
    monitoring: monitoringSchema,
  })
  .strict()
  .refine((f) => f.monitoring.targets && Object.keys(f.monitoring.targets).length > 0, {
    message: 'define monitoring.targets: at least one region to probe',
    path: ['monitoring', 'targets'],
  });
export type MonitorFile = z.infer<typeof monitorFileSchema>;

/** Same-site settings when the vantage point runs in the probed region, cross-site otherwise. */
export function settingsFor(m: MonitoringSettings, vantageSite: string, region: string): ProbeSettings {
  return vantageSite === region ? m.sameSite : m.crossSite;
}

/**
 * The worst-case time from a region failing to one vantage point's `down` verdict: the failing
 * probes start at most one interval apart, the first within an interval of the failure, and the
 * last may take up to the timeout. Bounded by interval × (threshold + 1) since timeout ≤ interval.
 */
export function detectionBoundMs(s: ProbeSettings): number {
  return (s.intervalSeconds * s.failureThreshold + s.timeoutSeconds) * 1000;
}
