import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitoringSchema } from '../infra/health/monitor-settings';
import { QuorumAggregator, verdictReportSchema } from '../infra/health/quorum-aggregator';
import type { RegionState, RegionTransition } from '../infra/health/region-detector';
import { freePort } from '../infra/stack/free-port';
import { Supervisor } from '../infra/stack/supervisor';
import { formatTable, machineFacts, parseArgs, positiveInt, printFacts, secs } from './support';

/**
 * Detection and recovery latency of region failure detection with the default settings: real
 * monitor processes (3 vantage points) probe HTTP servers on loopback acting as regions; outages
 * are injected by stopping a region's server and ended by starting it again. Several regions are
 * cycled at once (each independently) so that 30 outages with 30 s of flap damping each fit in a
 * few minutes. Prints the distribution next to Route 53's standard health check (10 s × 3).
 *
 *   bash bench/detection-latency.sh [--outages 30] [--regions 6] [--keep]
 */

const args = parseArgs(process.argv.slice(2), {
  outages: 'value',
  regions: 'value',
  keep: 'flag',
  help: 'flag',
});
if (args.has('help')) {
  process.stdout.write('usage: bash bench/detection-latency.sh [--outages 30] [--regions 6] [--keep]\n');
  process.exit(0);
}
const OUTAGES = positiveInt('--outages', args.get('outages'), 30);
const REGION_COUNT = Math.max(1, positiveInt('--regions', args.get('regions'), 6));
const settings = monitoringSchema.parse({});
const regionNames = Array.from({ length: REGION_COUNT }, (_, i) => `r${i + 1}`);
/** Vantage points as in production: one runs in r1, one in r2, one outside every region. */
const VANTAGES = [
  { name: 'v1', site: 'r1' },
  { name: 'v2', site: 'r2' },
  { name: 'v3', site: 'elsewhere' },
];

