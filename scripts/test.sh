#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and the integration suite on SQLite
# and PostgreSQL. Unless TEST_DATABASE_URL names a PostgreSQL server to use,
# it starts a throwaway PostgreSQL (initdb into a temp dir, a Unix socket,
# no TCP port) and removes it afterwards. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  pg_bin=""
  if command -v initdb >/dev/null 2>&1; then
    pg_bin="$(dirname "$(command -v initdb)")"
  else
    pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "scripts/test.sh: PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL 15 or set TEST_DATABASE_URL" >&2
    exit 1
  fi

  pg_dir="$(mktemp -d /tmp/anthology-pg.XXXXXX)"
  # PostgreSQL refuses to run as root: run it as the postgres user then.
  as_pg=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$pg_dir"
    as_pg=(runuser -u postgres --)
  fi
  stop_pg() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  }
  trap stop_pg EXIT
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; exit 1; }
  # Durability is pointless for a throwaway cluster: fsync off makes tests fast.
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-k $pg_dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null || { cat "$pg_dir/server.log" >&2; exit 1; }
  export TEST_DATABASE_URL="postgres://postgres@localhost/postgres?host=$pg_dir"
  echo "scripts/test.sh: throwaway PostgreSQL at $pg_dir"
fi

cargo test --locked --no-fail-fast "$@"
