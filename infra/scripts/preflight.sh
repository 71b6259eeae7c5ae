#!/usr/bin/env bash
# Checks that this machine can run the README's commands, before anything is installed or built,
# and names every problem at once with the command that fixes it. Plain bash: it runs before
# `npm ci`, so it needs no node_modules (and not even a working Node.js).
#
#   bash infra/scripts/preflight.sh stack   what `npm run stack` needs (also the demo's ports)
#   bash infra/scripts/preflight.sh test    what `npm test` needs
#
# stack.sh and test.sh run it first; `switchyard doctor` runs it too. Exit 0 when all is well,
# 1 with the list of problems otherwise. Checks: Node.js (package.json engines), npm, Go >= 1.25
# and a Python venv (only while the tools they build are not cached), python3, g++ and make
# (only while node_modules needs `npm ci`), apt-get and root or sudo (only while a Debian package
# is missing), setpriv as root, the loopback addresses 127.0.1.1 and 127.0.1.2, the demo's ports (stack), and
# free disk space for the tool cache.
#   SWITCHYARD_TOOLS_DIR        the tool cache to check (default ~/.cache/switchyard/tools)
#   SWITCHYARD_PREFLIGHT_PORTS  host:port pairs the stack needs free (default: the demo's)
set -uo pipefail

mode="${1:-stack}"
if [[ "$mode" != stack && "$mode" != test ]]; then
  echo "usage: preflight.sh stack|test" >&2
  exit 2
fi
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here=.
root="$(cd "$here/../.." && pwd)"
cache="${SWITCHYARD_TOOLS_DIR:-$HOME/.cache/switchyard/tools}"
ports="${SWITCHYARD_PREFLIGHT_PORTS:-127.0.1.1:18080 127.0.1.2:18080 127.0.1.2:18081}"
go_min=1.25
python_min=3.9
apt_packages=(pdns-server pdns-backend-sqlite3 dnsutils postgresql)

problems=()
found=()
problem() { problems+=("$1"$'\n'"    fix: $2"); }

