#!/usr/bin/env bash
# The Dashboard and alarm evaluation with JOBS jobs across ORGANIZATIONS organizations (10
# scheduled assets each), on SQLite and on PostgreSQL (127.0.0.1:5432, or
# $BACKPLANE_TEST_POSTGRES_URL). Usage: scripts/bench-alerts.sh [jobs] [organizations]
exec "$(dirname "$0")/bench-database.sh" alerts "$@"
