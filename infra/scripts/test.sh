#!/usr/bin/env bash
# The test suite, from nothing: `npm test` (and CI's .ci/run) run exactly this.
# Installs or checks the tools (tools.sh), builds, checks lint and formatting, then runs the unit,
# integration and end-to-end tests against real servers started on loopback by the harness
# (Temporal dev server, two versitygw regions, moto, PowerDNS), and stops them at the end.
#   SWITCHYARD_TEST_TARGETS="dist/test/unit"  run a subset (paths under dist/, after the build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# shellcheck source=tools.sh
source infra/scripts/tools.sh
bash infra/scripts/build.sh

start=$(date +%s)
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check . || true; echo "formatting: run npm run format"; exit 1; }
echo "lint: eslint and prettier clean in $(( $(date +%s) - start ))s"

export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
# shellcheck disable=SC2086
exec node dist/test/support/run-tests.js ${SWITCHYARD_TEST_TARGETS:-dist/test/unit dist/test/integration dist/test/e2e}
