import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  settingsFor,
  type MonitoringSettings,
  type ProbeSettings,
} from '../../infra/health/monitor-settings';
import {
  QuorumAggregator,
  verdictReportSchema,
  type VerdictReport,
} from '../../infra/health/quorum-aggregator';
import type { RegionState, RegionTransition } from '../../infra/health/region-detector';
import { freePort } from '../../infra/stack/free-port';
import { Supervisor } from '../../infra/stack/supervisor';

/**
 * Real processes: two HTTP servers on loopback act as the regions east and west, three monitor
 * processes (vantage points east, west, third) probe both, and a receiver here feeds their
 * reports into a QuorumAggregator. Short settings keep it to seconds; every timing bound is
 * derived from them plus SLACK_MS.
 */

const settings: MonitoringSettings = {
  sameSite: { intervalSeconds: 0.25, timeoutSeconds: 0.2, failureThreshold: 3, successThreshold: 2 },
  crossSite: { intervalSeconds: 0.4, timeoutSeconds: 0.3, failureThreshold: 3, successThreshold: 2 },
  recoverAfterSeconds: 2,
};
const REGIONS = ['east', 'west'] as const;
const VANTAGES = [
  { name: 'east', site: 'east' },
  { name: 'west', site: 'west' },
  { name: 'third', site: 'elsewhere' },
];
/**
 * Process scheduling on a loaded 2-CPU box: a monitor's timer firing late, the report's POST and
 * its handling here. Not part of the detection model, so kept apart from the bound.
 */
const SLACK_MS = 1000;
const RECOVER_MS = settings.recoverAfterSeconds * 1000;

/** interval × threshold + one interval for each vantage point; the majority-th smallest decides. */
function quorumBound(region: string, per: (s: ProbeSettings) => number): number {
  const bounds = VANTAGES.map((v) => per(settingsFor(settings, v.site, region))).sort((a, b) => a - b);
  return bounds[Math.floor(VANTAGES.length / 2)]!;
}
const detectBound = (region: string) =>
  quorumBound(region, (s) => s.intervalSeconds * (s.failureThreshold + 1) * 1000);
/** Every vantage point must say up again before damping counts (successThreshold + 1 intervals). */
const upBound = (region: string) =>
  Math.max(
    ...VANTAGES.map((v) => settingsFor(settings, v.site, region)).map(
      (s) => s.intervalSeconds * (s.successThreshold + 1) * 1000,
    ),
  );

/** A region: answers /healthz with 200, or late (beyond every timeout) when slowed; can stop. */
class RegionServer {
  private server: Server | undefined;
  slowMs = 0;
  private readonly held = new Set<NodeJS.Timeout>();
  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/healthz`;
  }

  start(): Promise<void> {
    const server = createServer((_req, res) => {
      if (this.slowMs === 0) return void res.end('ok');
      const t = setTimeout(() => {
        this.held.delete(t);
        res.end('late');
      }, this.slowMs);
      this.held.add(t);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** Stops listening and drops every open connection, as a dead region would. */
  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const t of this.held) clearTimeout(t);
    this.held.clear();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** Receives monitor reports over HTTP and feeds whichever aggregator is current. */
class Receiver {
  private server: Server | undefined;
  aggregator: QuorumAggregator | undefined;
  readonly reports: VerdictReport[] = [];
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const parsed = verdictReportSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        if (!parsed.success) return void res.writeHead(400).end();
        this.reports.push(parsed.data);
        this.aggregator?.receive(parsed.data);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The next transition of `region` to `to`; subscribe before causing it. */
function nextTransition(
  agg: QuorumAggregator,
  region: string,
  to: RegionState,
  timeoutMs: number,
): Promise<RegionTransition> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${region} did not become ${to} within ${timeoutMs} ms (now ${agg.state(region)})`));
    }, timeoutMs);
    const off = agg.onTransition((t) => {
      if (t.region !== region || t.to !== to) return;
      clearTimeout(timer);
      off();
      resolve(t);
    });
  });
}

