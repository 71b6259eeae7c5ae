#!/usr/bin/env bash
# The long fuzz of the API: schemathesis (installed by tools.sh) against the real API, from its own
# OpenAPI document, as each role and without a token, sharing a time budget (4 minutes by default).
# Prints requests sent, operations covered, failures and `uptime`; exits 1 on any failure.
# Loopback only; starts and stops its own servers. Options are passed through (see --help and
# docs/api.md#fuzzing-the-api).
#
#   bash bench/api-fuzz.sh [--seconds 240] [--roles admin,operator] [--seed 14014] [--checks negative_data_rejection]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=../infra/scripts/tools.sh
source infra/scripts/tools.sh

bash infra/scripts/build.sh
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
exec node dist/bench/api-fuzz.js "$@"
