import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { asyncLocalStorage, Context, type Info } from '@temporalio/activity';
import { noopMetricMeter } from '@temporalio/common';
import pino from 'pino';
import { createVerificationRegionActivities } from '../infra/activities/verification.activities';
import { ArtifactStore, ObjectIo } from '../infra/backup/artifact.store';
import { RestorePointCatalog } from '../infra/backup/catalog';
import { layout, MANIFEST_SCHEMA, type RestorePointManifest } from '../infra/backup/manifest';
import { configSchema, type SwitchyardConfig } from '../infra/config/config.schema';
import { Supervisor } from '../infra/stack/supervisor';
import { toolPaths } from '../infra/stack/tools';
import { startVersitygw, type VersitygwRegion } from '../infra/stack/versitygw.component';
import {
  bucketOf,
  commandVersion,
  cpuSeconds,
  formatTable,
  goModuleVersion,
  machineFacts,
  MiB,
  mib,
  parseArgs,
  pool,
  positiveInt,
  printFacts,
  ProcessSampler,
  pseudoRandomStream,
  secs,
} from './support';

/**
 * Verification throughput: Switchyard's verification of one restore point's copies (the
 * `verifyRestorePointCopy` activity, run for both regions at once as the workflow does: every
 * artifact and object read through, size and full-content SHA-256 against the manifest) against
 * `rclone check --download` comparing the same two regions' copies byte for byte, on the same
 * data (default 1 GiB: 4 artifacts of 192 MiB and an object set of 256 × 1 MiB) in one run.
 * Both read every byte of both regions' copies.
 *
 *   bash bench/verification-throughput.sh [--artifacts 4] [--artifact-mib 192] [--objects 256]
 *                                         [--object-mib 1] [--checkers 4] [--rounds 1] [--keep]
 *
 * Every option also reads from the environment (BENCH_ARTIFACTS, ...). See docs/benchmarks.md.
 */

const OPTIONS = {
  artifacts: 'value',
  'artifact-mib': 'value',
  objects: 'value',
  'object-mib': 'value',
  checkers: 'value',
  rounds: 'value',
  'skip-rclone': 'flag',
  keep: 'flag',
  help: 'flag',
} as const;

const USAGE = `usage: bash bench/verification-throughput.sh [options]   (or node dist/bench/verification-throughput.js)
  --artifacts N      artifacts of the restore point (default 4)   --artifact-mib M  their size (default 192)
  --objects N        objects of its object set (default 256)      --object-mib M    their size (default 1)
  --checkers N       rclone --checkers (default 4: as many objects in flight per region as Switchyard's 4)
  --rounds R         repeat both, alternating which goes first (default 1)
  --skip-rclone      measure Switchyard only
  --keep             keep the run directory
`;

interface Settings {
  artifacts: number;
  artifactBytes: number;
  objects: number;
  objectBytes: number;
  checkers: number;
  rounds: number;
  skipRclone: boolean;
  keep: boolean;
}

function settings(argv: string[]): Settings | null {
  const args = parseArgs(argv, OPTIONS);
  if (args.has('help')) return null;
  const get = (name: keyof typeof OPTIONS) =>
    args.get(name) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  const flag = (name: keyof typeof OPTIONS) => ['1', 'true', 'yes'].includes(get(name) ?? '');
  return {
    artifacts: positiveInt('--artifacts', get('artifacts'), 4),
    artifactBytes: positiveInt('--artifact-mib', get('artifact-mib'), 192) * MiB,
    objects: positiveInt('--objects', get('objects'), 256),
    objectBytes: positiveInt('--object-mib', get('object-mib'), 1) * MiB,
    checkers: Math.max(1, positiveInt('--checkers', get('checkers'), 4)),
    rounds: Math.max(1, positiveInt('--rounds', get('rounds'), 1)),
    skipRclone: flag('skip-rclone'),
    keep: flag('keep'),
  };
}

const APP = 'bench';
const REGIONS = ['east', 'west'] as const;
const BUCKETS = { east: 'bench-east', west: 'bench-west' } as const;
const ID = 'bench-20261122T000000Z-00000000';