class RegionServer {
  private server: Server | undefined;
  constructor(readonly port: number) {}
  start(): Promise<void> {
    const server = createServer((_req, res) => res.end('ok'));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }
  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

function nextTransition(agg: QuorumAggregator, region: string, to: RegionState, timeoutMs: number) {
  return new Promise<RegionTransition>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${region} did not become ${to} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = agg.onTransition((t) => {
      if (t.region === region && t.to === to) {
        clearTimeout(timer);
        off();
        resolve(t);
      }
    });
  });
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-detection-'));
  const supervisor = new Supervisor(dir);
  let ok = false;
  printFacts(
    'Detection latency: monitors with the default settings, regions stopped and started',
    machineFacts({
      'same-site': JSON.stringify(settings.sameSite),
      'cross-site': JSON.stringify(settings.crossSite),
      recoverAfterSeconds: String(settings.recoverAfterSeconds),
      'vantage points': VANTAGES.map((v) => `${v.name}@${v.site}`).join(', '),
      regions: `${REGION_COUNT}, ${OUTAGES} outages in all`,
    }),
  );
  const agg = new QuorumAggregator({
    regions: regionNames,
    vantagePoints: VANTAGES.map((v) => v.name),
    recoverAfterSeconds: settings.recoverAfterSeconds,
  });
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      agg.receive(verdictReportSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.writeHead(204).end();
    });
  });
  try {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
    const reportPort = (receiver.address() as { port: number }).port;
    const servers = new Map<string, RegionServer>();
    for (const r of regionNames) {
      const s = new RegionServer(await freePort());
      await s.start();
      servers.set(r, s);
    }
    const targets = Object.fromEntries(
      regionNames.map((r) => [r, { http: `http://127.0.0.1:${servers.get(r)!.port}/` }]),
    );
    const healthy = regionNames.map((r) => nextTransition(agg, r, 'healthy', 60_000));
    for (const v of VANTAGES) {
      const file = join(dir, `${v.name}.json`);
      writeFileSync(file, JSON.stringify({ monitoring: { targets } }));
      const metricsPort = await freePort();
      await supervisor.start({
        name: `monitor-${v.name}`,
        command: process.execPath,
        args: [join(__dirname, '../apps/monitor/main.js')],
        env: {
          ...process.env,
          SWITCHYARD_MONITOR_VANTAGE: v.name,
          SWITCHYARD_MONITOR_SITE: v.site,
          SWITCHYARD_MONITOR_SETTINGS: file,
          SWITCHYARD_MONITOR_REPORT_URL: `http://127.0.0.1:${reportPort}/reports`,
          SWITCHYARD_MONITOR_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        },
        readiness: { kind: 'http', url: `http://127.0.0.1:${metricsPort}/metrics` },
      });
    }
    await Promise.all(healthy);
    process.stdout.write('all regions healthy; injecting outages...\n');

    const results: { region: string; sameSite: boolean; detectMs: number; recoverMs: number }[] = [];
    let next = 0;
    const started = Date.now();
    // One lane per region: stop, await down, start, await healthy (flap damping), repeat.
    await Promise.all(
      regionNames.map(async (region) => {
        const server = servers.get(region)!;
        while (next < OUTAGES) {
          next++;
          // A random phase against the probe schedules.
          await new Promise((r) => setTimeout(r, Math.random() * 2000));
          const down = nextTransition(agg, region, 'down', 120_000);
          const stoppedAt = Date.now();
          await server.stop();
          const d = await down;
          const healthyAgain = nextTransition(agg, region, 'healthy', 300_000);
          const startedAt = Date.now();
          await server.start();
          const h = await healthyAgain;
          results.push({
            region,
            sameSite: VANTAGES.some((v) => v.site === region),
            detectMs: d.at - stoppedAt,
            recoverMs: h.at - startedAt,
          });
          process.stdout.write(
            `  outage ${results.length}/${OUTAGES} ${region}: down after ${secs(d.at - stoppedAt)} s, healthy ${secs(h.at - startedAt)} s after the restart\n`,
          );
        }
      }),
    );

    const row = (label: string, values: number[]): (string | number)[] => {
      const s = [...values].sort((a, b) => a - b);
      return [label, s.length, ...[0, 0.5, 0.9, 0.99, 1].map((q) => secs(q === 0 ? s[0]! : quantile(s, q)))];
    };
    const withSame = results.filter((r) => r.sameSite);
    const crossOnly = results.filter((r) => !r.sameSite);
    process.stdout.write(
      `\n${formatTable(
        ['latency (s)', 'n', 'min', 'p50', 'p90', 'p99', 'max'],
        [
          row(
            'detection, all',
            results.map((r) => r.detectMs),
          ),
          row(
            'detection, a same-site vantage point',
            withSame.map((r) => r.detectMs),
          ),
          row(
            'detection, cross-site only',
            crossOnly.map((r) => r.detectMs),
          ),
          row(
            'recovery (incl. flap damping)',
            results.map((r) => r.recoverMs),
          ),
          ['Route 53 standard (10 s × 3)', '-', '-', '30.00', '-', '-', '-'],
        ],
      )}\n`,
    );
    const bound = Math.max(
      settings.sameSite.intervalSeconds * (settings.sameSite.failureThreshold + 1),
      settings.crossSite.intervalSeconds * (settings.crossSite.failureThreshold + 1),
    );
    process.stdout.write(
      `\nbound interval × (threshold + 1): ${bound.toFixed(1)} s (cross-site); ` +
        `${results.filter((r) => r.detectMs > bound * 1000).length} of ${results.length} detections above it; ` +
        `${((Date.now() - started) / 1000).toFixed(0)} s of outages\n`,
    );
    ok = true;
    return 0;
  } finally {
    agg.close();
    await supervisor.stopAll();
    receiver.close();
    if (ok && !args.has('keep')) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`logs kept in ${dir}\n`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  },
);
