#!/usr/bin/env bash
# The Dashboard and alarm evaluation with JOBS jobs across ORGANIZATIONS organizations (10
# scheduled assets each), on SQLite and on PostgreSQL (127.0.0.1:5432, or
# $BACKPLANE_TEST_POSTGRES_URL). Usage: scripts/bench-alerts.sh [jobs] [organizations]
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${1:-1000000}
ORGANIZATIONS=${2:-10000}
POSTGRES=${BACKPLANE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

echo "Building the benchmark (release)…"
cargo build --release -q -p bench --bin alerts
for database in sqlite postgres; do
  target/release/alerts --database "$database" --postgres "$POSTGRES" --jobs "$JOBS" --organizations "$ORGANIZATIONS"
done