interface Measurement {
  tool: string;
  /** CPU seconds both versitygw servers spent meanwhile (both tools make them serve every byte). */
  serverCpu: number;
  round: number;
  /** Bytes of the restore point (one region's copy). */
  bytes: number;
  /** Bytes read: every region's copy. */
  read: number;
  ms: number;
  clientCpu: number;
  clientPeakRss: number;
}

function say(line: string): void {
  process.stdout.write(`bench: ${line}\n`);
}

function configFor(regions: Record<(typeof REGIONS)[number], VersitygwRegion>): SwitchyardConfig {
  return configSchema.parse({
    dnsProviders: { none: { type: 'powerdns', apiUrl: 'http://127.0.0.1:9', apiKey: 'unused' } },
    apps: {
      [APP]: {
        regions: REGIONS.map((name, i) => ({
          name,
          role: i === 0 ? 'active' : 'standby',
          healthUrl: `http://127.0.0.${i + 1}:9/healthz`,
          bucket: { ...bucketOf(regions[name], BUCKETS[name]), prefix: 'switchyard/' },
          dns: { target: `127.0.0.${i + 1}` },
        })),
        dns: { records: [{ provider: 'none', zone: 'bench.test', name: 'www.bench.test' }] },
        verify: { url: 'http://www.bench.test/healthz' },
      },
    },
  });
}

/** Writes the same restore point (artifacts, object set, listing, manifest) into both regions. */
async function generate(store: ArtifactStore, s: Settings): Promise<RestorePointManifest> {
  const t0 = Date.now();
  const services: RestorePointManifest['services'] = [];
  const put = async (key: string, seed: string, size: number) => {
    const stored = await Promise.all(
      REGIONS.map((r) => store.upload(APP, r, key, pseudoRandomStream(seed, size))),
    );
    return stored[0]!.sha256;
  };
  await pool(
    Array.from({ length: s.artifacts }, (_, i) => i),
    2,
    async (i) => {
      const key = layout.artifact(ID, `svc${i}`, 'bin');
      const sha256 = await put(key, key, s.artifactBytes);
      services.push({
        name: `svc${i}`,
        type: 'http',
        dependsOn: [],
        marker: {},
        artifact: { key, size: s.artifactBytes, sha256, contentType: 'application/octet-stream' },
      });
    },
  );
  if (s.objects > 0) {
    const prefix = layout.objectsFolder(ID, 'media');
    const entries = await pool(
      Array.from({ length: s.objects }, (_, i) => `obj-${String(i).padStart(5, '0')}`),
      4,
      async (k) => ({ key: k, size: s.objectBytes, sha256: await put(prefix + k, k, s.objectBytes) }),
    );
    const listing = Buffer.from(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const key = layout.artifact(ID, 'media', 'jsonl');
    const stored = await Promise.all(REGIONS.map((r) => store.upload(APP, r, key, Readable.from([listing]))));
    services.push({
      name: 'media',
      type: 's3',
      dependsOn: [],
      marker: {},
      artifact: {
        key,
        size: listing.length,
        sha256: stored[0]!.sha256,
        contentType: 'application/x-ndjson',
        objects: { prefix, count: entries.length, bytes: entries.length * s.objectBytes },
      },
    });
  }
  services.sort((a, b) => (a.name < b.name ? -1 : 1));
  const now = new Date().toISOString();
  const totalBytes = services.reduce((n, x) => n + x.artifact.size + (x.artifact.objects?.bytes ?? 0), 0);
  const manifest: RestorePointManifest = {
    schema: MANIFEST_SCHEMA,
    id: ID,
    app: APP,
    operationId: 'bench',
    requestedBy: 'bench',
    reason: 'verification throughput bench',
    sourceRegion: 'east',
    epoch: 0,
    cutAt: now,
    quiesce: { startedAt: now, releasedAt: now, durationMs: 0 },
    committedAt: now,
    services,
    regions: [...REGIONS],
    totalBytes,
  };
  await Promise.all(REGIONS.map((r) => store.writeManifest(APP, r, manifest)));
  say(`restore point generated in both regions: ${mib(totalBytes)} MiB each, in ${secs(Date.now() - t0)} s`);
  return manifest;
}

/** Runs an activity function in a context of its own, as a worker would (heartbeats are dropped). */
function inActivity<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const info = { activityType: name, activityId: name, attempt: 1, isLocal: false } as unknown as Info;
  const logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  const ctx = new Context(
    info,
    new Promise<never>(() => undefined),
    new AbortController().signal,
    () => undefined,
    undefined,
    logger,
    noopMetricMeter,
    {},
  );
  return asyncLocalStorage.run(ctx, fn);
}

