import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../../infra/stack/free-port';
import { describeRestartEvent, type RestartEvent, Supervisor } from '../../infra/stack/supervisor';
import { waitFor } from '../support/stack';

/** A supervisor in a fresh run dir that records its restart events. */
function recordingSupervisor() {
  const runDir = mkdtempSync(join(tmpdir(), 'switchyard-restart-'));
  const events: RestartEvent[] = [];
  const sup = new Supervisor(runDir, { handleSignals: false, onRestartEvent: (e) => events.push(e) });
  return {
    sup,
    events,
    kinds: () => events.map((e) => e.kind),
    done: async () => {
      await sup.stopAll();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('supervisor restarts', () => {
  it('starts a component killed with SIGKILL again, and says so with the signal and log file', async () => {
    const { sup, events, kinds, done } = recordingSupervisor();
    try {
      const port = await freePort();
      const proc = await sup.start({
        name: 'http-thing',
        command: process.execPath,
        args: [
          '-e',
          `require('node:http').createServer((q, s) => s.end(String(process.pid))).listen(${port}, '127.0.0.1')`,
        ],
        readiness: { kind: 'http', url: `http://127.0.0.1:${port}/` },
        restart: { initialDelayMs: 100 },
      });
      const firstPid = proc.pid;
      process.kill(firstPid, 'SIGKILL');

      await waitFor(() => kinds().includes('restarted'), { what: 'the restart', timeoutMs: 20_000 });
      const [exited, restarted] = events;
      assert.equal(exited?.kind, 'exited');
      assert.equal(exited.signal, 'SIGKILL');
      assert.equal(exited.delayMs, 100);
      assert.equal(exited.logFile, join(sup.logDir, 'http-thing.log'));
      const line = describeRestartEvent(exited);
      assert.match(line, /http-thing exited unexpectedly \(code null, signal SIGKILL\); restarting in 0\.1s/);
      assert.ok(line.includes(exited.logFile), line);

      assert.equal(restarted?.kind, 'restarted');
      assert.notEqual(restarted.pid, firstPid);
      assert.equal(proc.pid, restarted.pid, 'the handle follows the new process');
      assert.deepEqual(sup.running(), [{ name: 'http-thing', pid: restarted.pid }]);
      const answer = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
      assert.equal(answer, String(restarted.pid), 'the new process serves');
      assert.equal(isAlive(firstPid), false);

      await proc.stop();
      assert.equal(isAlive(restarted.pid), false, 'stop() stops the restarted process');
      assert.deepEqual(kinds(), ['exited', 'restarted'], 'a requested stop is not restarted');
    } finally {
      await done();
    }
  });

  it('backs off exponentially up to the cap and gives up after N quick failures in a row', async () => {
    const { sup, events, kinds, done } = recordingSupervisor();
    try {
      await sup.start({
        name: 'crashy',
        command: process.execPath,
        args: ['-e', 'console.log("crashy up"); setTimeout(() => process.exit(7), 150)'],
        readiness: { kind: 'fn', what: 'started', check: async () => true },
        restart: { initialDelayMs: 50, maxDelayMs: 120, quickMs: 60_000, maxQuickFailures: 4 },
      });
      await waitFor(() => kinds().includes('gave-up'), {
        what: 'the supervisor to give up',
        timeoutMs: 20_000,
      });
      const exits = events.filter((e) => e.kind === 'exited');
      assert.deepEqual(
        exits.map((e) => [e.code, e.quickFailures, e.delayMs]),
        [
          [7, 1, 50],
          [7, 2, 100],
          [7, 3, 120],
        ],
      );
      const gaveUp = events.at(-1)!;
      assert.equal(gaveUp.kind, 'gave-up');
      const line = describeRestartEvent(gaveUp);
      assert.match(line, /crashy failed 4 times in a row within 60s of starting; NOT restarting it again/);
      assert.match(line, /crashy up/, 'the last lines of its log');
      assert.deepEqual(sup.running(), [], 'no longer supervised');
    } finally {
      await done();
    }
  });

  it('counts a restart that does not become ready as a quick failure', async () => {
    const { sup, events, kinds, done } = recordingSupervisor();
    const marker = join(tmpdir(), `switchyard-restart-marker-${process.pid}-${Date.now()}`);
    try {
      // Runs once; every later start exits at once, as a component whose state broke would.
      const script = [
        'const fs = require("node:fs");',
        `if (fs.existsSync(${JSON.stringify(marker)})) { console.error("state is broken"); process.exit(3); }`,
        `fs.writeFileSync(${JSON.stringify(marker)}, "");`,
        'setInterval(() => {}, 1000);',
      ].join('\n');
      const port = await freePort();
      const proc = await sup.start({
        name: 'once-only',
        command: process.execPath,
        args: ['-e', `${script}\nrequire('node:net').createServer().listen(${port}, '127.0.0.1');`],
        readiness: { kind: 'tcp', host: '127.0.0.1', port },
        restart: { initialDelayMs: 50, maxQuickFailures: 3 },
      });
      process.kill(proc.pid, 'SIGKILL');
      await waitFor(() => kinds().includes('gave-up'), {
        what: 'the supervisor to give up',
        timeoutMs: 20_000,
      });
      assert.deepEqual(kinds(), ['exited', 'exited', 'gave-up']);
      const second = events[1]!;
      assert.equal(second.kind, 'exited');
      assert.match(
        second.reason ?? '',
        /once-only did not become ready: process exited before it was ready \(code 3/,
      );
      assert.deepEqual(sup.running(), []);
    } finally {
      rmSync(marker, { force: true });
      await done();
    }
  });

  it('does not restart a component stopped during its backoff', async () => {
    const { sup, kinds, done } = recordingSupervisor();
    try {
      const proc = await sup.start({
        name: 'slow-backoff',
        command: process.execPath,
        args: ['-e', 'setInterval(() => {}, 1000)'],
        readiness: { kind: 'fn', what: 'started', check: async () => true },
        restart: { initialDelayMs: 60_000 },
      });
      const pid = proc.pid;
      process.kill(pid, 'SIGKILL');
      await waitFor(() => kinds().includes('exited'), { what: 'the exit to be seen' });
      const started = Date.now();
      await proc.stop();
      assert.ok(Date.now() - started < 5000, 'stop() does not wait for the backoff');
      assert.deepEqual(sup.running(), []);
      assert.deepEqual(kinds(), ['exited']);
    } finally {
      await done();
    }
  });
});
