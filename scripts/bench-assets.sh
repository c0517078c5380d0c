#!/usr/bin/env bash
# Protect → Assets with ORGANIZATIONS organizations of 10 assets each (100,000 by default) and
# JOBS jobs, on SQLite and on PostgreSQL (127.0.0.1:5432, or $BACKPLANE_TEST_POSTGRES_URL):
# p50/p99 per query for a Superuser and for a user scoped to 1 % of the organizations.
# Usage: scripts/bench-assets.sh [jobs] [organizations]
exec "$(dirname "$0")/bench-database.sh" assets "$@"