async function switchyardVerify(
  store: ArtifactStore,
  config: SwitchyardConfig,
  m: RestorePointManifest,
  opts: { expectCorrupt?: string } = {},
) {
  const acts = createVerificationRegionActivities({
    config,
    artifacts: store,
    catalog: new RestorePointCatalog(store),
    logger: pino({ level: 'silent' }),
  });
  const sampler = new ProcessSampler('self', 50);
  const t0 = performance.now();
  const checks = await Promise.all(
    REGIONS.map((region) =>
      inActivity('verifyRestorePointCopy', () =>
        acts.verifyRestorePointCopy({ app: APP, region, manifest: m }),
      ),
    ),
  );
  const ms = performance.now() - t0;
  const stats = sampler.stop();
  for (const c of checks) {
    const bad = c.objects.filter((o) => o.status !== 'ok');
    const wanted = opts.expectCorrupt && c.region === 'west' ? [opts.expectCorrupt] : [];
    const found = bad.filter((o) => o.status === 'corrupt').map((o) => o.key);
    if (wanted.length > 0 && found.length === 1 && found[0] === wanted[0] && bad.length === 1) continue;
    if (c.manifest !== 'same' || bad.length > 0 || wanted.length > 0) {
      throw new Error(
        `${c.region}: manifest ${c.manifest}, ${bad.length} object(s) not ok (${bad[0]?.key ?? ''})`,
      );
    }
    const expected =
      m.services.length + (m.services.find((x) => x.artifact.objects)?.artifact.objects?.count ?? 0);
    if (c.objects.length !== expected)
      throw new Error(`${c.region}: ${c.objects.length} objects checked, expected ${expected}`);
  }
  return { ms, cpu: stats.cpuSeconds, rss: stats.peakRss };
}

/** Files under the restore point's folder: the artifacts, the object set and its listing. */
function manifestObjects(s: Settings): number {
  return s.artifacts + (s.objects > 0 ? s.objects + 1 : 0);
}

async function rcloneCheck(
  regions: Record<(typeof REGIONS)[number], VersitygwRegion>,
  store: ArtifactStore,
  s: Settings,
  supervisor: Supervisor,
  opts: { expectDifferences?: number } = {},
) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.AWS_CA_BUNDLE;
  for (const r of REGIONS) {
    const n = r.toUpperCase();
    Object.assign(env, {
      [`RCLONE_CONFIG_${n}_TYPE`]: 's3',
      [`RCLONE_CONFIG_${n}_PROVIDER`]: 'Other',
      [`RCLONE_CONFIG_${n}_ENDPOINT`]: regions[r].endpoint,
      [`RCLONE_CONFIG_${n}_ACCESS_KEY_ID`]: regions[r].accessKeyId,
      [`RCLONE_CONFIG_${n}_SECRET_ACCESS_KEY`]: regions[r].secretAccessKey,
      [`RCLONE_CONFIG_${n}_REGION`]: 'us-east-1',
    });
  }
  const path = (r: (typeof REGIONS)[number]) =>
    `${r}:${BUCKETS[r]}/${store.place(APP, r).folder}${layout.attemptFolder(ID)}`.replace(/\/$/, '');
  const args = [
    '--config',
    '/dev/null',
    'check',
    path('east'),
    path('west'),
    '--download',
    '--checkers',
    String(s.checkers),
  ];
  const t0 = performance.now();
  const child = spawn('rclone', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tracked = supervisor.adopt('rclone', child);
  const sampler = child.pid ? new ProcessSampler(child.pid, 50) : undefined;
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const ms = performance.now() - t0;
  const stats = sampler?.stop();
  await tracked.stop();
  const differences = Number(/(\d+) differences found/.exec(output)?.[1] ?? NaN);
  const matched = Number(/(\d+) matching files/.exec(output)?.[1] ?? NaN);
  const want = opts.expectDifferences ?? 0;
  const expected = manifestObjects(s) - want;
  if ((want === 0) !== (code === 0) || differences !== want || matched !== expected) {
    throw new Error(
      `rclone check: exit ${code}, ${differences} differences, ${matched} matching (expected ${want} and ${expected}):\n${output.trim()}`,
    );
  }
  if (want > 0) return { ms, cpu: NaN, rss: NaN };
  say(`rclone: ${output.trim().split('\n').slice(-2).join(' | ')}`);
  return { ms, cpu: stats?.cpuSeconds ?? NaN, rss: stats?.peakRss ?? NaN };
}

