import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';

/**
 * A small process supervisor for the local stack: each child gets its own log file under the
 * run dir, readiness is an event polled until a deadline (never a fixed sleep), and every
 * child started is stopped when the parent is asked to stop (Ctrl-C, SIGTERM) or exits. A child
 * started with a restart policy is started again when it exits on its own.
 */

/** The event that tells a component is ready. */
export type Readiness =
  | { kind: 'http'; url: string; headers?: Record<string, string>; status?: number }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'fn'; what: string; check: () => Promise<boolean> };

export interface StartSpec {
  /** Component name used in messages and as the log file name, e.g. `versitygw-east`. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  readiness: Readiness;
  /** Readiness deadline; default 30 s. */
  timeoutMs?: number;
  /** SIGTERM → SIGKILL grace period on stop; default 5 s. */
  graceMs?: number;
  /** Start it again when it exits without being asked to (after it was ready once). */
  restart?: RestartPolicy;
  /** Runs once the component is stopped for good (stopped, never ready, or given up on). */
  afterStop?: () => void;
}

/** How a component that exits unexpectedly is restarted; defaults in RESTART_DEFAULTS. */
export interface RestartPolicy {
  /** The delay before the first restart; it doubles with each quick failure in a row. */
  initialDelayMs?: number;
  /** The cap of that delay. */
  maxDelayMs?: number;
  /** A run shorter than this (or a restart that never becomes ready) is a quick failure. */
  quickMs?: number;
  /** Give up after this many quick failures in a row. */
  maxQuickFailures?: number;
}

/** What every component starter returns besides its addresses. */
export interface Component {
  /** The supervisor's name for it, also the log file's name. */
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after the grace period. Resolves once the process has exited. */
  stop(): Promise<void>;
  /** Resolves with the exit code (or signal) once the first run of the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class ReadinessError extends Error {
  constructor(
    readonly component: string,
    readonly logFile: string,
    reason: string,
    logTail: string,
  ) {
    super(
      `${component} did not become ready: ${reason}\n` +
        `log file: ${logFile}\n` +
        `last lines of the log:\n${logTail || '  (empty)'}`,
    );
    this.name = 'ReadinessError';
  }
}

/** The last `lines` lines of a file, indented; '' when it cannot be read. */
export function tailFile(file: string, lines = 30): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text
      .split('\n')
      .slice(-lines)
      .map((l) => `  ${l}`)
      .join('\n');
  } catch {
    return '';
  }
}

/** One probe of a readiness event; errors count as "not yet". */
export async function probe(r: Readiness, timeoutMs = 2000): Promise<boolean> {
  try {
    switch (r.kind) {
      case 'http':
        return (await httpStatus(r.url, r.headers ?? {}, timeoutMs)) === (r.status ?? 200);
      case 'tcp':
        return await tcpAccepts(r.host, r.port, timeoutMs);
      case 'fn':
        return await r.check();
    }
  } catch {
    return false;
  }
}

export function describeReadiness(r: Readiness): string {
  switch (r.kind) {
    case 'http':
      return `HTTP ${r.status ?? 200} from GET ${r.url}`;
    case 'tcp':
      return `TCP connect to ${r.host}:${r.port}`;
    case 'fn':
      return r.what;
  }
}

