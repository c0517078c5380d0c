#!/usr/bin/env bash
# Jobs → Recent with JOBS jobs across ORGANIZATIONS organizations, on SQLite and on PostgreSQL
# (127.0.0.1:5432, or $BACKPLANE_TEST_POSTGRES_URL): p50/p99 per query for a Superuser and for a
# user scoped to 1 % of the organizations. Usage: scripts/bench-recent-jobs.sh [jobs] [organizations]
exec "$(dirname "$0")/bench-database.sh" recent-jobs "$@"
