#!/usr/bin/env bash
# The test suite, from nothing: `npm test` (and CI's .ci/run) run exactly this.
# Installs or checks the tools (tools.sh), builds, checks lint and formatting, then runs the unit,
# integration and end-to-end tests against real servers started on loopback by the harness
# (Temporal dev server, versitygw for two regions and the witness, moto, PowerDNS, PostgreSQL), two
# test files at a time, and stops them at the end.
#   SWITCHYARD_TEST_TARGETS="dist/test/unit"  run a subset (paths under dist/, after the build)
#   SWITCHYARD_TEST_CONCURRENCY=1             one test file at a time (debugging; default 2)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Everything this needs, checked before anything is installed or built; all problems at once.
bash infra/scripts/preflight.sh test || exit 1

# shellcheck source=tools.sh
source infra/scripts/tools.sh
bash infra/scripts/build.sh

start=$(date +%s)
# Both keep a cache in dist/ (per checkout, never committed; invalidated by a file's content, the
# configuration or a new version): a warm run checks only what changed, ~2 s instead of ~30 s of CPU.
lint_cache=(--cache --cache-location dist/.eslintcache --cache-strategy content)
format_cache=(--cache --cache-location dist/.prettiercache)
node_modules/.bin/eslint "${lint_cache[@]}" .
node_modules/.bin/prettier --check "${format_cache[@]}" . >/dev/null ||
  { node_modules/.bin/prettier --check . || true; echo "formatting: run npm run format"; exit 1; }
echo "lint: eslint and prettier clean in $(( $(date +%s) - start ))s"

export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# shellcheck disable=SC2086
exec node dist/test/support/run-tests.js ${SWITCHYARD_TEST_TARGETS:-dist/test/unit dist/test/integration dist/test/e2e}