export function httpStatus(url: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { headers, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export function tcpAccepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when `exited` did not settle within `ms`; the timer never outlives the wait. */
async function outlasts(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
  try {
    return await Promise.race([exited.then(() => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** One run of a component's process. */
interface Run {
  child: ChildProcess;
  exited: Promise<Exit>;
  hasExited: () => boolean;
}

interface Entry {
  name: string;
  /** The run now (a restarted component gets a new one); undefined only before the first spawn. */
  current?: Run;
  stopRequested: boolean;
  /** Ends a restart's backoff wait early, when the component is stopped meanwhile. */
  wake?: () => void;
  stop: () => Promise<void>;
}

/** Defaults of StartSpec.restart; see docs/local-stack.md#restarts. */
export const RESTART_DEFAULTS: Required<RestartPolicy> = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  quickMs: 60_000,
  maxQuickFailures: 5,
};

/** What the supervisor did about a restartable component that exited on its own. */
export type RestartEvent =
  | {
      kind: 'exited';
      name: string;
      logFile: string;
      code: number | null;
      signal: string | null;
      /** Why, when the restart itself failed (did not become ready). */
      reason?: string;
      quickFailures: number;
      delayMs: number;
    }
  | { kind: 'restarted'; name: string; logFile: string; pid: number }
  | { kind: 'gave-up'; name: string; logFile: string; quickFailures: number; quickMs: number };

/** The console line for a restart event. */
export function describeRestartEvent(e: RestartEvent): string {
  switch (e.kind) {
    case 'exited':
      return (
        `!! ${e.name} exited unexpectedly (${e.reason ?? `code ${e.code}, signal ${e.signal}`}); ` +
        `restarting in ${(e.delayMs / 1000).toFixed(1)}s` +
        (e.quickFailures > 0 ? ` (quick failure ${e.quickFailures} in a row)` : '') +
        `; log: ${e.logFile}`
      );
    case 'restarted':
      return `!! ${e.name} restarted (pid ${e.pid}); log: ${e.logFile}`;
    case 'gave-up':
      return (
        `!! ${e.name} failed ${e.quickFailures} times in a row within ${e.quickMs / 1000}s of starting; ` +
        `NOT restarting it again. log: ${e.logFile}\n${tailFile(e.logFile, 15)}`
      );
  }
}

export class Supervisor {
  private readonly children = new Set<Entry>();
  private signalsInstalled = false;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly runDir: string,
    private readonly options: {
      /** Stop every child and exit on SIGINT/SIGTERM/SIGHUP; default true. */
      handleSignals?: boolean;
      /** Called when a child that was ready and has no restart policy exits without having been asked to stop. */
      onUnexpectedExit?: (name: string, logFile: string, code: number | null, signal: string | null) => void;
      /** Called for each exit, restart and surrender of a child with a restart policy. */
      onRestartEvent?: (event: RestartEvent) => void;
    } = {},
  ) {}

  get logDir(): string {
    return join(this.runDir, 'logs');
  }

  /**
   * Starts the process and resolves once it is ready; throws ReadinessError otherwise. With
   * `spec.restart`, a later unexpected exit starts it again (see RestartPolicy).
   */
  async start(spec: StartSpec): Promise<ManagedProcess> {
    mkdirSync(this.logDir, { recursive: true });
    const logFile = join(this.logDir, `${spec.name}.log`);
    const graceMs = spec.graceMs ?? 5000;
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      spec.afterStop?.();
    };
    const entry: Entry = {
      name: spec.name,
      stopRequested: false,
      stop: async () => {
        entry.stopRequested = true;
        entry.wake?.();
        const run = entry.current;
        if (run && !run.hasExited() && run.child.pid !== undefined) {
          killGroup(run.child.pid, 'SIGTERM');
          if (await outlasts(run.exited, graceMs)) killGroup(run.child.pid, 'SIGKILL');
          await run.exited;
        }
        this.children.delete(entry);
        cleanup();
      },
    };
    this.children.add(entry);
    this.installSignalHandlers();

    let first: Run;
    try {
      first = await this.launch(spec, logFile, entry);
    } catch (err) {
      this.children.delete(entry);
      cleanup();
      throw err;
    }
    if (spec.restart) {
      void this.keepRunning(spec, logFile, entry, { ...RESTART_DEFAULTS, ...spec.restart }, cleanup);
    } else {
      void first.exited.then(({ code, signal }) => {
        if (!entry.stopRequested) this.options.onUnexpectedExit?.(spec.name, logFile, code, signal);
      });
    }
    return {
      name: spec.name,
      get pid() {
        return entry.current?.child.pid ?? -1;
      },
      logFile,
      stop: entry.stop,
      exited: first.exited,
    };
  }

  /** Spawns one run of `spec` into `entry.current` and resolves once it is ready. */
  private async launch(spec: StartSpec, logFile: string, entry: Entry): Promise<Run> {
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      // detached: the child gets its own process group, so a terminal's Ctrl-C reaches only
      // us and we stop children in order; killing the group also reaches grandchildren.
      child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    let hasExited = false;
    void exited.then(() => (hasExited = true));
    const run: Run = { child, exited, hasExited: () => hasExited };
    entry.current = run;

    const fail = async (reason: string): Promise<never> => {
      if (!hasExited && child.pid !== undefined) {
        killGroup(child.pid, 'SIGTERM');
        if (await outlasts(exited, spec.graceMs ?? 5000)) killGroup(child.pid, 'SIGKILL');
        await exited;
      }
      throw new ReadinessError(spec.name, logFile, reason, tailFile(logFile));
    };

    const timeoutMs = spec.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let interval = 25;
    for (;;) {
      const early = await Promise.race([
        spawnError.then((e) => `could not start ${spec.command}: ${e.message}`),
        exited.then(
          ({ code, signal }) => `process exited before it was ready (code ${code}, signal ${signal})`,
        ),
        delay(0).then(() => undefined),
      ]);
      if (early) return fail(early);
      if (await probe(spec.readiness, Math.min(2000, Math.max(100, deadline - Date.now())))) break;
      if (hasExited) continue; // report the exit rather than a timeout
      if (Date.now() >= deadline) {
        return fail(`timed out after ${timeoutMs / 1000}s waiting for ${describeReadiness(spec.readiness)}`);
      }
      await Promise.race([delay(interval), exited]);
      interval = Math.min(interval * 2, 250);
    }
    return run;
  }

  /**
   * Restarts the component each time it exits on its own: after a delay that doubles with each
   * quick failure in a row (capped), until `maxQuickFailures` quick failures in a row; a run that
   * lasted `quickMs` resets the count. A restart that does not become ready is a quick failure.
   */
  private async keepRunning(
    spec: StartSpec,
    logFile: string,
    entry: Entry,
    policy: Required<RestartPolicy>,
    cleanup: () => void,
  ): Promise<void> {
    const report = (e: RestartEvent) => this.options.onRestartEvent?.(e);
    const { name } = spec;
    let quickFailures = 0;
    let runStart = Date.now();
    let exit: Exit & { reason?: string } = await entry.current!.exited;
    for (;;) {
      if (entry.stopRequested) return;
      const quick = exit.reason !== undefined || Date.now() - runStart < policy.quickMs;
      quickFailures = quick ? quickFailures + 1 : 0;
      if (quickFailures >= policy.maxQuickFailures) {
        this.children.delete(entry);
        cleanup();
        report({ kind: 'gave-up', name, logFile, quickFailures, quickMs: policy.quickMs });
        return;
      }
      const delayMs = Math.min(
        policy.initialDelayMs * 2 ** Math.max(0, quickFailures - 1),
        policy.maxDelayMs,
      );
      report({ kind: 'exited', name, logFile, ...exit, quickFailures, delayMs });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        entry.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      entry.wake = undefined;
      if (entry.stopRequested) return;
      try {
        const run = await this.launch(spec, logFile, entry);
        if (entry.stopRequested) return;
        runStart = Date.now();
        report({ kind: 'restarted', name, logFile, pid: run.child.pid ?? -1 });
        exit = await run.exited;
      } catch (err) {
        if (entry.stopRequested) return;
        exit = { code: null, signal: null, reason: (err as Error).message.split('\n')[0] };
      }
    }
  }

  /** Stops every child still running, most recently started first. Idempotent. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const entry of [...this.children].reverse()) {
        await entry.stop().catch(() => undefined);
      }
    })().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  /**
   * Tracks a child started elsewhere (e.g. a test runner with inherited stdio), so that
   * stopAll() and the signal handlers stop it too.
   */
  adopt(name: string, child: ChildProcess, graceMs = 5000): { stop: () => Promise<void> } {
    let hasExited = child.exitCode !== null || child.signalCode !== null;
    const exited = new Promise<Exit>((resolve) => {
      if (hasExited) resolve({ code: child.exitCode, signal: child.signalCode });
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    void exited.then(() => (hasExited = true));
    const entry: Entry = {
      name,
      current: { child, exited, hasExited: () => hasExited },
      stopRequested: false,
      stop: async () => {
        entry.stopRequested = true;
        if (!hasExited && child.pid !== undefined) {
          child.kill('SIGTERM');
          if (await outlasts(exited, graceMs)) child.kill('SIGKILL');
          await exited;
        }
        this.children.delete(entry);
      },
    };
    this.children.add(entry);
    this.installSignalHandlers();
    return entry;
  }

  /** Names and pids of the children still tracked (a restarted child: its new pid). */
  running(): { name: string; pid: number }[] {
    return [...this.children].map((e) => ({ name: e.name, pid: e.current?.child.pid ?? -1 }));
  }

  private installSignalHandlers(): void {
    if (this.signalsInstalled) return;
    this.signalsInstalled = true;
    // Last resort when the parent exits without stopping (uncaught error, process.exit).
    process.once('exit', () => {
      for (const e of this.children) {
        const pid = e.current?.child.pid;
        if (pid !== undefined) killGroup(pid, 'SIGKILL');
      }
    });
    if (this.options.handleSignals === false) return;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        process.stderr.write(`\n${signal}: stopping ${this.children.size} process(es)...\n`);
        const code = 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1);
        void this.stopAll().finally(() => process.exit(code));
      });
    }
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