/** CPU seconds used by both S3 servers so far. */
function serversCpu(regions: VersitygwRegion[]): number {
  return regions.reduce((n, r) => n + (cpuSeconds(r.pid) ?? 0), 0);
}

/**
 * Before anything is timed: one byte of one file flipped in west must be found by both tools
 * (Switchyard: one `corrupt` object; rclone check: one difference and a non-zero exit), so the
 * timed runs compare tools that really read and compare the bytes. The object is put back after.
 */
async function sanity(
  regions: Record<(typeof REGIONS)[number], VersitygwRegion>,
  store: ArtifactStore,
  config: SwitchyardConfig,
  m: RestorePointManifest,
  s: Settings,
  supervisor: Supervisor,
): Promise<void> {
  // The smallest file: an object of the object set if there is one (the bench holds it in memory).
  const set = m.services.find((x) => x.artifact.objects)?.artifact.objects;
  const a = { key: set ? `${set.prefix}obj-00000` : m.services[0]!.artifact.key };
  const { body } = await store.open(APP, 'west', a.key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const original = Buffer.concat(chunks);
  const broken = Buffer.from(original);
  broken[Math.floor(broken.length / 2)]! ^= 0xff;
  await store.upload(APP, 'west', a.key, Readable.from([broken]));
  try {
    const sy = await switchyardVerify(store, config, m, { expectCorrupt: a.key });
    const rc = await rcloneCheck(regions, store, s, supervisor, { expectDifferences: 1 });
    say(
      `sanity: one flipped byte in west's ${a.key} found by switchyard (${secs(sy.ms)} s) and rclone check (${secs(rc.ms)} s)`,
    );
  } finally {
    await store.upload(APP, 'west', a.key, Readable.from([original]));
  }
}

async function main(): Promise<number> {
  const s = settings(process.argv.slice(2));
  if (!s) {
    process.stdout.write(USAGE);
    return 0;
  }
  const rcloneVersion = s.skipRclone ? 'skipped' : commandVersion('rclone', ['version']);
  if (!s.skipRclone && rcloneVersion.startsWith('unavailable')) {
    throw new Error(
      'rclone is not installed: run bench/verification-throughput.sh (it installs it) or pass --skip-rclone',
    );
  }
  const runDir = process.env.BENCH_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'switchyard-bench-verify-'));
  const supervisor = new Supervisor(runDir, { handleSignals: false });
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the servers (run dir ${runDir} kept)...\n`);
    void supervisor.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bytes = s.artifacts * s.artifactBytes + s.objects * s.objectBytes;
  printFacts(
    'machine',
    machineFacts({
      versitygw:
        goModuleVersion(toolPaths().versitygw) ?? commandVersion(toolPaths().versitygw, ['--version']),
      rclone: rcloneVersion,
      'run dir': runDir,
    }),
  );
  printFacts('settings', {
    'restore point': `${s.artifacts} × ${mib(s.artifactBytes, 0)} MiB artifacts + an object set of ${s.objects} × ${mib(s.objectBytes, 0)} MiB = ${mib(bytes)} MiB, in each of 2 regions`,
    switchyard:
      'verifyRestorePointCopy for both regions at once (4 objects in flight per region), SHA-256 against the manifest',
    rclone: s.skipRclone
      ? 'skipped'
      : `rclone check east: west: --download --checkers ${s.checkers} (compares the two copies byte for byte)`,
    rounds: String(s.rounds),
  });
  let ok = false;
  const io = new ObjectIo();
  try {
    const t0 = Date.now();
    const [east, west] = await Promise.all([
      startVersitygw(supervisor, 'bench-east', BUCKETS.east),
      startVersitygw(supervisor, 'bench-west', BUCKETS.west),
    ]);
    const regions = { east, west };
    say(`two versitygw regions up in ${secs(Date.now() - t0)} s`);
    const config = configFor(regions);
    const store = new ArtifactStore(config, io);
    const manifest = await generate(store, s);
    if (!s.skipRclone) await sanity(regions, store, config, manifest, s, supervisor);
    const results: Measurement[] = [];
    for (let round = 1; round <= s.rounds; round++) {
      const tools = s.skipRclone ? ['switchyard'] : ['switchyard', 'rclone'];
      if (round % 2 === 0) tools.reverse();
      for (const tool of tools) {
        const servers0 = serversCpu([regions.east, regions.west]);
        const r =
          tool === 'switchyard'
            ? await switchyardVerify(store, config, manifest)
            : await rcloneCheck(regions, store, s, supervisor);
        results.push({
          tool,
          round,
          bytes,
          read: 2 * bytes,
          ms: r.ms,
          clientCpu: r.cpu,
          clientPeakRss: r.rss,
          serverCpu: serversCpu([regions.east, regions.west]) - servers0,
        });
        say(
          `round ${round} ${tool}: ${mib(bytes)} MiB verified (${mib(2 * bytes)} MiB read) in ${secs(r.ms)} s`,
        );
      }
    }
    report(results, s);
    ok = true;
  } finally {
    io.buckets.close();
    await supervisor.stopAll();
    if (ok && !s.keep && !process.env.BENCH_RUN_DIR) rmSync(runDir, { recursive: true, force: true });
    else say(`run dir kept: ${runDir}`);
  }
  return 0;
}

function report(results: Measurement[], s: Settings): void {
  const rate = (m: Measurement) => (m.bytes / MiB / m.ms) * 1000;
  process.stdout.write(
    "\nresults (MiB/s = restore point size / time; both tools read both regions' copies)\n",
  );
  process.stdout.write(
    `${formatTable(
      [
        'tool',
        'round',
        'restore point MiB',
        'MiB read',
        'seconds',
        'MiB/s',
        'client CPU s',
        'client peak RSS MiB',
        'servers CPU s',
      ],
      results.map((m) => [
        m.tool,
        m.round,
        mib(m.bytes),
        mib(m.read),
        secs(m.ms),
        rate(m).toFixed(1),
        m.clientCpu.toFixed(1),
        mib(m.clientPeakRss, 0),
        m.serverCpu.toFixed(1),
      ]),
    )}\n`,
  );
  const median = (xs: number[]) => {
    const a = [...xs].sort((x, y) => x - y);
    const mid = Math.floor(a.length / 2);
    return a.length % 2 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
  };
  const over = s.rounds > 1 ? ` (medians over ${s.rounds} rounds)` : '';
  const sy = median(results.filter((m) => m.tool === 'switchyard').map(rate));
  process.stdout.write(`\nswitchyard ${sy.toFixed(1)} MiB/s${over}\n`);
  if (!s.skipRclone) {
    const rc = median(results.filter((m) => m.tool === 'rclone').map(rate));
    process.stdout.write(
      `rclone check --download ${rc.toFixed(1)} MiB/s: ratio switchyard/rclone = ${(sy / rc).toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `load average (1, 5, 15 min) at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} on ${cpus().length} CPUs — other work on the machine skews every figure\n`,
  );
}

void main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
