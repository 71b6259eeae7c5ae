#!/usr/bin/env bash
# Installs the local stack's tools, each cached under a directory named by its version, and
# exports their paths. Idempotent: run it every time; when everything is cached it takes well
# under 2 s.
#
# Usage — source it, so that the exports land in your shell (this is how stack.sh uses it):
#
#   source infra/scripts/tools.sh
#
# Running it (`bash infra/scripts/tools.sh`) installs the same things and prints the exports,
# which are then lost with the subshell. Exports:
#
#   SWITCHYARD_TOOLS_DIR      the cache (default $HOME/.cache/switchyard/tools)
#   SWITCHYARD_TEMPORAL_BIN   temporal CLI v1.5.1 (dev server)      <cache>/temporal-1.5.1/bin/temporal
#   SWITCHYARD_VERSITYGW_BIN  versitygw v1.8.0 (S3 regions)         <cache>/versitygw-1.8.0/bin/versitygw
#   SWITCHYARD_MOTO_SERVER_BIN moto_server 5.2.1 in its own venv    <cache>/moto-5.2.1/bin/moto_server
#   SWITCHYARD_SCHEMATHESIS_BIN st 4.32.x (API fuzzer), its own venv <cache>/schemathesis-4.32/bin/st
#
# The TypeScript stack (infra/stack/tools.ts) reads these variables and, when they are unset,
# falls back to the same paths, so `node dist/test/support/run-tests.js` works after one install.
#
# Also installs, only when missing: the Debian packages pdns-server, pdns-backend-sqlite3,
# dnsutils and postgresql (apt-get update first, then), and node_modules (`npm ci` when node_modules is
# missing or package-lock.json is newer than node_modules/.package-lock.json).
# Go tools need Go >= 1.25 on PATH; the moto and schemathesis venvs need python3 (>= 3.9) with the
# venv module (schemathesis 4.32 needs python3 >= 3.9 too).

SWITCHYARD_TEMPORAL_VERSION=1.5.1
SWITCHYARD_VERSITYGW_VERSION=1.8.0
SWITCHYARD_MOTO_VERSION=5.2.1
# The fuzzer of the API tier (test/e2e/api-fuzz.e2e.test.ts, bench/api-fuzz.sh): any 4.32 patch.
SWITCHYARD_SCHEMATHESIS_VERSION=4.32

export SWITCHYARD_TOOLS_DIR="${SWITCHYARD_TOOLS_DIR:-$HOME/.cache/switchyard/tools}"
export SWITCHYARD_TEMPORAL_BIN="$SWITCHYARD_TOOLS_DIR/temporal-$SWITCHYARD_TEMPORAL_VERSION/bin/temporal"
export SWITCHYARD_VERSITYGW_BIN="$SWITCHYARD_TOOLS_DIR/versitygw-$SWITCHYARD_VERSITYGW_VERSION/bin/versitygw"
export SWITCHYARD_MOTO_SERVER_BIN="$SWITCHYARD_TOOLS_DIR/moto-$SWITCHYARD_MOTO_VERSION/bin/moto_server"
export SWITCHYARD_SCHEMATHESIS_BIN="$SWITCHYARD_TOOLS_DIR/schemathesis-$SWITCHYARD_SCHEMATHESIS_VERSION/bin/st"

