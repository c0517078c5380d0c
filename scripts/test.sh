#!/usr/bin/env bash
# Runs every test suite, keeps going after a failure, and ends with one summary.
set -uo pipefail
cd "$(dirname "$0")/.."

export BACKPLANE_TEST_POSTGRES_URL="${BACKPLANE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
# Node.js from scripts/tools.sh when the system's is too old for Playwright.
[ -x .tools/node/bin/node ] && export PATH="$PWD/.tools/node/bin:$PATH"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
source scripts/test-postgres.sh
ensure_test_postgres || { echo "no PostgreSQL for the tests"; exit 1; }
results=()
failed=0

step() {
  local name=$1; shift
  echo
  echo "=== $name: $*"
  local start=$SECONDS
  if "$@"; then
    results+=("PASS  $name ($((SECONDS - start)) s)")
  else
    results+=("FAIL  $name ($((SECONDS - start)) s)")
    failed=1
  fi
}

step "format and lints" scripts/lint.sh
# Advisories need the RustSec database download, so only what Cargo.lock itself says is checked.
step "dependencies (licences, bans, sources)" cargo deny --log-level error check licenses bans sources
step "unit and integration (SQLite + PostgreSQL)" cargo test --workspace --no-fail-fast
# The release wasm differs from the debug one (LTO, wasm-opt, the split at lazy routes): build
# it too, the way `make release` does (without the server's release build, which has never
# failed where the debug one passed), so a change that only breaks `make release` fails here.
# Before the debug build, which the end-to-end tests then use.
step "release wasm (make release's browser build)" \
  env PATH="$PWD/.tools/node_modules/.bin:$PATH" cargo run -q -p site-build -- --release --front-only
step "build the portal, the appliance and the emulators" bash -c "cargo run -q -p site-build && cargo build -p appliance --bin backplane-appliance && cargo build -p emulators --bin emulators"
step "systemd units (packaging/)" scripts/verify-units.sh
step "public API contract (Schemathesis)" scripts/schemathesis.sh
if [ "$failed" = 0 ]; then
  step "end-to-end (Playwright, Chromium)" bash -c 'cd end2end && npx playwright test'
else
  results+=("SKIP  end-to-end (an earlier step failed)")
fi

echo
echo "=== Summary"
printf '%s\n' "${results[@]}"
if [ "$failed" = 0 ]; then echo "ALL TESTS PASSED"; else echo "SOME TESTS FAILED"; fi
exit "$failed"
