import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { Client } from 'pg';
import { waitFor } from '../support/stack';

const REPO_ROOT = resolve(__dirname, '../../..');

/**
 * A newcomer's clone: `git clone` of this checkout's HEAD into a directory only its owner may
 * enter (like root's home), under a name with a space, with this build's dist/infra and dist/workflows and the
 * node_modules next to it, so the stack's code runs from inside the clone.
 */
function cloneIntoPrivateDir(): { parent: string; clone: string } {
  const parent = mkdtempSync(join(tmpdir(), 'switchyard-home-'));
  assert.equal(statSync(parent).mode & 0o777, 0o700, 'the parent is private to its owner');
  const clone = join(parent, 'my switchyard');
  execFileSync('git', ['clone', '--quiet', REPO_ROOT, clone]);
  for (const dir of ['infra', 'workflows']) {
    cpSync(join(REPO_ROOT, 'dist', dir), join(clone, 'dist', dir), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(clone, 'node_modules'));
  return { parent, clone };
}

/** Runs `script` with node from inside the clone and resolves with the first line matching `ready`. */
async function runInClone(clone: string, script: string, ready: RegExp) {
  const child = spawn(process.execPath, ['-e', script], {
    cwd: clone,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const match = await waitFor(() => ready.exec(out) ?? (gone ? 'exited' : undefined), {
    what: `${ready} from the child`,
    timeoutMs: 120_000,
  });
  assert.notEqual(match, 'exited', `the child exited early:\n${out}`);
  return {
    match: match as RegExpExecArray,
    output: () => out,
    stop: async () => {
      if (!gone) child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('first start from a private clone', () => {
  it("starts the stack's PostgreSQL from a clone in a 0700 directory", async () => {
    const { parent, clone } = cloneIntoPrivateDir();
    const script = [
      "const { Supervisor } = require('./dist/infra/stack/supervisor');",
      "const { startPostgres } = require('./dist/infra/stack/postgres.component');",
      "const sup = new Supervisor(require('node:path').resolve('.switchyard/run'));",
      'startPostgres(sup).then(',
      '  (pg) => console.log(`postgres-url ${pg.url} data ${pg.dataDir}`),',
      '  (err) => { console.log(`failed: ${err.message}`); process.exit(1); },',
      ');',
    ].join('\n');
    const child = await runInClone(clone, script, /postgres-url (\S+) data (.+)/);
    let dataDir = '';
    try {
      const [, url] = child.match;
      dataDir = child.match[2]!.trim();
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query<{ db: string }>('select current_database() as db');
        assert.equal(rows[0]?.db, 'switchyard_test');
      } finally {
        await client.end();
      }
    } finally {
      assert.equal(await child.stop(), 143, child.output());
      rmSync(parent, { recursive: true, force: true });
    }
    // Its data lives outside the private clone when it is not ours, and goes with the stack.
    assert.throws(() => statSync(dataDir), /ENOENT/, `${dataDir} is removed when the server stops`);
  });

  it('starts every server of the stack from a private clone whose path has a space', async () => {
    const { parent, clone } = cloneIntoPrivateDir();
    const script = [
      "const { startTestServers } = require('./dist/infra/stack/test-servers');",
      "startTestServers(require('node:path').resolve('.switchyard/run')).then(",
      '  ({ info }) => console.log(`up ${info.processes.map((p) => p.name).join(",")}`),',
      '  (err) => { console.log(`failed: ${err.message}`); process.exit(1); },',
      ');',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = await runInClone(clone, script, /up (\S+)/);
    try {
      assert.deepEqual(child.match[1]!.split(',').sort(), [
        'moto',
        'postgres',
        'powerdns',
        'temporal',
        'versitygw-east',
        'versitygw-west',
        'versitygw-witness',
      ]);
    } finally {
      assert.equal(await child.stop(), 143, child.output());
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