# True when dotted version $1 >= $2 (numeric parts, missing parts count as 0).
version_ge() {
  local IFS=. i
  local -a a b
  read -ra a <<<"$1"
  read -ra b <<<"$2"
  for ((i = 0; i < ${#b[@]} || i < ${#a[@]}; i++)); do
    local x="${a[i]:-0}" y="${b[i]:-0}"
    x="${x%%[!0-9]*}" y="${y%%[!0-9]*}"
    ((10#${x:-0} > 10#${y:-0})) && return 0
    ((10#${x:-0} < 10#${y:-0})) && return 1
  done
  return 0
}

# The tool versions tools.sh installs (one place: its SWITCHYARD_<TOOL>_VERSION lines).
declare -A version=()
while IFS= read -r line; do
  [[ "$line" =~ ^SWITCHYARD_([A-Z]+)_VERSION=([0-9.]+)$ ]] && version[${BASH_REMATCH[1]}]="${BASH_REMATCH[2]}"
done <"$root/infra/scripts/tools.sh"
needs_go=false needs_venv=false
[[ -x "$cache/temporal-${version[TEMPORAL]:-}/bin/temporal" ]] || needs_go=true
[[ -x "$cache/versitygw-${version[VERSITYGW]:-}/bin/versitygw" ]] || needs_go=true
[[ -f "$cache/moto-${version[MOTO]:-}/.complete" ]] || needs_venv=true
needs_npm_ci=true
[[ -d "$root/node_modules" && ! "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]] && needs_npm_ci=false

arch=amd64
[[ "$(uname -m 2>/dev/null)" == aarch64 ]] && arch=arm64

# Node.js, as package.json's engines.node asks (">=X.Y").
node_min=20
[[ "$(<"$root/package.json")" =~ \"node\":[[:space:]]*\"\>=([0-9.]+)\" ]] && node_min="${BASH_REMATCH[1]}"
node_fix="install Node.js $node_min or newer, e.g. \`curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - && sudo apt-get install -y nodejs\` (or \`nvm install 22\`)"
node_ok=false
if ! command -v node >/dev/null 2>&1; then
  problem "Node.js is not on PATH (package.json needs node >=$node_min)" "$node_fix"
else
  node_version="$(node --version 2>/dev/null)"
  node_version="${node_version#v}"
  if [[ -z "$node_version" ]] || ! version_ge "$node_version" "$node_min"; then
    problem "Node.js ${node_version:-(no version)} at $(command -v node) is older than package.json's engines.node (>=$node_min)" "$node_fix"
  else
    node_ok=true
    found+=("node $node_version")
  fi
fi
if $needs_npm_ci && ! command -v npm >/dev/null 2>&1; then
  problem "npm is not on PATH (node_modules is missing or older than package-lock.json, so \`npm ci\` must run)" "$node_fix"
fi

# Go, to build the Temporal CLI and versitygw into the cache.
if $needs_go; then
  go_fix="install Go $go_min or newer (Debian's golang-go is older): \`curl -fsSL \"https://go.dev/dl/\$(curl -fsSL 'https://go.dev/VERSION?m=text' | head -1).linux-$arch.tar.gz\" | sudo tar -C /usr/local -xz && export PATH=\$PATH:/usr/local/go/bin\`"
  if ! command -v go >/dev/null 2>&1; then
    problem "Go is not on PATH (Go >= $go_min builds temporal ${version[TEMPORAL]:-} and versitygw ${version[VERSITYGW]:-} into $cache)" "$go_fix"
  else
    go_line="$(go version 2>/dev/null)"
    if [[ "$go_line" =~ go([0-9]+\.[0-9]+(\.[0-9]+)?) ]] && version_ge "${BASH_REMATCH[1]}" "$go_min"; then
      found+=("go ${BASH_REMATCH[1]}")
    else
      problem "Go at $(command -v go) is too old or broken (\`go version\`: ${go_line:-no answer}); Go >= $go_min is needed" "$go_fix"
    fi
  fi
fi

# python3 (PowerDNS's database is created with its sqlite3 module) and, for moto, venv.
python_fix="\`sudo apt-get install -y python3 python3-venv\`"
if ! command -v python3 >/dev/null 2>&1; then
  problem "python3 is not on PATH (Python >= $python_min is needed)" "$python_fix"
elif ! python_version="$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)" ||
  ! version_ge "$python_version" "$python_min"; then
  problem "python3 at $(command -v python3) is ${python_version:-broken}; Python >= $python_min is needed" "$python_fix"
else
  found+=("python $python_version")
  if $needs_venv && ! python3 -c 'import venv, ensurepip, sqlite3' >/dev/null 2>&1; then
    problem "python3 has no working venv module (moto ${version[MOTO]:-} is installed into a virtualenv)" "$python_fix"
  fi
fi

# A C++ toolchain: `npm ci` compiles better-sqlite3 from source.
if $needs_npm_ci; then
  missing_cc=()
  for tool in g++ make; do command -v "$tool" >/dev/null 2>&1 || missing_cc+=("$tool"); done
  if ((${#missing_cc[@]})); then
    problem "${missing_cc[*]} not on PATH (\`npm ci\` compiles better-sqlite3 from source)" "\`sudo apt-get install -y g++ make\`"
  fi
fi

# apt-get, as root or with sudo, while a Debian package the stack runs is missing.
missing_pkgs=()
for p in "${apt_packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing_pkgs+=("$p")
done
if ((${#missing_pkgs[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    problem "apt-get is not available, and ${missing_pkgs[*]} are not installed (the stack installs them from Debian/Ubuntu)" \
      "on Debian or Ubuntu this works by itself; elsewhere install PowerDNS Authoritative with its sqlite3 backend, dig and PostgreSQL with your package manager"
  elif [[ "$(id -u 2>/dev/null)" != 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    problem "not root and sudo is not installed; tools.sh installs ${missing_pkgs[*]} with apt-get" \
      "\`su -c 'apt-get install -y ${missing_pkgs[*]}'\` once (or install sudo: \`su -c 'apt-get install -y sudo && usermod -aG sudo $(id -un 2>/dev/null || echo "$USER")'\`)"
  fi
fi

# As root, PostgreSQL (which refuses root) is started as the postgres user through setpriv.
if [[ "$(id -u 2>/dev/null)" == 0 ]] && ! command -v setpriv >/dev/null 2>&1; then
  problem "setpriv is not on PATH; as root the stack starts PostgreSQL as the postgres user with it" \
    "\`apt-get install -y util-linux\`"
fi

# The loopback addresses (and, for the stack, the demo's ports). Binding is the real test;
# without a working Node.js, a connection that succeeds still shows a port is taken.
bind_check='const [h, p] = process.argv.slice(1); const s = require("node:net").createServer();
s.once("error", (e) => { console.log(e.code); process.exit(1); });
s.listen(Number(p), h, () => s.close());'
if [[ "$mode" == stack ]]; then targets="$ports"; else targets="127.0.1.1:0 127.0.1.2:0"; fi
for target in $targets; do
  host="${target%:*}" port="${target##*:}" code=""
  if $node_ok; then
    code="$(node -e "$bind_check" "$host" "$port" 2>/dev/null)" && continue
  else
    [[ "$port" == 0 ]] && continue # an address can only be tried with a bind
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null || continue
    code=EADDRINUSE
  fi
  if [[ "$code" == EADDRINUSE ]]; then
    problem "something already listens on $host:$port, where the demo app serves" \
      "see what: \`ss -ltnp 'sport = :$port'\`; stop it (another \`npm run stack\`? Ctrl-C it)"
  else
    problem "cannot bind ${host}$([[ "$port" != 0 ]] && echo ":$port") (${code:-unknown error}); the demo and the tests serve from 127.0.1.1 and 127.0.1.2" \
      "Linux routes all of 127.0.0.0/8 to lo; elsewhere add the alias: \`sudo ifconfig lo0 alias $host\`"
  fi
done

# Disk: the first build fills the tool cache (~0.8 GiB) and Go's module and build caches (~4 GiB).
need_mb=1024
if $needs_go || $needs_venv; then need_mb=5120; fi
probe_dir="$cache"
while [[ ! -d "$probe_dir" && "$probe_dir" == */* ]]; do probe_dir="${probe_dir%/*}"; done
[[ -d "$probe_dir" ]] || probe_dir=/
if df_out="$(df -Pk "$probe_dir" 2>/dev/null)"; then
  { read -r _ && read -r _ _ _ avail_kb _; } <<<"$df_out"
  if [[ "${avail_kb:-}" =~ ^[0-9]+$ ]] && ((avail_kb / 1024 < need_mb)); then
    problem "only $((avail_kb / 1024)) MiB free on the disk of $probe_dir; $((need_mb / 1024)) GiB are needed (tool cache ~0.8 GiB, Go's module and build caches ~4 GiB)" \
      "free space there (\`du -sh ~/.cache/* ~/go | sort -h\`) or point SWITCHYARD_TOOLS_DIR at a bigger disk"
  fi
fi

if ((${#problems[@]})); then
  echo "preflight: ${#problems[@]} problem(s); nothing was installed or built. Fix them and run again:" >&2
  for p in "${problems[@]}"; do printf '  - %s\n' "$p" >&2; done
  exit 1
fi
summary="$(printf '%s, ' "${found[@]}")"
echo "preflight: ok for npm $([[ "$mode" == stack ]] && echo 'run stack' || echo test) (${summary%, })"
