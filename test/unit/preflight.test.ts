import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { TOOL_VERSIONS } from '../../infra/stack/tools';

/**
 * infra/scripts/preflight.sh on machines made to look a certain way: a fake repository (the
 * scripts, package.json and package-lock.json) and a PATH holding only stub programs (and the
 * real node, when a good Node.js is wanted).
 */

const REPO_ROOT = resolve(__dirname, '../../..');
const BASH = spawnSync('bash', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();
const DIRNAME = spawnSync(BASH, ['-c', 'command -v dirname'], { encoding: 'utf8' }).stdout.trim();
const scratch = mkdtempSync(join(tmpdir(), 'switchyard-preflight-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Machine {
  /** 'real': this node; a version string: a stub answering `--version`; null: none. */
  node: 'real' | string | null;
  npm: boolean;
  /** What `go version` says, or null for no go. */
  go: string | null;
  python: { version: string; venv: boolean } | null;
  gxx: boolean;
  make: boolean;
  uid: number;
  sudo: boolean;
  setpriv: boolean;
  aptGet: boolean;
  packagesInstalled: boolean;
  freeMb: number;
  toolsCached: boolean;
  nodeModules: boolean;
}

const HEALTHY: Machine = {
  node: 'real',
  npm: true,
  go: 'go version go1.26.0 linux/amd64',
  python: { version: '3.11.2', venv: true },
  gxx: true,
  make: true,
  uid: 0,
  sudo: false,
  setpriv: true,
  aptGet: true,
  packagesInstalled: true,
  freeMb: 100_000,
  toolsCached: false,
  nodeModules: false,
};

let machines = 0;

/** Builds the fake repository, PATH and tool cache for `m`; returns where they are. */
function makeMachine(m: Machine): { root: string; bin: string; tools: string } {
  const base = join(scratch, `m${++machines}`);
  const root = join(base, 'repo');
  const bin = join(base, 'bin');
  const tools = join(base, 'tools');
  mkdirSync(join(root, 'infra', 'scripts'), { recursive: true });
  mkdirSync(bin);
  for (const f of ['preflight.sh', 'tools.sh', 'stack.sh', 'test.sh', 'build.sh']) {
    copyFileSync(join(REPO_ROOT, 'infra', 'scripts', f), join(root, 'infra', 'scripts', f));
  }
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(REPO_ROOT, f), join(root, f));
  if (m.nodeModules) {
    mkdirSync(join(root, 'node_modules'));
    writeFileSync(join(root, 'node_modules', '.package-lock.json'), '{}');
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'node_modules', '.package-lock.json'), later, later);
  }
  if (m.toolsCached) {
    for (const [name, file] of [
      [`temporal-${TOOL_VERSIONS.temporal}`, 'bin/temporal'],
      [`versitygw-${TOOL_VERSIONS.versitygw}`, 'bin/versitygw'],
      [`moto-${TOOL_VERSIONS.moto}`, '.complete'],
    ] as const) {
      mkdirSync(join(tools, name, 'bin'), { recursive: true });
      writeFileSync(join(tools, name, file), '#!/bin/sh\n', { mode: 0o755 });
    }
  }

  const stub = (name: string, body: string) =>
    writeFileSync(join(bin, name), `#!${BASH}\n${body}\n`, { mode: 0o755 });
  // stack.sh and test.sh find the repository with dirname and run the preflight with bash.
  symlinkSync(DIRNAME, join(bin, 'dirname'));
  symlinkSync(BASH, join(bin, 'bash'));
  if (m.node === 'real') symlinkSync(process.execPath, join(bin, 'node'));
  else if (m.node) stub('node', `echo v${m.node}`);
  if (m.npm) stub('npm', 'echo 10.0.0');
  if (m.go) stub('go', `echo '${m.go}'`);
  if (m.python) {
    stub(
      'python3',
      `case "$*" in *ensurepip*) exit ${m.python.venv ? 0 : 1} ;; *version_info*) echo ${m.python.version} ;; esac`,
    );
  }
  if (m.gxx) stub('g++', 'exit 0');
  if (m.make) stub('make', 'exit 0');
  stub('id', `case "$1" in -u) echo ${m.uid} ;; -un) echo ${m.uid === 0 ? 'root' : 'newcomer'} ;; esac`);
  if (m.sudo) stub('sudo', 'exec "$@"');
  if (m.setpriv) stub('setpriv', 'exit 0');
  if (m.aptGet) stub('apt-get', 'exit 0');
  stub('dpkg-query', m.packagesInstalled ? "printf 'install ok installed'" : 'exit 1');
  stub('uname', 'echo x86_64');
  stub(
    'df',
    `echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'; echo "/dev/vda 1000000000 1 ${m.freeMb * 1024} 1% /"`,
  );
  return { root, bin, tools };
}

