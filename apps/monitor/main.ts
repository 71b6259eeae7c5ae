import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { createLogger, type Logger } from '../../infra/logging/logger';
import { monitorConfigFromEnv } from '../../infra/health/monitor-config';
import {
  reportEverySeconds,
  settingsFor,
  type ProbeSettings,
  type ProbeTarget,
} from '../../infra/health/monitor-settings';
import { describeTarget, probeTarget, type ProbeOutcome } from '../../infra/health/probes';
import type { VerdictReport } from '../../infra/health/quorum-aggregator';
import { VantageVerdict } from '../../infra/health/region-detector';

/**
 * The monitor: one vantage point. Probes every region on its own schedule (same-site settings for
 * the region it runs in, cross-site for the others), turns probe results into a verdict per region,
 * reports each verdict change at once and re-sends its current verdicts every `reportEverySeconds`
 * (a heartbeat: the coordinator notices a silent monitor and a restarted one rebuilds its votes).
 * See docs/health-monitoring.md.
 *
 *   SWITCHYARD_MONITOR_VANTAGE=east-1 SWITCHYARD_MONITOR_SITE=east \
 *   SWITCHYARD_CONFIG=switchyard.yaml SWITCHYARD_MONITOR_APP=shop node dist/apps/monitor/main.js
 *
 * SWITCHYARD_MONITOR_TOKEN must be this vantage point's own monitor token (auth.tokens[].vantage):
 * the API refuses a report for any other vantage point (docs/security.md).
 */

interface Env {
  vantage: string;
  site: string;
  reportUrl: string | undefined;
  /** Sent with every report, for a coordinator that watches several apps (the API's /v1/monitor/reports). */
  app: string | undefined;
  /** Bearer token for the report URL. */
  token: string | undefined;
  metricsAddress: string | undefined;
}

function readEnv(): Env {
  const need = (name: string) => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  return {
    vantage: need('SWITCHYARD_MONITOR_VANTAGE'),
    site: need('SWITCHYARD_MONITOR_SITE'),
    reportUrl: process.env.SWITCHYARD_MONITOR_REPORT_URL || undefined,
    app: process.env.SWITCHYARD_MONITOR_APP || undefined,
    token: process.env.SWITCHYARD_MONITOR_TOKEN || undefined,
    metricsAddress: process.env.SWITCHYARD_MONITOR_METRICS_ADDRESS || undefined,
  };
}

