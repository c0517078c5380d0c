#!/usr/bin/env bash
# /api/v1/jobs through the public API's router over 1,000,000 jobs in 10,000 organizations, for
# a Superuser's token and a token whose creator's scope holds 1 % of the organizations.
# Usage: scripts/bench-api-jobs.sh [jobs] [organizations]
exec "$(dirname "$0")/bench-database.sh" api-jobs "$@"
