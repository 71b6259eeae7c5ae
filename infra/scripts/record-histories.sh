#!/usr/bin/env bash
# Records the workflow histories the replay test replays (test/fixtures/workflow-histories/), from
# real operations on loopback servers it starts and stops itself. See docs/testing.md#workflow-replay.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# shellcheck source=tools.sh
source infra/scripts/tools.sh
bash infra/scripts/build.sh
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
exec node dist/test/support/record-workflow-histories.js