class MonitorMetrics {
  readonly registry = new Registry();
  readonly latency = new Histogram({
    name: 'switchyard_monitor_probe_duration_seconds',
    help: 'Probe latency by region and result',
    labelNames: ['region', 'result'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'switchyard_monitor_probe_failures_total',
    help: 'Failed probes by region',
    labelNames: ['region'] as const,
    registers: [this.registry],
  });
  readonly verdict = new Gauge({
    name: 'switchyard_monitor_verdict',
    help: "This vantage point's verdict per region: 1 for the current verdict (up, down, unknown), 0 for the others",
    labelNames: ['region', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly reportFailures = new Counter({
    name: 'switchyard_monitor_report_failures_total',
    help: 'Verdict reports that could not be delivered (each is retried until a newer verdict replaces it)',
    registers: [this.registry],
  });
  readonly reports = new Counter({
    name: 'switchyard_monitor_reports_total',
    help: 'Verdict reports delivered, by kind: change (a new verdict) or heartbeat (the current one again)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor(vantage: string) {
    this.registry.setDefaultLabels({ vantage });
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_monitor_' });
  }

  setVerdict(region: string, verdict: 'up' | 'down' | 'unknown'): void {
    for (const v of ['up', 'down', 'unknown'] as const)
      this.verdict.set({ region, verdict: v }, v === verdict ? 1 : 0);
  }
}

/**
 * Delivers reports: a log line for each change, an HTTP POST when a URL is configured. Per region
 * only the newest report waits for delivery; a failed POST is retried with backoff until it
 * succeeds or a newer report (a change or a heartbeat) replaces it.
 */
class Reporter {
  private readonly pending = new Map<string, { report: VerdictReport; kind: 'change' | 'heartbeat' }>();
  private readonly sending = new Set<string>();
  private stopped = false;

  constructor(
    private readonly url: string | undefined,
    private readonly auth: { app?: string; token?: string },
    private readonly log: Logger,
    private readonly metrics: MonitorMetrics,
    /** Longest wait between two attempts: a heartbeat would come by then anyway (at least 1 s, at most 10 s). */
    private readonly maxRetryMs = 10_000,
  ) {}

  report(r: VerdictReport): void {
    this.log.info({ report: r }, `verdict on ${r.region}: ${r.verdict} (${r.reason})`);
    this.enqueue(r, 'change');
  }

  /** The current verdict again; never replaces a change still waiting for delivery. */
  heartbeat(r: VerdictReport): void {
    if (this.pending.get(r.region)?.kind === 'change') return;
    this.enqueue(r, 'heartbeat');
  }

  private enqueue(report: VerdictReport, kind: 'change' | 'heartbeat'): void {
    if (!this.url) return;
    this.pending.set(report.region, { report, kind });
    if (!this.sending.has(report.region)) void this.drain(report.region);
  }

  stop(): void {
    this.stopped = true;
  }

  private async drain(region: string): Promise<void> {
    this.sending.add(region);
    let attempt = 0;
    try {
      for (;;) {
        const next = this.pending.get(region);
        if (!next || this.stopped) return;
        // Dated when sent: the report holds the current verdict, and the API refuses an `at` more
        // than api.maxReportClockSkewSeconds from its clock, which a retry after an outage would be.
        const r = { ...next.report, at: new Date().toISOString() };
        try {
          const res = await fetch(this.url!, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(this.auth.token ? { authorization: `Bearer ${this.auth.token}` } : {}),
            },
            body: JSON.stringify(this.auth.app ? { app: this.auth.app, ...r } : r),
            signal: AbortSignal.timeout(5000),
          });
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          if (this.pending.get(region) === next) this.pending.delete(region);
          this.metrics.reports.inc({ kind: next.kind });
          attempt = 0;
        } catch (err) {
          this.metrics.reportFailures.inc();
          const waitMs = Math.min(this.maxRetryMs, 250 * 2 ** attempt++);
          this.log.warn({ err: (err as Error).message, region, retryInMs: waitMs }, 'report not delivered');
          await new Promise((resolve) => setTimeout(resolve, waitMs));
        }
      }
    } finally {
      this.sending.delete(region);
    }
  }
}

/** Probes one region from this vantage point at a fixed rate and tracks the verdict. */
class RegionProber {
  private timer: NodeJS.Timeout | undefined;
  private nextStart = 0;
  private readonly verdict: VantageVerdict;
  private stopped = false;
  /** The report of the current verdict, re-sent as the heartbeat. */
  private current: VerdictReport | undefined;

  constructor(
    private readonly vantage: string,
    private readonly region: string,
    private readonly target: ProbeTarget,
    private readonly settings: ProbeSettings,
    private readonly reporter: Reporter,
    private readonly metrics: MonitorMetrics,
  ) {
    this.verdict = new VantageVerdict(settings);
    metrics.setVerdict(region, 'unknown');
  }

  start(): void {
    this.nextStart = Date.now();
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Re-sends the current verdict (none before the first one). */
  heartbeat(): void {
    if (this.current) this.reporter.heartbeat({ ...this.current, at: new Date().toISOString() });
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const intervalMs = this.settings.intervalSeconds * 1000;
    const outcome = await probeTarget(this.target, this.settings.timeoutSeconds * 1000);
    this.record(outcome);
    if (this.stopped) return;
    // Fixed rate: the next probe starts one interval after this one started (at once when late,
    // and a late schedule does not try to catch up with the probes it missed).
    this.nextStart = Math.max(this.nextStart + intervalMs, Date.now());
    this.timer = setTimeout(() => void this.run(), this.nextStart - Date.now());
  }

  private record(o: ProbeOutcome): void {
    this.metrics.latency.observe({ region: this.region, result: o.ok ? 'ok' : 'failed' }, o.latencyMs / 1000);
    if (!o.ok) this.metrics.failures.inc({ region: this.region });
    const changed = this.verdict.observe(o.ok);
    if (!changed) return;
    this.metrics.setVerdict(this.region, changed);
    this.current = {
      vantage: this.vantage,
      region: this.region,
      verdict: changed,
      at: new Date().toISOString(),
      latencyMs: o.latencyMs,
      reason: o.reason,
    };
    this.reporter.report(this.current);
  }
}

function listen(server: Server, address: string): Promise<void> {
  const sep = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(sep + 1)), address.slice(0, sep), () => resolve());
  });
}

async function main(): Promise<void> {
  const log = createLogger('monitor');
  const env = readEnv();
  const config = monitorConfigFromEnv();
  const settings = config.settings;
  if (!config.vantagePoints.includes(env.vantage))
    log.warn(
      { vantage: env.vantage, vantagePoints: config.vantagePoints },
      `${env.vantage} is not one of the quorum's vantage points (monitoring.vantagePoints): the coordinator will refuse its reports`,
    );
  const metrics = new MonitorMetrics(env.vantage);
  const everyMs = reportEverySeconds(settings) * 1000;
  const reporter = new Reporter(
    env.reportUrl,
    { app: env.app, token: env.token },
    log,
    metrics,
    Math.min(10_000, Math.max(1_000, everyMs)),
  );

  let metricsServer: Server | undefined;
  if (env.metricsAddress) {
    metricsServer = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void metrics.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body);
      });
    });
    await listen(metricsServer, env.metricsAddress);
  }

  const probers = Object.entries(config.targets).map(([region, target]) => {
    const s = settingsFor(settings, env.site, region);
    log.info(
      { region, target: describeTarget(target), settings: s, sameSite: env.site === region },
      `probing ${region}`,
    );
    return new RegionProber(env.vantage, region, target, s, reporter, metrics);
  });
  for (const p of probers) p.start();
  const heartbeat = setInterval(() => {
    for (const p of probers) p.heartbeat();
  }, everyMs);
  log.info(
    {
      vantage: env.vantage,
      site: env.site,
      settingsFrom: config.source,
      reportUrl: env.reportUrl,
      reportEverySeconds: everyMs / 1000,
      metrics: env.metricsAddress,
    },
    'monitor started',
  );

  const shutdown = (signal: string) => {
    log.info({ signal }, 'monitor stopping');
    clearInterval(heartbeat);
    for (const p of probers) p.stop();
    reporter.stop();
    metricsServer?.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: Error) => {
  process.stderr.write(`monitor: ${err.message}\n`);
  process.exit(1);
});
