#!/usr/bin/env bash
# Live fan-out: the portal (release build) with SOCKETS browser-like WebSockets from a load
# client on loopback, while JOBS jobs publish progress RATE times a second each for SECONDS.
# Prints the server's memory per socket and CPU, and the client's event → client latency.
# Usage: scripts/bench-fanout.sh [sockets, default 10000] [seconds, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."

SOCKETS=${1:-10000}
SECONDS_RUN=${2:-30}
PORT=${BENCH_FANOUT_PORT:-3390}
WORK=$(mktemp -d /tmp/backplane-fanout-XXXXXX)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$WORK"' EXIT
# One descriptor per socket on each side (server and client are separate processes).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((SOCKETS + 200)) ]; then
  echo "open-file limit $(ulimit -n) is below $((SOCKETS + 200)); raise it or use fewer sockets" >&2
  exit 1
fi

echo "Building the benchmark (release)…"
cargo build --release -q -p bench --bin fanout-server --bin fanout-client

target/release/fanout-server --listen "127.0.0.1:$PORT" --cookies "$WORK/cookies" \
  --sockets "$SOCKETS" --seconds "$SECONDS_RUN" > "$WORK/server.json" &
SERVER=$!
while [ ! -s "$WORK/cookies" ]; do sleep 0.5; done
sleep 1
target/release/fanout-client --url "ws://127.0.0.1:$PORT/api/live" --cookies "$WORK/cookies" > "$WORK/client.json"
wait "$SERVER"
echo "server: $(cat "$WORK/server.json")"
echo "client: $(cat "$WORK/client.json")"
