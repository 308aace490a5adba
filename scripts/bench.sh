#!/usr/bin/env bash
# Benchmarks, not tests: throughput and latency of the public reads against
# nginx serving the very same bytes as static files (the ceiling on this
# machine), votes per second on SQLite and PostgreSQL, aggregate reads, and
# suggestions over 100,000 stories. Prints a report; the numbers we keep
# are in docs/benchmarks.md. Needs wrk and nginx (installed with apt if
# missing) and a quiet machine: it uses both cores.
#
#   scripts/bench.sh                 # defaults: 10,000 stories, 64 connections, 10 s per run
#   DURATION=30s CONNS=64 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
STORIES="${STORIES:-10000}"
BIG="${BIG:-100000}"
PORT_SQLITE=18081
PORT_PG=18082
PORT_NGINX=18083

for tool in wrk nginx; do
  command -v "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
command -v sqlite3 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq sqlite3 >/dev/null; }
cargo build --release --locked -q
BIN="$PWD/target/release/anthology"

# shellcheck source=scripts/throwaway-pg.sh
. scripts/throwaway-pg.sh
WORK="$(mktemp -d /tmp/anthology-bench.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  stop_pg
  rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME DATABASE_URL PORT: runs the release binary, waits for /health.
start() {
  local name=$1 url=$2 port=$3
  DATABASE_URL="$url" ANTHOLOGY_ADDR="127.0.0.1:$port" RUST_LOG=warn RATING_VOTES_PER_MINUTE=10000000 RATING_NEW_VOTERS_PER_DAY=1000000 \
    JWT_SECRET=bench-secret-bench-secret-bench-secret "$BIN" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$WORK/$name.pid"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.1; done
  cat "$WORK/$name.log" >&2
  exit 1
}

