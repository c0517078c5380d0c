#!/usr/bin/env bash
# Formatting and lints for the host (ssr) and the browser (wasm, hydrate).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
