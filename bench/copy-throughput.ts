import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ObjectIo, PART_QUEUE, partSizeFor } from '../infra/backup/artifact.store';
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
 * Cross-region copy throughput: Switchyard's streamed copy (ObjectIo.copy between two S3
 * endpoints: GET from one region, multipart upload to the other, SHA-256 checked on the way)
 * against rclone copying the same objects between the same two servers, in one run.
 *
 *   bash bench/copy-throughput.sh [--transfers 4] [--large-count 8] [--large-mib 128]
 *                                 [--small-count 256] [--small-mib 1] [--rounds 1] [--keep]
 *                                 [--rclone-variants default,multipart] [--skip-rclone]
 *
 * Every option also reads from the environment (BENCH_TRANSFERS, BENCH_LARGE_COUNT, ...).
 * Prints figures only; see docs/benchmarks.md.
 */

const OPTIONS = {
  transfers: 'value',
  'large-count': 'value',
  'large-mib': 'value',
  'small-count': 'value',
  'small-mib': 'value',
  rounds: 'value',
  'rclone-args': 'value',
  'rclone-variants': 'value',
  'skip-rclone': 'flag',
  keep: 'flag',
  help: 'flag',
} as const;

interface Settings {
  transfers: number;
  largeCount: number;
  largeBytes: number;
  smallCount: number;
  smallBytes: number;
  rounds: number;
  rcloneExtra: string[];
  rcloneVariants: RcloneVariant[];
  keep: boolean;
}

/**
 * `default`: the plain command (rclone's default --s3-upload-cutoff of 200M sends the 128 MiB objects
 * as single PUTs); `multipart`: with --s3-upload-cutoff equal to the part size, so that rclone
 * uploads every object above one part in parts, as Switchyard does.
 */
type RcloneVariant = 'default' | 'multipart';

function variants(list: string): RcloneVariant[] {
  const out = list
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  for (const v of out) {
    if (v !== 'default' && v !== 'multipart') {
      throw new Error(`--rclone-variants: unknown variant "${v}" (known: default, multipart)`);
    }
  }
  return out as RcloneVariant[];
}

/** The part size ObjectIo.copy uses for objects of known size below 70 GiB (all of the dataset). */
const PART_SIZE = partSizeFor(0);

const variantName = (v: RcloneVariant) => (v === 'default' ? 'rclone' : 'rclone-multipart');
const variantArgs = (v: RcloneVariant) =>
  v === 'default' ? [] : ['--s3-upload-cutoff', `${PART_SIZE / MiB}M`];

function settings(argv: string[]): Settings | null {
  const args = parseArgs(argv, OPTIONS);
  if (args.has('help')) return null;
  const get = (name: keyof typeof OPTIONS) =>
    args.get(name) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  const flag = (name: keyof typeof OPTIONS) => ['1', 'true', 'yes'].includes(get(name) ?? '');
  const s: Settings = {
    transfers: positiveInt('--transfers', get('transfers'), 4),
    largeCount: positiveInt('--large-count', get('large-count'), 8),
    largeBytes: positiveInt('--large-mib', get('large-mib'), 128) * MiB,
    smallCount: positiveInt('--small-count', get('small-count'), 256),
    smallBytes: positiveInt('--small-mib', get('small-mib'), 1) * MiB,
    rounds: positiveInt('--rounds', get('rounds'), 1),
    rcloneExtra: (get('rclone-args') ?? '').split(/\s+/).filter(Boolean),
    rcloneVariants: flag('skip-rclone') ? [] : variants(get('rclone-variants') ?? 'default,multipart'),
    keep: flag('keep'),
  };
  if (s.transfers < 1) throw new Error('--transfers: at least 1');
  if (s.rounds < 1) throw new Error('--rounds: at least 1');
  if (s.largeCount * s.largeBytes + s.smallCount * s.smallBytes === 0)
    throw new Error('the dataset is empty');
  return s;
}

const USAGE = `usage: bash bench/copy-throughput.sh [options]   (or node dist/bench/copy-throughput.js)
  --transfers N      objects copied at once, by both tools (default 4; env BENCH_TRANSFERS)
  --large-count N    large objects (default 8)        --large-mib M  their size in MiB (default 128)
  --small-count N    small objects (default 256)      --small-mib M  their size in MiB (default 1)
  --rounds R         repeat both copies R times, alternating which tool goes first (default 1)
  --rclone-variants  which rclone runs (default "default,multipart"): default = the plain command
                     (objects under 200M go as single PUTs), multipart = --s3-upload-cutoff 16M
  --rclone-args "…"  extra rclone flags for every rclone run
  --skip-rclone      measure Switchyard only
  --keep             keep the run directory (servers' data and logs)
`;

