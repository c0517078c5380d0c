# Backplane — the two commands the README promises, plus release, lint and bench helpers.
# Every target installs what it needs from the package registries when it is missing.

SHELL := /bin/bash
.DEFAULT_GOAL := run

.PHONY: run test release lint tools e2e-tools build bench

## Build and start the portal on http://127.0.0.1:3000 with SQLite under ./data
run: tools build
	./target/debug/backplane

## Every test: format and lints, unit and integration (SQLite and PostgreSQL), end-to-end in Chromium
test: tools e2e-tools
	scripts/tools.sh deny binaryen schemathesis
	scripts/test.sh

## Optimised server and size-optimised wasm, content-hashed and precompressed (.br, .gz); prints sizes
release: tools
	scripts/tools.sh binaryen
	PATH="$(CURDIR)/.tools/node_modules/.bin:$$PATH" cargo run -q -p site-build -- --release

lint:
	scripts/lint.sh

tools:
	scripts/tools.sh rust

e2e-tools:
	scripts/tools.sh e2e

## The server, wasm, JavaScript and CSS into target/ (`cargo leptos build` does the same, if installed)
build:
	cargo run -q -p site-build

## Benchmarks (not tests; figures in the README): appliance backup vs restic, live fan-out to
## 10,000 sockets, Jobs → Recent and /api/v1/jobs over a million jobs, the Dashboard and alarm evaluation, on
## SQLite and PostgreSQL
bench:
	scripts/bench-backup.sh
	scripts/bench-fanout.sh
	scripts/bench-recent-jobs.sh
	scripts/bench-alerts.sh
	scripts/bench-assets.sh
	scripts/bench-api-jobs.sh