function run(
  m: Machine,
  {
    script = 'preflight.sh',
    args = ['stack'],
    ports = '',
  }: { script?: string; args?: string[]; ports?: string } = {},
) {
  const { root, bin, tools } = makeMachine(m);
  const res = spawnSync(BASH, [join(root, 'infra', 'scripts', script), ...args], {
    encoding: 'utf8',
    env: {
      PATH: bin,
      HOME: join(root, '..'),
      SWITCHYARD_TOOLS_DIR: tools,
      // Only the addresses unless a test occupies a port: the real demo port may be taken on this machine.
      SWITCHYARD_PREFLIGHT_PORTS: ports || '127.0.1.1:0 127.0.1.2:0',
    },
    timeout: 30_000,
  });
  return { status: res.status, out: res.stdout + res.stderr, tools, root };
}

/** The problems preflight listed ("  - ..." lines), without their fixes. */
const problems = (out: string) => out.split('\n').filter((l) => l.startsWith('  - '));

function occupy(host: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

describe('preflight', () => {
  it('passes on a healthy machine and says what it found', () => {
    const { status, out } = run(HEALTHY);
    assert.equal(status, 0, out);
    assert.match(
      out,
      /^preflight: ok for npm run stack \(node \d+\.\d+\.\d+, go 1\.26\.0, python 3\.11\.2\)$/m,
    );
  });

  it('names a Node.js older than package.json engines, with the command that installs a newer one', () => {
    const { status, out } = run({ ...HEALTHY, node: '18.19.0' });
    assert.equal(status, 1);
    assert.match(
      out,
      /Node\.js 18\.19\.0 at .*\/node is older than package\.json's engines\.node \(>=20\.19\)/,
    );
    assert.match(
      out,
      /fix: install Node\.js 20\.19 or newer, e\.g\. `curl -fsSL https:\/\/deb\.nodesource\.com/,
    );
    assert.match(out, /nothing was installed or built/);
  });

  it('names a missing Node.js', () => {
    const { status, out } = run({ ...HEALTHY, node: null });
    assert.equal(status, 1);
    assert.match(out, /Node\.js is not on PATH \(package\.json needs node >=20\.19\)/);
  });

  it('names a missing or old Go while the Go tools are not cached, and not once they are', () => {
    const missing = run({ ...HEALTHY, go: null });
    assert.equal(missing.status, 1);
    assert.match(
      missing.out,
      /Go is not on PATH \(Go >= 1\.25 builds temporal 1\.5\.1 and versitygw 1\.8\.0 into /,
    );
    assert.match(missing.out, /fix: install Go 1\.25 or newer .*https:\/\/go\.dev\/dl\//);

    const old = run({ ...HEALTHY, go: 'go version go1.22.5 linux/amd64' });
    assert.equal(old.status, 1);
    assert.match(
      old.out,
      /Go at .*\/go is too old or broken \(`go version`: go version go1\.22\.5 linux\/amd64\); Go >= 1\.25 is needed/,
    );

    const cached = run({ ...HEALTHY, go: null, toolsCached: true });
    assert.equal(cached.status, 0, cached.out);
  });

  it('names a missing python3 and a python3 without venv', () => {
    const missing = run({ ...HEALTHY, python: null });
    assert.equal(missing.status, 1);
    assert.match(
      missing.out,
      /python3 is not on PATH \(Python >= 3\.9 is needed\)\n\s+fix: `sudo apt-get install -y python3 python3-venv`/,
    );

    const noVenv = run({ ...HEALTHY, python: { version: '3.11.2', venv: false } });
    assert.equal(noVenv.status, 1);
    assert.match(
      noVenv.out,
      /python3 has no working venv module \(moto 5\.2\.1 is installed into a virtualenv\)/,
    );
    assert.equal(
      run({ ...HEALTHY, python: { version: '3.11.2', venv: false }, toolsCached: true }).status,
      0,
    );
  });

  it('names a missing C++ toolchain while node_modules needs npm ci, and not after', () => {
    const { status, out } = run({ ...HEALTHY, gxx: false, make: false });
    assert.equal(status, 1);
    assert.match(
      out,
      /g\+\+ make not on PATH \(`npm ci` compiles better-sqlite3 from source\)\n\s+fix: `sudo apt-get install -y g\+\+ make`/,
    );
    assert.equal(run({ ...HEALTHY, gxx: false, make: false, nodeModules: true }).status, 0);
  });

  it('names a non-root user without sudo while Debian packages are missing', () => {
    const { status, out } = run({ ...HEALTHY, uid: 1000, packagesInstalled: false });
    assert.equal(status, 1);
    assert.match(
      out,
      /not root and sudo is not installed; tools\.sh installs pdns-server pdns-backend-sqlite3 dnsutils postgresql with apt-get/,
    );
    assert.match(
      out,
      /fix: `su -c 'apt-get install -y pdns-server pdns-backend-sqlite3 dnsutils postgresql'`/,
    );
    assert.equal(run({ ...HEALTHY, uid: 1000, sudo: true, packagesInstalled: false }).status, 0);
    assert.equal(run({ ...HEALTHY, uid: 0, packagesInstalled: false }).status, 0);

    const noApt = run({ ...HEALTHY, aptGet: false, packagesInstalled: false });
    assert.equal(noApt.status, 1);
    assert.match(noApt.out, /apt-get is not available, and pdns-server .* are not installed/);
  });

  it('names a missing setpriv as root, which starts PostgreSQL as the postgres user', () => {
    const { status, out } = run({ ...HEALTHY, setpriv: false });
    assert.equal(status, 1);
    assert.match(
      out,
      /setpriv is not on PATH; as root the stack starts PostgreSQL as the postgres user with it/,
    );
    assert.match(out, /fix: `apt-get install -y util-linux`/);
    assert.equal(run({ ...HEALTHY, setpriv: false, uid: 1000 }).status, 0);
  });

  it('names an occupied demo port with the command that shows who holds it (stack only)', async () => {
    const { server, port } = await occupy('127.0.1.1');
    try {
      const { status, out } = run(HEALTHY, { ports: `127.0.1.1:${port}` });
      assert.equal(status, 1);
      assert.match(
        out,
        new RegExp(`something already listens on 127\\.0\\.1\\.1:${port}, where the demo app serves`),
      );
      assert.match(out, new RegExp(`fix: see what: \`ss -ltnp 'sport = :${port}'\``));

      const forTests = run(HEALTHY, { args: ['test'], ports: `127.0.1.1:${port}` });
      assert.equal(forTests.status, 0, forTests.out);
    } finally {
      server.close();
    }
  });

  it('names too little disk space for the tool cache', () => {
    const { status, out } = run({ ...HEALTHY, freeMb: 300 });
    assert.equal(status, 1);
    assert.match(out, /only 300 MiB free on the disk of .*; 5 GiB are needed/);
    assert.match(out, /fix: free space there .* or point SWITCHYARD_TOOLS_DIR at a bigger disk/);
  });

  it('lists every problem at once', async () => {
    const { server, port } = await occupy('127.0.1.2');
    try {
      const { status, out } = run(
        {
          ...HEALTHY,
          node: '16.20.0',
          npm: false,
          go: null,
          python: { version: '3.11.2', venv: false },
          gxx: false,
          make: false,
          uid: 1000,
          packagesInstalled: false,
          freeMb: 10,
        },
        { ports: `127.0.1.2:${port}` },
      );
      assert.equal(status, 1);
      assert.match(out, /^preflight: 8 problem\(s\); nothing was installed or built/m);
      const listed = problems(out).join('\n');
      for (const what of [
        /Node\.js 16\.20\.0/,
        /npm is not on PATH/,
        /Go is not on PATH/,
        /no working venv module/,
        /g\+\+ make not on PATH/,
        /not root and sudo is not installed/,
        // Without a usable Node.js the port is found taken by connecting to it.
        new RegExp(`something already listens on 127\\.0\\.1\\.2:${port}`),
        /only 10 MiB free/,
      ]) {
        assert.match(listed, what);
      }
    } finally {
      server.close();
    }
  });

  for (const script of ['stack.sh', 'test.sh']) {
    it(`${script} runs it before installing or building anything`, () => {
      const { status, out, tools, root } = run({ ...HEALTHY, go: null }, { script, args: [] });
      assert.equal(status, 1, out);
      assert.match(out, /preflight: 1 problem\(s\); nothing was installed or built[\s\S]*Go is not on PATH/);
      assert.equal(existsSync(tools), false, 'tools.sh did not run (it creates the cache first)');
      assert.equal(existsSync(join(root, 'dist')), false, 'nothing was built');
    });
  }

  it('is what `switchyard doctor` runs', () => {
    const doctor = (m: Machine, args: string[] = []) => {
      const { bin, tools } = makeMachine(m);
      const res = spawnSync(
        process.execPath,
        [join(REPO_ROOT, 'dist', 'apps', 'cli', 'main.js'), 'doctor', ...args],
        {
          encoding: 'utf8',
          env: {
            PATH: bin,
            HOME: scratch,
            SWITCHYARD_TOOLS_DIR: tools,
            SWITCHYARD_PREFLIGHT_PORTS: '127.0.1.1:0',
          },
          timeout: 30_000,
        },
      );
      return { status: res.status, out: res.stdout + res.stderr };
    };
    const healthy = doctor(HEALTHY, ['--for', 'test']);
    assert.equal(healthy.status, 0, healthy.out);
    assert.match(healthy.out, /^preflight: ok for npm test \(/m);
    const noGo = doctor({ ...HEALTHY, go: null });
    assert.equal(noGo.status, 1, noGo.out);
    assert.match(noGo.out, /preflight: 1 problem\(s\)[\s\S]*Go is not on PATH/);
    const bad = doctor(HEALTHY, ['--for', 'prod']);
    assert.equal(bad.status, 1);
    assert.match(bad.out, /argument 'prod' is invalid\. Allowed choices are stack, test/);
  });
});
