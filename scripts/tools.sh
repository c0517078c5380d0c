#!/usr/bin/env bash
# Installs what the build and tests need, only when missing, from the package registries only.
#   scripts/tools.sh rust      wasm target, cargo-leptos, wasm-bindgen CLI (= Cargo.lock version), cargo-deny
#   scripts/tools.sh e2e       Chromium and restic (Debian), Playwright and test packages (npm)
#   scripts/tools.sh binaryen  wasm-opt (npm binaryen) for release builds, in .tools/
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
CARGO_DENY_VERSION=0.20.2

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

rust_tools() {
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
    || rustup target add wasm32-unknown-unknown
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    echo "Installing cargo-leptos $CARGO_LEPTOS_VERSION (about 20 minutes on 2 cores, once)…"
    cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked --features no_downloads
  fi
  if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
    echo "Installing cargo-deny $CARGO_DENY_VERSION (about 4 minutes, once)…"
    cargo install "cargo-deny@$CARGO_DENY_VERSION" --locked
  fi
  local bindgen
  bindgen=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen\$"; then
    echo "Installing wasm-bindgen-cli $bindgen (about 3 minutes, once)…"
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo install wasm-bindgen-cli --version "$bindgen"
  fi
}

e2e_tools() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v restic >/dev/null || missing+=(restic)   # the appliance's interoperability test
  command -v gdb >/dev/null || missing+=(gdb)         # thread dumps when an end-to-end test stalls
  command -v systemd-analyze >/dev/null || missing+=(systemd)  # checks packaging/'s units
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

for what in "$@"; do
  case "$what" in
    rust) rust_tools ;;
    e2e) e2e_tools ;;
    binaryen) binaryen ;;
    *) echo "unknown tool set: $what" >&2; exit 2 ;;
  esac
done
