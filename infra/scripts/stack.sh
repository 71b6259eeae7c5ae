#!/usr/bin/env bash
# The local demo stack, from nothing: installs/checks the tools, builds (build.sh), and runs
# `node dist/infra/stack/main.js up` in the foreground (Ctrl-C stops everything).
#   npm run stack            (or: bash infra/scripts/stack.sh)
# SWITCHYARD_RUN_DIR overrides the run dir (default .switchyard/run in the repo);
# SWITCHYARD_TOOLS_DIR the tools cache (default ~/.cache/switchyard/tools).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Everything this needs, checked before anything is installed or built; all problems at once.
bash infra/scripts/preflight.sh stack || exit 1

# shellcheck source=tools.sh
source infra/scripts/tools.sh

# tsc plus the pre-built workflow bundle, so the worker starts without running webpack.
bash infra/scripts/build.sh

# The AWS SDK warns once per process that its 2027 releases need Node >= 22; known, and noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
exec node dist/infra/stack/main.js up
