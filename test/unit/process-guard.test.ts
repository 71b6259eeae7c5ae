import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const GUARD = path.resolve(__dirname, '../../apps/api/process-guard.js');

/** Runs `body` in a fresh Node process with the API's process guards installed; logs are JSON lines. */
function run(body: string): Promise<{ code: number | null; lines: Record<string, unknown>[] }> {
  const script = `
    const { installProcessGuards } = require(${JSON.stringify(GUARD)});
    const out = (level) => (obj, msg) => console.log(JSON.stringify({ level, msg, ...obj }));
    const log = { error: out('error'), fatal: out('fatal') };
    installProcessGuards(log, (kind) => console.log(JSON.stringify({ counted: kind })));
    ${body}
  `;
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', script], { timeout: 20_000 }, (err, stdout) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      const lines = stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, lines });
    });
  });
}

describe('the API process guards', () => {
  it('log and count an unhandled rejection, and keep the process serving', async () => {
    const r = await run(`
      Promise.reject(new Error('nobody awaited me'));
      setTimeout(() => console.log(JSON.stringify({ alive: true })), 50);
    `);
    assert.equal(r.code, 0);
    assert.deepEqual(r.lines[0], { counted: 'unhandled-rejection' });
    assert.equal(r.lines[1]!.kind, 'unhandled-rejection');
    assert.match(String(r.lines[1]!.err), /nobody awaited me/);
    assert.deepEqual(r.lines[2], { alive: true });
  });

  it('log and count an uncaught exception, then exit 1 for the supervisor', async () => {
    const r = await run(`
      setTimeout(() => { throw new Error('sync throw'); }, 0);
      setTimeout(() => console.log(JSON.stringify({ alive: true })), 2000);
    `);
    assert.equal(r.code, 1);
    assert.deepEqual(r.lines[0], { counted: 'uncaught-exception' });
    assert.equal(r.lines[1]!.level, 'fatal');
    assert.match(String(r.lines[1]!.err), /sync throw/);
    assert.equal(r.lines.length, 2, 'nothing ran after the exit');
  });
});
