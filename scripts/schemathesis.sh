#!/usr/bin/env bash
# The public API's contract test: Schemathesis generates requests from the live portal's own
# OpenAPI document (valid and invalid parameters, bodies, missing and bad tokens) and checks
# every answer against it: no server error, only documented statuses, content types, headers
# and schemas. Runs the debug build on SQLite in a data directory of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

ST=.tools/schemathesis/bin/schemathesis
BIN=target/debug/backplane
PORT=${BP_SCHEMATHESIS_PORT:-3297}
BASE="http://127.0.0.1:$PORT"
DATA=$(mktemp -d)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT

export BACKPLANE_DATA_DIR="$DATA" DATABASE_URL="" RUST_LOG=error
export BACKPLANE_PUBLIC_URL="$BASE" BACKPLANE_LISTEN="127.0.0.1:$PORT"
BACKPLANE_ADMIN_PASSWORD=Schema-Owner-1 "$BIN" admin create-instance \
  --homerealm schema --name Schema --email owner@schema.example > /dev/null
made=$("$BIN" admin create-api-credential --homerealm schema --email owner@schema.example --name Schemathesis)
client_id=$(sed -n 's/^Client ID: //p' <<< "$made")
client_secret=$(sed -n 's/^Client secret: //p' <<< "$made")

# Generous budget: the run sends thousands of requests with one credential.
"$BIN" --api-requests-per-minute 1000000 > "$DATA/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fs "$BASE/healthz" > /dev/null && break
  sleep 0.2
done

token=$(curl -fs -u "$client_id:$client_secret" -d grant_type=client_credentials "$BASE/connect/token" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

"$ST" --config-file public_api/schemathesis.toml run "$BASE/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --max-examples "${BP_SCHEMATHESIS_EXAMPLES:-60}" \
  --seed 1 \
  --no-color \
  || { echo "--- server log"; tail -50 "$DATA/server.log"; exit 1; }
