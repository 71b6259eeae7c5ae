#!/usr/bin/env bash
# Detection and recovery latency of region failure detection with the default monitoring
# settings: 3 monitor processes, HTTP servers on loopback as regions, ≥ 30 injected outages.
# Builds and runs the bench; options are passed through (see --help and docs/benchmarks.md).
#
#   bash bench/detection-latency.sh [--outages 30] [--regions 6] [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=../infra/scripts/tools.sh
source infra/scripts/tools.sh

bash infra/scripts/build.sh
exec node dist/bench/detection-latency.js "$@"
