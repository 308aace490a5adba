# Starts a throwaway PostgreSQL for this shell: initdb into a temp dir, a
# Unix socket and no TCP port, fsync off; removed when the shell exits.
# Source it; it sets PG_URL (a superuser URL) and PG_DIR. As root it runs
# the server as the postgres user, which PostgreSQL requires.

pg_bin=""
if command -v initdb >/dev/null 2>&1; then
  pg_bin="$(dirname "$(command -v initdb)")"
else
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
fi
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL 15" >&2
  exit 1
fi

PG_DIR="$(mktemp -d /tmp/anthology-pg.XXXXXX)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$PG_DIR"
  as_pg=(runuser -u postgres --)
fi
stop_pg() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap stop_pg EXIT
"${as_pg[@]}" "$pg_bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
  || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-k $PG_DIR -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
  start >/dev/null || { cat "$PG_DIR/server.log" >&2; exit 1; }
PG_URL="postgres://postgres@localhost/postgres?host=$PG_DIR"
