#!/usr/bin/env bash
# Runs one database benchmark of the bench crate with JOBS jobs across ORGANIZATIONS
# organizations, on SQLite and then on PostgreSQL (127.0.0.1:5432, or
# $BACKPLANE_TEST_POSTGRES_URL). Usage: scripts/bench-database.sh BINARY [jobs] [organizations]
set -euo pipefail
cd "$(dirname "$0")/.."

BINARY=$1
JOBS=${2:-1000000}
ORGANIZATIONS=${3:-10000}
POSTGRES=${BACKPLANE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

echo "Building the benchmark (release)…"
cargo build --release -q -p bench --bin "$BINARY"
for database in sqlite postgres; do
  "target/release/$BINARY" --database "$database" --postgres "$POSTGRES" \
    --jobs "$JOBS" --organizations "$ORGANIZATIONS"
done
