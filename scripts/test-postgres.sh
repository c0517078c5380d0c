# Sourced by scripts/test.sh. When no PostgreSQL answers at $BACKPLANE_TEST_POSTGRES_URL, installs
# Debian's `postgresql` if it is missing and starts a throwaway cluster of its own on a free port
# (TLS on with Debian's self-signed certificate, as the TLS test wants), points the URL at it,
# and stops and deletes it when the tests end.

pg_address() {  # host and port of a postgres:// URL
  local rest=${1#*://}
  rest=${rest##*@}; rest=${rest%%/*}; rest=${rest%%\?*}
  pg_host=${rest%:*}; pg_port=${rest##*:}
  [ "$pg_host" = "$rest" ] && pg_port=5432
  return 0
}

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

free_port() {
  local port
  for port in $(seq 55432 55532); do
    answers 127.0.0.1 "$port" || { echo "$port"; return; }
  done
  return 1
}

ensure_test_postgres() {
  pg_address "$BACKPLANE_TEST_POSTGRES_URL"
  answers "$pg_host" "$pg_port" && return 0
  echo "No PostgreSQL answers at $pg_host:$pg_port: starting a throwaway cluster for the tests"
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ]; then
    echo "Installing PostgreSQL from Debian…"
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  local port; port=$(free_port)
  throwaway_pg=$(mktemp -d /tmp/backplane-test-pg.XXXXXX)
  # PostgreSQL refuses to run as root: then the cluster belongs to Debian's postgres user.
  as_owner=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$throwaway_pg"
    as_owner=(runuser -u postgres --)
  fi
  local options="-p $port -k $throwaway_pg -c listen_addresses=127.0.0.1 -c fsync=off"
  if [ -r /etc/ssl/certs/ssl-cert-snakeoil.pem ] && "${as_owner[@]}" test -r /etc/ssl/private/ssl-cert-snakeoil.key; then
    options+=" -c ssl=on -c ssl_cert_file=/etc/ssl/certs/ssl-cert-snakeoil.pem"
    options+=" -c ssl_key_file=/etc/ssl/private/ssl-cert-snakeoil.key"
  fi
  "${as_owner[@]}" "$bin/initdb" -D "$throwaway_pg/data" -U postgres --auth=trust -E UTF8 >"$throwaway_pg/initdb.log" \
    || { cat "$throwaway_pg/initdb.log"; return 1; }
  "${as_owner[@]}" "$bin/pg_ctl" -D "$throwaway_pg/data" -l "$throwaway_pg/server.log" -o "$options" -w start >/dev/null \
    || { cat "$throwaway_pg/server.log"; return 1; }
  trap stop_test_postgres EXIT
  export BACKPLANE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "PostgreSQL for the tests: $BACKPLANE_TEST_POSTGRES_URL (removed afterwards)"
}

stop_test_postgres() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$throwaway_pg/data" -m fast stop >/dev/null 2>&1
  rm -rf "$throwaway_pg"
}