# token PORT DATABASE_URL: creates an admin and logs in.
token() {
  DATABASE_URL="$2" ANTHOLOGY_PASSWORD="bench passphrase" RUST_LOG=warn "$BIN" editors create --email bench@example.com --role admin >/dev/null
  curl -fs "http://127.0.0.1:$1/v1/auth/token" -H 'Content-Type: application/json' \
    -d '{"email":"bench@example.com","password":"bench passphrase"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# load NAME URL [LUA] [CONNECTIONS]: one wrk run; prints "NAME rps p50 p99".
load() {
  local name=$1 url=$2 script=${3:-} conns=${4:-$CONNS}
  local threads=$(( conns < 2 ? conns : 2 ))
  local args=("-t$threads" "-c$conns" "-d$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" >"$WORK/wrk-$name.txt"
  awk -v name="$name" '
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { errors = $NF }
    END { printf "%-34s %10.0f req/s   p50 %-9s p99 %-9s %s\n", name, rps, p50, p99, (errors ? "non-2xx: " errors : "") }
  ' "$WORK/wrk-$name.txt"
}

rps_of() { awk '/^Requests\/sec/ { print $2 }' "$WORK/wrk-$1.txt"; }

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); wrk -t2 -c$CONNS -d$DURATION"

echo "== seeding $STORIES stories on SQLite"
SQLITE_URL="sqlite://$WORK/bench.db"
start sqlite "$SQLITE_URL" $PORT_SQLITE
TOKEN=$(token $PORT_SQLITE "$SQLITE_URL")
python3 scripts/seed.py "http://127.0.0.1:$PORT_SQLITE" "$TOKEN" "$STORIES"
A="http://127.0.0.1:$PORT_SQLITE"

mkdir -p "$WORK/static"
curl -fs "$A/v1/stories/slug/mums-moving-in" >"$WORK/static/story.json"
curl -fs "$A/v1/stories?limit=20" >"$WORK/static/list.json"
chmod -R a+rX "$WORK/static"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$PORT_NGINX;
    root $WORK/static;
    location / { default_type application/json; add_header Cache-Control "public, max-age=60, stale-while-revalidate=300"; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK"
N="http://127.0.0.1:$PORT_NGINX"

echo "== public reads (story: $(wc -c <"$WORK/static/story.json") bytes, list: $(wc -c <"$WORK/static/list.json") bytes)"
load "nginx: story file" "$N/story.json"
load "anthology: story by slug" "$A/v1/stories/slug/mums-moving-in"
load "nginx: list file" "$N/list.json"
load "anthology: list, limit=20" "$A/v1/stories?limit=20"
echo "story by slug: $(awk -v a="$(rps_of 'anthology: story by slug')" -v n="$(rps_of 'nginx: story file')" 'BEGIN { printf "%.0f%%", 100 * a / n }') of nginx;" \
  "list: $(awk -v a="$(rps_of 'anthology: list, limit=20')" -v n="$(rps_of 'nginx: list file')" 'BEGIN { printf "%.0f%%", 100 * a / n }') of nginx"

cat >"$WORK/vote.lua" <<'LUA'
-- A vote from a new voter each time, on one of the first 1,000 stories.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local function hex(n) local s = "" for _ = 1, n do s = s .. string.format("%x", math.random(0, 15)) end return s end
request = function()
  local voter = hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-a" .. hex(3) .. "-" .. hex(12)
  local body = '{"score": ' .. math.random(1, 5) .. '}'
  return wrk.format("PUT", "/v1/stories/" .. math.random(1, 1000) .. "/ratings/" .. voter, { ["Content-Type"] = "application/json" }, body)
end
LUA

echo "== ratings on SQLite"
load "sqlite: votes (distinct voters)" "$A" "$WORK/vote.lua"
load "sqlite: aggregate reads" "$A/v1/stories/1/rating"
echo "server peak RSS (SQLite, after all of the above): $(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$(cat "$WORK/sqlite.pid")/status")"

echo "== ratings on PostgreSQL (1,000 stories)"
"${as_pg[@]}" psql -q -h "$PG_DIR" -U postgres -c "CREATE DATABASE bench" >/dev/null
PG_BENCH_URL="postgres://postgres@localhost/bench?host=$PG_DIR"
start pg "$PG_BENCH_URL" $PORT_PG
PG_TOKEN=$(token $PORT_PG "$PG_BENCH_URL")
python3 scripts/seed.py "http://127.0.0.1:$PORT_PG" "$PG_TOKEN" 1000
load "postgres: votes (distinct voters)" "http://127.0.0.1:$PORT_PG" "$WORK/vote.lua"
load "postgres: aggregate reads" "http://127.0.0.1:$PORT_PG/v1/stories/1/rating"

echo "== $BIG stories (filled in with SQL), response cache off; one client unless said"
sqlite3 "$WORK/bench.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT $STORIES + 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BIG)
INSERT INTO stories (slug, title, excerpt, excerpt_is_custom, body, body_html, status, locale, author_name,
                     word_count, reading_time_minutes, published_at, version, created_at, updated_at)
SELECT 'filler-' || i, 'Filler story ' || i || ' about ' || (CASE i % 5 WHEN 0 THEN 'mothers' WHEN 1 THEN 'kitchens' WHEN 2 THEN 'winter' WHEN 3 THEN 'letters' ELSE 'gardens' END),
       'An excerpt of story ' || i, 0, 'Body ' || i, '<p>Body ' || i || '</p>', 'published', 'en-GB', 'Filler',
       3, 1, datetime('2025-01-01', '+' || (i % 300) || ' days'), 1, datetime('now'), datetime('now')
FROM n;
INSERT INTO story_tags (story_id, tag_id, position)
SELECT s.id, t.id, 0 FROM stories s JOIN tags t ON t.slug = 'topic-' || (s.id % 40) WHERE s.slug LIKE 'filler-%';
SQL
echo "sqlite now holds $(sqlite3 "$WORK/bench.db" 'SELECT COUNT(*) FROM stories') stories"
# The response cache would answer all but the first of these: measure the database.
kill "$(cat "$WORK/sqlite.pid")"
ANTHOLOGY_CACHE_TTL_MS=0 start sqlite-uncached "$SQLITE_URL" $PORT_SQLITE
load "sqlite: story by slug, no cache" "$A/v1/stories/slug/mums-moving-in"
load "sqlite: list, limit=20, no cache" "$A/v1/stories?limit=20"
load "sqlite: related?suggest=5" "$A/v1/stories/1/related?suggest=5" "" 1
load "sqlite: search q=mother" "$A/v1/stories?q=mother" "" 1
load "sqlite: list, limit=20 (uncached)" "$A/v1/stories?limit=20" "" 1
load "sqlite: list, sort=-rating" "$A/v1/stories?sort=-rating" "" 1