_sy_repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Everything below runs in a subshell with strict mode, so sourcing never changes the
# caller's shell options and a failure never exits the caller's shell.
(
  set -euo pipefail
  cache="$SWITCHYARD_TOOLS_DIR"
  mkdir -p "$cache"

  now() { date +%s.%N; }
  took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
  say() { printf 'tools: %-22s %s\n' "$1" "$2"; }
  # fail WHAT WHY [LOG]: names the component, its log file and the log's last lines.
  fail() {
    printf 'tools: FAILED to install %s: %s\n' "$1" "$2" >&2
    if [[ -n "${3:-}" ]]; then
      printf 'tools: log file %s, last lines:\n' "$3" >&2
      tail -n 20 "$3" 2>/dev/null | sed 's/^/    /' >&2 || true
    fi
    exit 1
  }

  # Progress for a cold start: what is left and about how long it takes. Typical durations in
  # seconds, measured on a 2-core VM (docs/local-stack.md#the-first-start); only an estimate.
  declare -A typical=([temporal]=270 [versitygw]=90 [moto]=40 [schemathesis]=40 [apt]=60 [node_modules]=190)
  pending=()
  minutes() { awk -v s="$1" 'BEGIN { if (s < 60) printf "under a minute"; else printf "%.0f min", s / 60 }'; }
  pending_seconds() {
    local p total=0
    for p in "${pending[@]}"; do total=$((total + typical[$p])); done
    echo "$total"
  }
  dpkg_missing() {
    local p
    for p in pdns-server pdns-backend-sqlite3 dnsutils postgresql; do
      [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || return 0
    done
    return 1
  }
  plan() {
    [[ -x "$SWITCHYARD_TEMPORAL_BIN" ]] || pending+=(temporal)
    [[ -x "$SWITCHYARD_VERSITYGW_BIN" ]] || pending+=(versitygw)
    [[ -f "$cache/moto-$SWITCHYARD_MOTO_VERSION/.complete" && -x "$SWITCHYARD_MOTO_SERVER_BIN" ]] || pending+=(moto)
    [[ -f "$cache/schemathesis-$SWITCHYARD_SCHEMATHESIS_VERSION/.complete" && -x "$SWITCHYARD_SCHEMATHESIS_BIN" ]] ||
      pending+=(schemathesis)
    if dpkg_missing; then pending+=(apt); fi
    [[ -d "$_sy_repo_root/node_modules" && ! "$_sy_repo_root/package-lock.json" -nt "$_sy_repo_root/node_modules/.package-lock.json" ]] ||
      pending+=(node_modules)
    ((${#pending[@]})) || return 0
    local p list=()
    for p in "${pending[@]}"; do list+=("$p ($(minutes "${typical[$p]}"))"); done
    say "first start" "to install: $(IFS=,; echo "${list[*]}" | sed 's/,/, /g'); about $(minutes "$(pending_seconds)") in all (2 cores; later starts reuse the cache in $cache)"
  }
  # progress STEP: STEP is done; say what is left.
  progress() {
    local p rest=()
    for p in "${pending[@]}"; do [[ "$p" == "$1" ]] || rest+=("$p"); done
    ((${#rest[@]} < ${#pending[@]})) || return 0
    pending=("${rest[@]}")
    ((${#pending[@]})) && say "" "about $(minutes "$(pending_seconds)") left (${pending[*]})"
    return 0
  }
  # ticking NAME LOG CMD...: runs CMD with its output in LOG, saying every 30 s that NAME is at work.
  ticking() {
    local name="$1" log="$2" start ticker status=0
    shift 2
    start="$(now)"
    (
      # The sleep goes with the ticker: left behind, it would hold the caller's stdout open.
      trap 'kill "$nap" 2>/dev/null; exit 0' TERM
      while :; do
        sleep 30 &
        nap=$!
        wait "$nap"
        say "$name" "still at work, $(took "$start") so far (typically $(minutes "${typical[${name%% *}]:-60}"))"
      done
    ) &
    ticker=$!
    "$@" >"$log" 2>&1 || status=$?
    kill "$ticker" 2>/dev/null
    wait "$ticker" 2>/dev/null || true
    return "$status"
  }

  # go install into a temporary GOBIN, then rename: an interrupted build never looks cached.
  go_tool() {
    local name="$1" version="$2" module="$3" bin="$4"
    if [[ -x "$bin" ]]; then
      say "$name $version" "cached"
      return
    fi
    command -v go >/dev/null || fail "$name $version" "go is not on PATH (Go >= 1.25 is needed)"
    local dir tmp start log
    dir="$(dirname "$(dirname "$bin")")"
    tmp="$dir.tmp.$$"
    log="$cache/$name-$version.build.log"
    rm -rf "$dir".tmp.* # left by an interrupted build
    mkdir -p "$tmp/bin"
    start="$(now)"
    say "$name $version" "building (go install $module@v$version, log $log)..."
    if ! ticking "$name $version" "$log" env GOBIN="$tmp/bin" go install "$module@v$version"; then
      rm -rf "$tmp"
      fail "$name $version" "go install $module@v$version failed" "$log"
    fi
    rm -rf "$dir"
    mv "$tmp" "$dir"
    say "$name $version" "built in $(took "$start")"
  }

  # A venv is not relocatable, so it is built in place and marked complete at the end.
  python_venv() {
    local name="$1" version="$2" spec="$3" bin="$4" dir log start
    dir="$(dirname "$(dirname "$bin")")"
    if [[ -f "$dir/.complete" && -x "$bin" ]]; then
      say "$name $version" "cached"
      return
    fi
    command -v python3 >/dev/null || fail "$name $version" "python3 is not on PATH"
    log="$cache/$name-$version.build.log"
    start="$(now)"
    rm -rf "$dir"
    say "$name $version" "installing (venv + pip install $spec, log $log)..."
    if ! ticking "$name $version" "$log" bash -c 'python3 -m venv "$1" && "$1/bin/pip" install --quiet "$2"' _ "$dir" "$spec"; then
      rm -rf "$dir"
      fail "$name $version" "venv or pip install failed" "$log"
    fi
    [[ -x "$bin" ]] || fail "$name $version" "pip succeeded but $bin is missing"
    touch "$dir/.complete"
    say "$name $version" "installed in $(took "$start")"
  }

  apt_packages() {
    local missing=() p start
    for p in pdns-server pdns-backend-sqlite3 dnsutils postgresql; do
      # "install ok installed" only: a removed package keeps its config ("rc") and still answers dpkg -s.
      [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
      say "apt packages" "cached (pdns-server pdns-backend-sqlite3 dnsutils postgresql)"
      return
    fi
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
      command -v sudo >/dev/null || fail "apt ${missing[*]}" "not root and sudo is not available"
      sudo=(sudo)
    fi
    start="$(now)"
    local log="$cache/apt.log"
    say "apt packages" "installing ${missing[*]} (log $log)..."
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 ||
      fail "apt ${missing[*]}" "apt-get update failed" "$log"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
      fail "apt ${missing[*]}" "apt-get install failed" "$log"
    say "apt packages" "installed in $(took "$start")"
  }

  node_modules() {
    local root="$_sy_repo_root" start
    if [[ -d "$root/node_modules" && ! "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]]; then
      say "node_modules" "cached"
      return
    fi
    start="$(now)"
    say "node_modules" "npm ci..."
    # better-sqlite3 compiles against Node's headers; node-gyp downloads them unless told where they
    # are. Where the system's Node ships its own headers (Debian's nodejs), use those: a machine
    # that reaches only package registries cannot download them, and root's npmrc may say so while
    # another user's does not.
    local nodedir=()
    if [[ -z "${npm_config_nodedir:-}" && "$(npm config get nodedir 2>/dev/null)" =~ ^(undefined|null|)$ ]]; then
      local prefix version
      prefix="$(dirname "$(dirname "$(command -v node)")")"
      version="$(node -p 'process.versions.node')"
      if grep -qs "define NODE_MAJOR_VERSION ${version%%.*}\b" "$prefix/include/node/node_version.h"; then
        nodedir=(--nodedir="$prefix")
      fi
    fi
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error "${nodedir[@]}") || fail "node_modules" "npm ci failed"
    say "node_modules" "installed in $(took "$start")"
  }

  plan
  go_tool temporal "$SWITCHYARD_TEMPORAL_VERSION" github.com/temporalio/cli/cmd/temporal "$SWITCHYARD_TEMPORAL_BIN"
  progress temporal
  go_tool versitygw "$SWITCHYARD_VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw "$SWITCHYARD_VERSITYGW_BIN"
  progress versitygw
  python_venv moto "$SWITCHYARD_MOTO_VERSION" "moto[server]==$SWITCHYARD_MOTO_VERSION" "$SWITCHYARD_MOTO_SERVER_BIN"
  progress moto
  python_venv schemathesis "$SWITCHYARD_SCHEMATHESIS_VERSION" "schemathesis~=$SWITCHYARD_SCHEMATHESIS_VERSION.0" "$SWITCHYARD_SCHEMATHESIS_BIN"
  progress schemathesis
  apt_packages
  progress apt
  node_modules
  progress node_modules
)
_sy_status=$?
unset _sy_repo_root

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # Executed, not sourced: show what a caller would get.
  if [[ $_sy_status -eq 0 ]]; then
    env | grep -E '^SWITCHYARD_(TOOLS_DIR|[A-Z_]+_BIN)=' | sed 's/^/export /'
  fi
  exit $_sy_status
fi
return $_sy_status
