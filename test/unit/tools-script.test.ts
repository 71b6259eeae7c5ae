import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { TOOL_VERSIONS } from '../../infra/stack/tools';

/**
 * infra/scripts/tools.sh with an empty tool cache and a stub `go` first on PATH: the cold start's
 * progress lines, and a failure that names the component, its log file and the log's last lines.
 */

const TOOLS_SH = resolve(__dirname, '../../../infra/scripts/tools.sh');
const scratch = mkdtempSync(join(tmpdir(), 'switchyard-tools-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('tools.sh on a cold cache', () => {
  it('says what it will install and how long that takes, then names a failed build with its log', () => {
    const bin = join(scratch, 'bin');
    const tools = join(scratch, 'tools');
    mkdirSync(bin);
    // `go install <module>@<version>`: builds the temporal CLI; fails for versitygw with a compiler error.
    writeFileSync(
      join(bin, 'go'),
      [
        '#!/usr/bin/env bash',
        'mod="${2%@*}"; name="${mod##*/}"',
        'echo "go: downloading $mod"',
        'if [[ "$name" == versitygw ]]; then echo "backend/posix.go:12: undefined: frobnicate" >&2; exit 1; fi',
        'printf "#!/bin/sh\\n" > "$GOBIN/$name" && chmod +x "$GOBIN/$name"',
      ].join('\n'),
      { mode: 0o755 },
    );
    // The Python tools already in the cache, so nothing here needs the network.
    for (const [dir, exe] of [
      [`moto-${TOOL_VERSIONS.moto}`, 'moto_server'],
      [`schemathesis-${TOOL_VERSIONS.schemathesis}`, 'st'],
    ]) {
      mkdirSync(join(tools, dir!, 'bin'), { recursive: true });
      writeFileSync(join(tools, dir!, 'bin', exe!), '#!/bin/sh\n', { mode: 0o755 });
      writeFileSync(join(tools, dir!, '.complete'), '');
    }

    const res = spawnSync('bash', [TOOLS_SH], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, SWITCHYARD_TOOLS_DIR: tools },
      timeout: 60_000,
    });
    const out = res.stdout + res.stderr;
    assert.equal(res.status, 1, out);
    assert.match(
      out,
      /tools: first start +to install: temporal \(\d+ min\), versitygw \(\d+ min\); about \d+ min in all/,
    );
    assert.match(out, /tools: temporal 1\.5\.1 +built in \d+\.\ds\n/);
    assert.match(
      out,
      /tools: +about \d+ min left \(versitygw\)|tools: +about under a minute left \(versitygw\)/,
    );
    const log = join(tools, `versitygw-${TOOL_VERSIONS.versitygw}.build.log`);
    assert.match(
      out,
      /tools: FAILED to install versitygw 1\.8\.0: go install github\.com\/versity\/versitygw\/cmd\/versitygw@v1\.8\.0 failed/,
    );
    assert.ok(out.includes(`tools: log file ${log}, last lines:`), out);
    assert.match(out, / {4}backend\/posix\.go:12: undefined: frobnicate/);
  });
});
