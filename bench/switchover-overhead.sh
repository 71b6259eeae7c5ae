#!/usr/bin/env bash
# Orchestration overhead of a planned switchover: the durable failover (API, Temporal, worker)
# against a plain script making the same activity calls in sequence with no durability; p50/p99
# over 20 runs each and the ratio. Loopback only; starts and stops its own servers.
# Builds and runs the bench; options are passed through (see --help and docs/benchmarks.md).
#
#   bash bench/switchover-overhead.sh [--runs 20] [--ttl 1] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=../infra/scripts/tools.sh
source infra/scripts/tools.sh

bash infra/scripts/build.sh
exec node dist/bench/switchover-overhead.js "$@"
