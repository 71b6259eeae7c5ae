#!/usr/bin/env bash
# Compiles the TypeScript (tsc, strict) into dist/ and bundles the workflows once, so workers
# start without running webpack. Used by stack.sh and test.sh; `npm run build` runs it too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
start=$(date +%s.%N)
npx tsc -p tsconfig.json
node dist/infra/temporal/workflow-bundle.js
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "build: tsc and workflow bundle in %.1fs\n", b - a }'
