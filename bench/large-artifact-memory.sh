#!/usr/bin/env bash
# Worker memory while a 2 GiB artifact is backed up and restored, through the real API and worker
# against a local Temporal dev server and two versitygw regions. Installs the stack's tools
# (tools.sh), builds, and runs the bench; options are passed through (see --help and
# docs/benchmarks.md).
#
#   bash bench/large-artifact-memory.sh [--size-mib 2048] [--target-mib 300] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=../infra/scripts/tools.sh
source infra/scripts/tools.sh
bash infra/scripts/build.sh
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
exec node dist/bench/large-artifact-memory.js "$@"
