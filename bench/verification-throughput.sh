#!/usr/bin/env bash
# Verification throughput, Switchyard vs `rclone check --download`, on two local versitygw servers
# holding the same restore point (1 GiB by default). Installs what it needs (the stack's tools via
# tools.sh, rclone from Debian when missing), builds, and runs the bench; options are passed
# through (see --help and docs/benchmarks.md).
#
#   bash bench/verification-throughput.sh [--rounds 3] [--checkers 4] [--skip-rclone] ...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck source=../infra/scripts/tools.sh
source infra/scripts/tools.sh

skip_rclone=false
if [[ " $* " == *" --skip-rclone "* || "${BENCH_SKIP_RCLONE:-}" =~ ^(1|true|yes)$ ]]; then skip_rclone=true; fi
if [[ $skip_rclone == false ]] && ! command -v rclone >/dev/null; then
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "bench: rclone is missing; not root and no sudo: apt-get install rclone" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "bench: installing rclone (Debian package)..."
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rclone >/dev/null
fi

bash infra/scripts/build.sh
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
exec node dist/bench/verification-throughput.js "$@"
