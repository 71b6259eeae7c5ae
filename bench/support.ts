import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { Readable } from 'node:stream';
import type { BucketConfig } from '../infra/config/config.schema';
import { localBucketConfig } from '../infra/stack/app-config';
import type { S3RegionInfo } from '../infra/stack/stack-info';

/**
 * Helpers shared by the benchmarks: deterministic data that is generated rather than stored,
 * process statistics read from /proc, machine facts and a plain-text table. Benchmarks print
 * figures; they never pass or fail on timings.
 */

export const MiB = 1024 * 1024;

/**
 * `size` bytes of deterministic pseudo-random data (AES-128-CTR keystream keyed by `seed`),
 * produced chunk by chunk as the consumer reads: nothing is held beyond one chunk.
 */
export function pseudoRandomStream(seed: string, size: number, chunkSize = MiB): Readable {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(chunkSize);
  let left = size;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, left);
      left -= n;
      this.push(cipher.update(n === chunkSize ? zeros : zeros.subarray(0, n)));
    },
  });
}

/** SHA-256 (hex) of pseudoRandomStream(seed, size), computed by generating it once. */
export async function pseudoRandomSha256(seed: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of pseudoRandomStream(seed, size)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; results keep their order. */
export async function pool<T, R>(items: T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

const CLOCK_TICKS = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** CPU seconds (user + system) a process has used so far; undefined once it is gone. */
export function cpuSeconds(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM (peak RSS) of a process in bytes; undefined once it is gone. */
export function memoryOf(pid: number | 'self'): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    // A zombie (exited, not yet reaped) still has a status file, without memory lines.
    if (Number.isNaN(rss) || Number.isNaN(hwm)) return undefined;
    return { rss: rss * 1024, hwm: hwm * 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Resets the kernel's peak-RSS mark (VmHWM) of a process, so that the next reading of VmHWM is
 * the peak since now. Needs Linux ≥ 4.0 and permission on the process; false when refused.
 */
export function resetPeakRss(pid: number | 'self'): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples a process's RSS every `intervalMs` and keeps the peak, plus its CPU time. The kernel's
 * VmHWM is read too: it catches a peak that falls between two samples.
 */
export class ProcessSampler {
  private timer: NodeJS.Timeout | undefined;
  private readonly cpuAtStart: number;
  private lastCpu: number;
  peakRss = 0;
  /** Peak RSS according to the kernel (VmHWM) at the last sample; 0 when not known. */
  hwm = 0;
  samples = 0;
  /** Every sample: wall-clock time (ms since the epoch) and RSS in bytes. */
  readonly series: { at: number; rss: number }[] = [];
  readonly hwmReset: boolean;

  constructor(
    readonly pid: number | 'self',
    intervalMs = 100,
  ) {
    this.hwmReset = resetPeakRss(pid);
    this.cpuAtStart = cpuSeconds(pid) ?? 0;
    this.lastCpu = this.cpuAtStart;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const m = memoryOf(this.pid);
    if (!m) return;
    this.samples++;
    this.series.push({ at: Date.now(), rss: m.rss });
    this.peakRss = Math.max(this.peakRss, m.rss);
    if (this.hwmReset) this.hwm = m.hwm;
    this.lastCpu = cpuSeconds(this.pid) ?? this.lastCpu;
  }

  /** The highest sampled RSS between two instants (ms since the epoch); 0 when none was taken. */
  peakBetween(from: number, to: number): number {
    return this.series.reduce((max, x) => (x.at >= from && x.at <= to ? Math.max(max, x.rss) : max), 0);
  }

  /** Stops sampling (after one last sample) and returns the figures. */
  stop(): { peakRss: number; sampledPeak: number; hwm: number; cpuSeconds: number; samples: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return {
      peakRss: Math.max(this.peakRss, this.hwm),
      sampledPeak: this.peakRss,
      hwm: this.hwm,
      cpuSeconds: this.lastCpu - this.cpuAtStart,
      samples: this.samples,
    };
  }
}

/**
 * The module version a Go binary was built from (`go version -m`), e.g. `v1.8.0`; binaries built
 * by `go install module@version` print no useful version of their own.
 */
export function goModuleVersion(binary: string): string | undefined {
  const out = spawnSync('go', ['version', '-m', binary], { encoding: 'utf8', timeout: 10_000 });
  const m = /^\s*mod\s+(\S+)\s+(\S+)/m.exec(out.stdout ?? '');
  return m ? `${m[2]} (${m[1]})` : undefined;
}

/** The first line a command prints, or why it could not be run. */
export function commandVersion(command: string, args: string[]): string {
  const out = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (out.error) return `unavailable (${out.error.message})`;
  const line = `${out.stdout ?? ''}${out.stderr ?? ''}`.split('\n').find((l) => l.trim());
  return line?.trim() ?? `(no output, exit ${out.status})`;
}

export function machineFacts(extra: Record<string, string> = {}): Record<string, string> {
  const c = cpus();
  const kernel = commandVersion('uname', ['-sr']);
  return {
    date: new Date().toISOString(),
    cpus: `${c.length} × ${c[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel,
    node: process.version,
    'load average': `${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')} (1, 5, 15 min)`,
    ...extra,
  };
}

export function printFacts(title: string, facts: Record<string, string>): void {
  const width = Math.max(...Object.keys(facts).map((k) => k.length));
  process.stdout.write(`${title}\n`);
  for (const [k, v] of Object.entries(facts)) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
}

/** A plain-text table; numbers right-aligned. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) =>
    rows.every((r) => typeof r[i] === 'number' || /^[\d.,×-]+$/.test(String(r[i]))),
  );
  const line = (r: string[]) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const mib = (bytes: number, digits = 1) => (bytes / MiB).toFixed(digits);
export const secs = (ms: number) => (ms / 1000).toFixed(2);

/** A BucketConfig (as the schema would produce it) for one bucket of a local versitygw region. */
export function bucketOf(region: S3RegionInfo, name = region.bucket): BucketConfig {
  return localBucketConfig(region, name);
}

/** A positive integer from a flag or environment value; throws naming the flag otherwise. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a whole number ≥ 0, got "${value}"`);
  return n;
}

/**
 * `--name value` / `--name=value` / `--flag` arguments into a map; unknown names are refused so
 * a typo never silently runs the default.
 */
export function parseArgs(argv: string[], known: Record<string, 'value' | 'flag'>): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument "${arg}"`);
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    const kind = known[name];
    if (!kind) throw new Error(`unknown option --${name} (known: ${Object.keys(known).join(', ')})`);
    if (kind === 'flag') {
      out.set(name, inline ?? 'true');
    } else {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      out.set(name, value);
    }
  }
  return out;
}
