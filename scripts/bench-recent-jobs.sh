#!/usr/bin/env bash
# Jobs → Recent with JOBS jobs across ORGANIZATIONS organizations, on SQLite and on PostgreSQL
# (127.0.0.1:5432, or $BACKPLANE_TEST_POSTGRES_URL): p50/p99 per query for a Superuser and for a
# user scoped to 1 % of the organizations. Usage: scripts/bench-recent-jobs.sh [jobs] [organizations]
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=${1:-1000000}
ORGANIZATIONS=${2:-10000}
POSTGRES=${BACKPLANE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

echo "Building the benchmark (release)…"
cargo build --release -q -p bench --bin recent-jobs
for database in sqlite postgres; do
  target/release/recent-jobs --database "$database" --postgres "$POSTGRES" \
    --jobs "$JOBS" --organizations "$ORGANIZATIONS"
done