interface DatasetObject {
  key: string;
  size: number;
  sha256: string;
}

interface Measurement {
  tool: string;
  round: number;
  objects: number;
  bytes: number;
  ms: number;
  clientCpu: number;
  clientPeakRss: number;
  serverCpu: number;
  verifyMs: number;
}

const SRC_BUCKET = 'bench-src';
const DST_BUCKET = 'bench-dst';
const DATA_PREFIX = 'data/';

async function main(): Promise<number> {
  const s = settings(process.argv.slice(2));
  if (!s) {
    process.stdout.write(USAGE);
    return 0;
  }
  const skipRclone = s.rcloneVariants.length === 0;
  const rcloneVersion = skipRclone ? 'skipped' : commandVersion('rclone', ['version']);
  if (!skipRclone && rcloneVersion.startsWith('unavailable')) {
    throw new Error(
      'rclone is not installed: run bench/copy-throughput.sh (it installs the Debian package), ' +
        '`apt-get install rclone`, or pass --skip-rclone',
    );
  }
  const runDir = process.env.BENCH_RUN_DIR ?? mkdtempSync(join(tmpdir(), 'switchyard-bench-copy-'));
  const supervisor = new Supervisor(runDir, { handleSignals: false });
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the servers (run dir ${runDir} kept)...\n`);
    void supervisor.stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const totalObjects = s.largeCount + s.smallCount;
  const totalBytes = s.largeCount * s.largeBytes + s.smallCount * s.smallBytes;
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
    dataset: `${s.largeCount} × ${mib(s.largeBytes, 0)} MiB + ${s.smallCount} × ${mib(s.smallBytes, 0)} MiB = ${totalObjects} objects, ${mib(totalBytes)} MiB`,
    transfers: `${s.transfers} objects at once (both tools)`,
    switchyard: `ObjectIo.copy, streamed; multipart parts of ${mib(PART_SIZE, 0)} MiB, ${PART_QUEUE} in flight per object`,
    rclone: skipRclone
      ? 'skipped'
      : `rclone copy --transfers ${s.transfers} --s3-upload-concurrency ${PART_QUEUE} --s3-chunk-size ${mib(PART_SIZE, 0)}M ${s.rcloneExtra.join(' ')}`.trim(),
    'rclone-multipart': s.rcloneVariants.includes('multipart')
      ? `the same with ${variantArgs('multipart').join(' ')}`
      : 'skipped',
    rounds: String(s.rounds),
  });

  let ok = false;
  try {
    const t0 = Date.now();
    const [src, dst] = await Promise.all([
      startVersitygw(supervisor, 'bench-a', SRC_BUCKET),
      startVersitygw(supervisor, 'bench-b', DST_BUCKET),
    ]);
    say(`two versitygw regions up in ${secs(Date.now() - t0)} s: ${src.endpoint} → ${dst.endpoint}`);

    const dataset = await generate(src, s);
    const results: Measurement[] = [];
    for (let round = 1; round <= s.rounds; round++) {
      // Alternate who goes first, so that neither always meets the warmer caches.
      const tools: ('switchyard' | RcloneVariant)[] = ['switchyard', ...s.rcloneVariants];
      if (round % 2 === 0) tools.reverse();
      for (const tool of tools) {
        const name = tool === 'switchyard' ? tool : variantName(tool);
        const prefix = `${name}-r${round}/`;
        const m =
          tool === 'switchyard'
            ? await switchyardCopy(src, dst, dataset, prefix, s)
            : await rcloneCopy(src, dst, prefix, s, tool, supervisor);
        m.round = round;
        m.verifyMs = await verify(dst, prefix, dataset, s.transfers);
        say(
          `round ${round} ${name}: ${mib(m.bytes)} MiB in ${secs(m.ms)} s = ${mib((m.bytes / m.ms) * 1000)} MiB/s; ` +
            `every object verified (SHA-256 read back from the destination) in ${secs(m.verifyMs)} s`,
        );
        results.push(m);
        // Bounded disk use: the next copy starts from an empty destination either way.
        if (!s.keep) await purge(dst, prefix);
      }
    }
    report(results, s);
    ok = true;
  } finally {
    await supervisor.stopAll();
    if (ok && !s.keep && !process.env.BENCH_RUN_DIR) rmSync(runDir, { recursive: true, force: true });
    else say(`run dir kept: ${runDir} (logs in ${join(runDir, 'logs')})`);
  }
  return 0;
}

async function purge(region: VersitygwRegion, prefix: string): Promise<void> {
  const io = new ObjectIo();
  try {
    await io.purgePrefix(bucketOf(region, DST_BUCKET), prefix);
  } finally {
    io.buckets.close();
  }
}

function say(line: string): void {
  process.stdout.write(`bench: ${line}\n`);
}

/** Uploads the dataset into the source region, each object streamed from the generator. */
async function generate(src: VersitygwRegion, s: Settings): Promise<DatasetObject[]> {
  const specs = [
    ...Array.from({ length: s.largeCount }, (_, i) => ({ key: `large/${pad(i)}.bin`, size: s.largeBytes })),
    ...Array.from({ length: s.smallCount }, (_, i) => ({ key: `small/${pad(i)}.bin`, size: s.smallBytes })),
  ];
  const io = new ObjectIo();
  const bucket = bucketOf(src, SRC_BUCKET);
  const t0 = Date.now();
  try {
    const out = await pool(specs, s.transfers, async ({ key, size }) => {
      const stored = await io.upload(bucket, DATA_PREFIX + key, pseudoRandomStream(key, size));
      return { key, size, sha256: stored.sha256 };
    });
    const bytes = out.reduce((n, o) => n + o.size, 0);
    say(
      `dataset generated into ${SRC_BUCKET}/${DATA_PREFIX}: ${out.length} objects, ${mib(bytes)} MiB in ${secs(Date.now() - t0)} s`,
    );
    return out;
  } finally {
    io.buckets.close();
  }
}

const pad = (i: number) => String(i).padStart(4, '0');

/** CPU seconds used by both S3 servers so far. */
function serversCpu(regions: VersitygwRegion[]): number {
  return regions.reduce((n, r) => n + (cpuSeconds(r.pid) ?? 0), 0);
}

async function switchyardCopy(
  src: VersitygwRegion,
  dst: VersitygwRegion,
  dataset: DatasetObject[],
  prefix: string,
  s: Settings,
): Promise<Measurement> {
  const io = new ObjectIo();
  const from = bucketOf(src, SRC_BUCKET);
  const to = bucketOf(dst, DST_BUCKET);
  const servers0 = serversCpu([src, dst]);
  const sampler = new ProcessSampler('self', 50);
  const t0 = performance.now();
  try {
    const copied = await pool(dataset, s.transfers, async (o) => {
      const r = await io.copy(from, DATA_PREFIX + o.key, to, prefix + o.key, {
        size: o.size,
        sha256: o.sha256,
      });
      if (r.method !== 'streamed') throw new Error(`${o.key}: expected a streamed copy, got ${r.method}`);
      return r.bytes;
    });
    const ms = performance.now() - t0;
    const stats = sampler.stop();
    return {
      tool: 'switchyard',
      round: 0,
      objects: copied.length,
      bytes: copied.reduce((n, b) => n + b, 0),
      ms,
      clientCpu: stats.cpuSeconds,
      clientPeakRss: stats.peakRss,
      serverCpu: serversCpu([src, dst]) - servers0,
      verifyMs: 0,
    };
  } finally {
    sampler.stop();
    io.buckets.close();
  }
}

function rcloneEnv(src: VersitygwRegion, dst: VersitygwRegion): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // rclone reads AWS_CA_BUNDLE even for plain http endpoints and fails when it cannot load it.
  delete env.AWS_CA_BUNDLE;
  for (const [name, r] of [
    ['SRC', src],
    ['DST', dst],
  ] as const) {
    Object.assign(env, {
      [`RCLONE_CONFIG_${name}_TYPE`]: 's3',
      [`RCLONE_CONFIG_${name}_PROVIDER`]: 'Other',
      [`RCLONE_CONFIG_${name}_ENDPOINT`]: r.endpoint,
      [`RCLONE_CONFIG_${name}_ACCESS_KEY_ID`]: r.accessKeyId,
      [`RCLONE_CONFIG_${name}_SECRET_ACCESS_KEY`]: r.secretAccessKey,
      [`RCLONE_CONFIG_${name}_REGION`]: 'us-east-1',
    });
  }
  return env;
}

async function rcloneCopy(
  src: VersitygwRegion,
  dst: VersitygwRegion,
  prefix: string,
  s: Settings,
  variant: RcloneVariant,
  supervisor: Supervisor,
): Promise<Measurement> {
  const args = [
    '--config',
    '/dev/null',
    'copy',
    `src:${SRC_BUCKET}/${DATA_PREFIX.replace(/\/$/, '')}`,
    `dst:${DST_BUCKET}/${prefix.replace(/\/$/, '')}`,
    '--transfers',
    String(s.transfers),
    '--s3-upload-concurrency',
    String(PART_QUEUE),
    '--s3-chunk-size',
    `${PART_SIZE / MiB}M`,
    '--stats',
    '0',
    '--stats-one-line',
    '--stats-log-level',
    'NOTICE',
    ...variantArgs(variant),
    ...s.rcloneExtra,
  ];
  const servers0 = serversCpu([src, dst]);
  const t0 = performance.now();
  const child = spawn('rclone', args, { env: rcloneEnv(src, dst), stdio: ['ignore', 'pipe', 'pipe'] });
  const tracked = supervisor.adopt('rclone', child);
  const sampler = child.pid ? new ProcessSampler(child.pid, 50) : undefined;
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  // Sampled every 50 ms while it runs: VmHWM read at the last sample before the exit is rclone's peak.
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const ms = performance.now() - t0;
  const stats = sampler?.stop();
  await tracked.stop();
  if (code !== 0) throw new Error(`rclone exited with ${code}:\n${output.trim()}`);
  if (output.trim()) say(`rclone: ${output.trim().split('\n').slice(-3).join(' | ')}`);
  const listed = await listPrefix(dst, prefix);
  return {
    tool: variantName(variant),
    round: 0,
    objects: listed.length,
    bytes: listed.reduce((n, o) => n + o.size, 0),
    ms,
    clientCpu: stats?.cpuSeconds ?? NaN,
    clientPeakRss: stats?.peakRss ?? NaN,
    serverCpu: serversCpu([src, dst]) - servers0,
    verifyMs: 0,
  };
}

async function listPrefix(region: VersitygwRegion, prefix: string): Promise<{ key: string; size: number }[]> {
  const io = new ObjectIo();
  try {
    const out: { key: string; size: number }[] = [];
    for await (const o of io.list(bucketOf(region, DST_BUCKET), prefix)) out.push(o);
    return out;
  } finally {
    io.buckets.close();
  }
}

/**
 * Reads every copied object back from the destination and compares size and SHA-256 with the
 * generated dataset; also refuses extra or missing objects. Not part of the timed copy.
 */
async function verify(
  dst: VersitygwRegion,
  prefix: string,
  dataset: DatasetObject[],
  concurrency: number,
): Promise<number> {
  const io = new ObjectIo();
  const bucket = bucketOf(dst, DST_BUCKET);
  const t0 = performance.now();
  try {
    const listed = new Set((await listPrefix(dst, prefix)).map((o) => o.key.slice(prefix.length)));
    const missing = dataset.filter((o) => !listed.has(o.key)).map((o) => o.key);
    const extra = [...listed].filter((k) => !dataset.some((o) => o.key === k));
    if (missing.length || extra.length) {
      throw new Error(
        `${prefix}: ${missing.length} object(s) missing (${missing.slice(0, 3).join(', ')}), ` +
          `${extra.length} unexpected (${extra.slice(0, 3).join(', ')})`,
      );
    }
    await pool(dataset, concurrency, async (o) => {
      const got = await io.hash(bucket, prefix + o.key);
      if (got.size !== o.size || got.sha256 !== o.sha256) {
        throw new Error(
          `${prefix}${o.key}: expected ${o.size} bytes with SHA-256 ${o.sha256}, read ${got.size} bytes with ${got.sha256}`,
        );
      }
    });
    return performance.now() - t0;
  } finally {
    io.buckets.close();
  }
}

function report(results: Measurement[], s: Settings): void {
  const rate = (m: Measurement) => (m.bytes / MiB / m.ms) * 1000;
  process.stdout.write('\nresults (copy only; verification is separate and untimed)\n');
  process.stdout.write(
    `${formatTable(
      [
        'tool',
        'round',
        'objects',
        'MiB',
        'seconds',
        'MiB/s',
        'client CPU s',
        'client peak RSS MiB',
        'servers CPU s',
      ],
      results.map((m) => [
        m.tool,
        m.round,
        m.objects,
        mib(m.bytes),
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
  for (const v of s.rcloneVariants) {
    const rc = median(results.filter((m) => m.tool === variantName(v)).map(rate));
    process.stdout.write(
      `${variantName(v)} ${rc.toFixed(1)} MiB/s: ratio switchyard/${variantName(v)} = ${(sy / rc).toFixed(2)}\n`,
    );
  }
  process.stdout.write(
    `load average (1, 5, 15 min) at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} on ${cpus().length} CPUs — other work on the machine skews every figure\n` +
      'client = the bench process for switchyard (it also holds the dataset list), the rclone process for rclone;\n' +
      'servers CPU s = both versitygw processes during the copy.\n',
  );
}

void main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
