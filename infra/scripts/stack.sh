#!/usr/bin/env bash
# The local demo stack, from nothing: installs/checks the tools, builds, and runs
# `node dist/infra/stack/main.js up` in the foreground (Ctrl-C stops everything).
#   npm run stack            (or: bash infra/scripts/stack.sh)
# SWITCHYARD_RUN_DIR overrides the run dir (default .switchyard/run in the repo);
# SWITCHYARD_TOOLS_DIR the tools cache (default ~/.cache/switchyard/tools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# shellcheck source=tools.sh
source infra/scripts/tools.sh

start=$(date +%s.%N)
npx tsc -p tsconfig.json
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "build: tsc in %.1fs\n", b - a }'

# The AWS SDK warns once per process that its 2027 releases need Node >= 22; known, and noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
exec node dist/infra/stack/main.js up
