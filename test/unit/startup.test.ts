import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

/** An invalid configuration never starts anything: each entry point exits with the path and reason. */
const DIST = path.resolve(__dirname, '../..');
const EXAMPLE = path.resolve(DIST, '../examples/switchyard.yaml');

function run(entry: string, args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [path.join(DIST, entry), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('startup with a bad configuration', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-startup-'));
  const bad = path.join(dir, 'switchyard.yaml');
  writeFileSync(bad, readFileSync(EXAMPLE, 'utf8').replace('target: 127.0.1.2', 'target: west.example.com'));
  const env = {
    SWITCHYARD_CONFIG: bad,
    PDNS_API_KEY: 'k',
    EAST_S3_ACCESS_KEY: 'a',
    EAST_S3_SECRET_KEY: 'the-east-secret',
    WEST_S3_ACCESS_KEY: 'a',
    WEST_S3_SECRET_KEY: 'b',
    ORDERS_DB_PASSWORD: 'p',
    LEDGER_HOOK_TOKEN: 't',
  };
  const expected = /apps\.shop\.regions\[1\]\.dns\.target: expected an IPv4 address \(line \d+\)/;

  for (const entry of ['apps/worker/main.js', 'apps/api/main.js']) {
    it(`${entry} exits 1 naming the path`, () => {
      const r = run(entry, [], env);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stdout, /listening|worker started/);
      assert.ok(!r.stderr.includes('the-east-secret'));
    });
  }

  it('switchyard config validate exits 2 naming the path, and 0 for a good file', () => {
    const r = run('apps/cli/main.js', ['config', 'validate', bad], env);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, expected);
    const good = run('apps/cli/main.js', ['config', 'validate', EXAMPLE], env);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /valid \(1 app\(s\): shop\)/);
  });

  it('a worker asked for a region no app has exits 1 naming it', () => {
    const r = run('apps/worker/main.js', [], {
      ...env,
      SWITCHYARD_CONFIG: EXAMPLE,
      SWITCHYARD_WORKER_QUEUES: 'coordinator,mars',
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /mars: no app has a region named "mars" \(regions: east, west\)/);
  });
});