describe('monitor processes and quorum (real HTTP regions on loopback)', () => {
  let dir: string;
  let supervisor: Supervisor;
  const regions = new Map<string, RegionServer>();
  const receiver = new Receiver();
  const metricsPorts = new Map<string, number>();
  /** Generous timeout for awaited events: a failure shows as a clear message, not a hang. */
  const WAIT_MS = 30_000;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-monitor-'));
    supervisor = new Supervisor(dir, { handleSignals: false });
    for (const r of REGIONS) {
      const server = new RegionServer(await freePort());
      await server.start();
      regions.set(r, server);
    }
    await receiver.start();
  });

  after(async () => {
    await supervisor.stopAll();
    for (const r of regions.values()) await r.stop();
    await receiver.stop();
    receiver.aggregator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the three monitors; `targetsFor` may give one vantage point other targets. */
  async function startMonitors(
    run: string,
    targetsFor: (vantage: string) => Record<string, { http: string }>,
  ): Promise<void> {
    for (const v of VANTAGES) {
      const file = join(dir, `${run}-${v.name}.json`);
      writeFileSync(file, JSON.stringify({ monitoring: { ...settings, targets: targetsFor(v.name) } }));
      const metricsPort = await freePort();
      metricsPorts.set(v.name, metricsPort);
      await supervisor.start({
        name: `monitor-${run}-${v.name}`,
        command: process.execPath,
        args: [join(__dirname, '../../apps/monitor/main.js')],
        env: {
          ...process.env,
          SWITCHYARD_MONITOR_VANTAGE: v.name,
          SWITCHYARD_MONITOR_SITE: v.site,
          SWITCHYARD_MONITOR_SETTINGS: file,
          SWITCHYARD_MONITOR_REPORT_URL: `http://127.0.0.1:${receiver.port}/reports`,
          SWITCHYARD_MONITOR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        },
        readiness: { kind: 'http', url: `http://127.0.0.1:${metricsPort}/metrics` },
        graceMs: 2000,
      });
    }
  }

  const realTargets = () => Object.fromEntries(REGIONS.map((r) => [r, { http: regions.get(r)!.url }]));

  it('detects a stopped region and a slowed one within the bound; recovery waits for flap damping', async () => {
    const agg = new QuorumAggregator({
      regions: [...REGIONS],
      vantagePoints: VANTAGES.map((v) => v.name),
      recoverAfterSeconds: settings.recoverAfterSeconds,
    });
    receiver.aggregator = agg;
    const healthy = REGIONS.map((r) => nextTransition(agg, r, 'healthy', WAIT_MS));
    await startMonitors('a', realTargets);
    await Promise.all(healthy);
    const east = regions.get('east')!;
    const bound = detectBound('east');

    // Stopped.
    let down = nextTransition(agg, 'east', 'down', WAIT_MS);
    let failedAt = Date.now();
    await east.stop();
    let t = await down;
    assert.ok(
      t.at - failedAt <= bound + SLACK_MS,
      `stopped: down after ${t.at - failedAt} ms > ${bound} + ${SLACK_MS}`,
    );
    assert.ok(t.votes.down >= 2, JSON.stringify(t.votes));

    // Back: healthy only after recoverAfterSeconds of healthy majority.
    let back = nextTransition(agg, 'east', 'healthy', WAIT_MS);
    let backAt = Date.now();
    await east.start();
    t = await back;
    assert.ok(t.at - backAt >= RECOVER_MS, `healthy again after ${t.at - backAt} ms < ${RECOVER_MS}`);
    assert.ok(
      t.at - backAt <= RECOVER_MS + upBound('east') + SLACK_MS,
      `healthy again after ${t.at - backAt} ms`,
    );

    // Slowed beyond every timeout.
    down = nextTransition(agg, 'east', 'down', WAIT_MS);
    failedAt = Date.now();
    east.slowMs = 3 * settings.crossSite.timeoutSeconds * 1000;
    t = await down;
    assert.ok(
      t.at - failedAt <= bound + SLACK_MS,
      `slowed: down after ${t.at - failedAt} ms > ${bound} + ${SLACK_MS}`,
    );
    back = nextTransition(agg, 'east', 'healthy', WAIT_MS);
    backAt = Date.now();
    east.slowMs = 0;
    t = await back;
    assert.ok(t.at - backAt >= RECOVER_MS, `healthy again after ${t.at - backAt} ms < ${RECOVER_MS}`);

    // West never moved; east's history is its outages, nothing per probe.
    assert.deepEqual(
      agg.history('west').map((x) => x.to),
      ['healthy'],
    );
    assert.ok(agg.history('east').filter((x) => x.to === 'down').length === 2);
    // Only verdict changes were reported, while the monitors probed many times more.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPorts.get('third')}/metrics`)).text();
    const probes = [
      ...metrics.matchAll(
        /switchyard_monitor_probe_duration_seconds_count\{[^}]*region="east"[^}]*\} (\d+)/g,
      ),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
    // A retried delivery may arrive twice: the same report, counted once.
    const reported = [
      ...new Map(
        receiver.reports
          .filter((r) => r.vantage === 'third' && r.region === 'east')
          .map((r) => [JSON.stringify(r), r]),
      ).values(),
    ];
    // Each report is a change of verdict: never the same verdict twice in a row.
    reported.forEach((r, i) => {
      if (i > 0) assert.notEqual(r.verdict, reported[i - 1]!.verdict, `report ${i} repeats a verdict`);
    });
    // Two outages and their recoveries: a handful of changes, however many probes ran.
    assert.ok(reported.length <= 5, `third reported east ${reported.length} times`);
    assert.ok(
      probes > 2 * reported.length,
      `third probed east ${probes} times and reported ${reported.length} times`,
    );
    assert.match(metrics, /switchyard_monitor_verdict\{[^}]*region="east"[^}]*verdict="up"[^}]*\} 1/);
    assert.match(metrics, /switchyard_monitor_probe_failures_total\{[^}]*region="east"/);
    await supervisor.stopAll();
    agg.close();
  });

  it('one vantage point losing its path to a region makes it degraded, never down (false alarm)', async () => {
    const agg = new QuorumAggregator({
      regions: [...REGIONS],
      vantagePoints: VANTAGES.map((v) => v.name),
      recoverAfterSeconds: settings.recoverAfterSeconds,
    });
    receiver.aggregator = agg;
    const transitions: RegionTransition[] = [];
    agg.onTransition((t) => transitions.push(t));
    const closedPort = await freePort();
    const degraded = nextTransition(agg, 'east', 'degraded', WAIT_MS);
    const westHealthy = nextTransition(agg, 'west', 'healthy', WAIT_MS);
    // Simulated network loss for vantage point `third` only: its probes of east go to a closed port.
    await startMonitors('b', (v) =>
      v === 'third'
        ? { ...realTargets(), east: { http: `http://127.0.0.1:${closedPort}/healthz` } }
        : realTargets(),
    );
    const t = await degraded;
    await westHealthy;
    assert.equal(t.votes.byVantage.third!.verdict, 'down');
    assert.equal(t.votes.up, 2);

    // Watch for several detection bounds: a `down` would have shown by then.
    const watchMs = 3 * (detectBound('east') + SLACK_MS);
    const sawDown = await nextTransition(agg, 'east', 'down', watchMs).then(
      (d) => d,
      () => undefined,
    );
    assert.equal(sawDown, undefined, `east went down: ${JSON.stringify(sawDown)}`);
    assert.equal(agg.state('east'), 'degraded');
    assert.equal(agg.state('west'), 'healthy');

    // The region really failing still gets detected: the other two vantage points are the majority.
    const down = nextTransition(agg, 'east', 'down', WAIT_MS);
    const failedAt = Date.now();
    await regions.get('east')!.stop();
    const d = await down;
    assert.ok(d.at - failedAt <= detectBound('east') + SLACK_MS, `down after ${d.at - failedAt} ms`);
    assert.ok(!transitions.some((x) => x.region === 'west' && x.to !== 'healthy'));
    await supervisor.stopAll();
    agg.close();
  });
});
