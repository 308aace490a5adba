#!/usr/bin/env bash
# Issue 12's table: the public reads of a small and a big seeded site
# (`anthology seed`), response cache off, one connection, p50 / p99 of each
# and the growth of p50 from the first size to the last. Also the seed's
# time, start-up time to the first /health, the server's peak RSS (VmHWM)
# and, for the last size, `anthology plans`. A benchmark, not a test: the
# machine's load average is printed beside every series.
#
#   scripts/scale-bench.sh [OPTIONS]
#
# Options:
#   --backend B        sqlite or postgres (default: sqlite)
#   --stories LIST     sizes, comma-separated (default: 100000,1000000)
#   --votes LIST       votes for each size (default: ten per story)
#   --duration D       each wrk run (default: 5s)
#   --repeat N         series per size; the table quotes medians (default: 1)
#   --keep DIR         SQLite: keep each seeded file as DIR/sqlite-N.db, and
#                      reuse one already there instead of seeding again
#   --pg-host DIR      PostgreSQL: use the server whose socket is in DIR (as
#                      its postgres user) instead of a throwaway one, keep
#                      each seeded database scale_N there, and reuse one
#                      already there instead of seeding again
#   --bin PATH         the release binary (default: target/release/anthology,
#                      built if missing)
#
#   scripts/scale-bench.sh --backend sqlite --keep /work/scale     # PORT=N to move the server (18731)
#   scripts/scale-bench.sh --backend postgres --stories 100000,1000000
#   scripts/scale-bench.sh --backend postgres --pg-host /path/to/socket-dir
set -euo pipefail
cd "$(dirname "$0")/.."

BACKEND=sqlite
SIZES=100000,1000000
VOTES=""
DURATION=5s
REPEAT=1
KEEP=""
PG_HOST=""
BIN=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKEND=$2; shift 2 ;;
    --stories) SIZES=$2; shift 2 ;;
    --votes) VOTES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    --pg-host) PG_HOST=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
done
case "$BACKEND" in sqlite | postgres) ;; *) echo "--backend: sqlite or postgres" >&2; exit 2 ;; esac
IFS=, read -r -a STORIES <<<"$SIZES"
if [ -n "$VOTES" ]; then IFS=, read -r -a VOTE_COUNTS <<<"$VOTES"; else VOTE_COUNTS=(); fi
for i in "${!STORIES[@]}"; do
  [ -n "${VOTE_COUNTS[$i]:-}" ] || VOTE_COUNTS[i]=$(( STORIES[i] * 10 ))
done
for n in "${STORIES[@]}" "${VOTE_COUNTS[@]}" "$REPEAT"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
for tool in wrk curl sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
if [ -z "$BIN" ]; then
  cargo build --release --locked -q
  BIN="$PWD/target/release/anthology"
fi

WORK="$(mktemp -d /tmp/anthology-scale.XXXXXX)"
chmod 755 "$WORK"
SERVER=""
if [ "$BACKEND" = postgres ] && [ -n "$PG_HOST" ]; then
  PG_DIR=$PG_HOST
  as_pg=(); [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
  PSQL=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)
  stop_pg() { :; }
elif [ "$BACKEND" = postgres ]; then
  # shellcheck source=scripts/throwaway-pg.sh
  . scripts/throwaway-pg.sh
  # initdb may be on PATH without psql beside it
  PSQL="$pg_bin/psql"; [ -x "$PSQL" ] || PSQL=$(command -v psql)
fi
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  [ "$BACKEND" = postgres ] && stop_pg
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=${PORT:-18731}
BASE="http://127.0.0.1:$PORT"
if curl -s "$BASE/health" >/dev/null 2>&1; then echo "port $PORT is taken: set PORT" >&2; exit 1; fi

load() { awk '{ print $1 }' /proc/loadavg; }

# kept N: whether a seeded database for N stories is there to reuse.
kept() {
  if [ "$BACKEND" = postgres ]; then
    [ -n "$PG_HOST" ] && [ "$("${as_pg[@]}" "$PSQL" -h "$PG_DIR" -U postgres -d "scale_$1" -Atc 'SELECT count(*) > 0 FROM stories' 2>/dev/null)" = t ]
  else
    [ -f "${url#sqlite://}" ]
  fi
}

# database_url N: a new database for N stories (or a kept one).
database_url() {
  if [ "$BACKEND" = postgres ]; then
    kept "$1" || "${as_pg[@]}" "$PSQL" -q -h "$PG_DIR" -U postgres -c "CREATE DATABASE scale_$1" >/dev/null
    echo "postgres://postgres@localhost/scale_$1?host=$PG_DIR"
  elif [ -n "$KEEP" ]; then
    echo "sqlite://$KEEP/sqlite-$1.db"
  else
    echo "sqlite://$WORK/sqlite-$1.db"
  fi
}

# sql STATEMENT: runs it on the database being measured.
sql() {
  if [ "$BACKEND" = postgres ]; then
    "${as_pg[@]}" "$PSQL" -q -h "$PG_DIR" -U postgres -d "scale_$n" -c "$1" >/dev/null
  else
    sqlite3 "${url#sqlite://}" "$1"
  fi
}

# the p50 and p99 of one wrk run, in ms: "p50 p99"
measure() {
  wrk -t1 -c1 -d"$DURATION" --latency "$BASE$1" >"$WORK/wrk.txt"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /Non-2xx/ { bad = $NF }
    END { if (bad) { print "NaN NaN" } else { printf "%.2f %.2f\n", p50, p99 } }
  ' "$WORK/wrk.txt"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

NAMES=("GET /v1/stories?limit=20" "50 pages deep by cursor" "story by slug" "/rating" "?q= a rare word"
  "?tag= the commonest (family)" "?q=mother" "?sort=title" "?sort=-rating" "GET /v1/tags"
  "/related?suggest=5" "?locale=de-DE")
declare -A P50 P99

for i in "${!STORIES[@]}"; do
  n=${STORIES[$i]} votes=${VOTE_COUNTS[$i]}
  url=$(database_url "$n")
  if kept "$n"; then
    echo "== $n stories: reusing ${url%%\?*}"
  else
    echo "== $n stories, $votes votes: seeding (load $(load))"
    start=$(date +%s.%N)
    DATABASE_URL=$url RUST_LOG=info "$BIN" seed --stories "$n" --votes "$votes" 2>"$WORK/seed-$n.log"
    grep -o '"message":"seed: [^"]*"\|"seconds":[0-9.]*' "$WORK/seed-$n.log" | paste - - | sed 's/^/   /' || true
    echo "   seeded in $(echo "$(date +%s.%N) - $start" | bc) s (load $(load))"
  fi
  for run in $(seq "$REPEAT"); do
    start=$(date +%s.%N)
    DATABASE_URL=$url ANTHOLOGY_ADDR=127.0.0.1:$PORT ANTHOLOGY_CACHE_TTL_MS=0 RUST_LOG=warn "$BIN" serve &
    SERVER=$!
    until curl -fs "$BASE/health" >/dev/null 2>&1; do
      kill -0 "$SERVER" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
      sleep 0.01
    done
    echo "   run $run: start-up to the first /health $(echo "$(date +%s.%N) - $start" | bc) s (load $(load))"
    first=$(curl -fs "$BASE/v1/stories?limit=1&fields=id,slug")
    id=$(echo "$first" | grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)
    slug=$(echo "$first" | grep -o '"slug":"[^"]*"' | head -1 | cut -d'"' -f4)
    # The story whose related list is read has its suggestions computed
    # first (the server's suggester takes it ahead of the seeded backlog),
    # so the read walks stored rows, as on a site that has settled.
    sql "UPDATE suggestion_queue SET reason = 'changed' WHERE story_id = $id"
    for _ in $(seq 600); do
      curl -fs "$BASE/v1/stories/$id/related?suggest=5" | grep -q '"kind":"suggested"' && break
      sleep 0.1
    done
    curl -fs "$BASE/v1/stories/$id/related?suggest=5" | grep -q '"kind":"suggested"' \
      || echo "   (story $id has no suggestions stored yet: its related read is of an empty list)"
    deep="/v1/stories?limit=20"
    for _ in $(seq 50); do
      deep=$(curl -fs -D - -o /dev/null "$BASE$deep" | tr -d '\r' | sed -n 's/^[Ll]ink: <\([^>]*\)>; rel="next".*/\1/p' | sed "s|^$BASE||")
    done
    paths=("/v1/stories?limit=20" "$deep" "/v1/stories/slug/$slug" "/v1/stories/$id/rating"
      "/v1/stories?q=quinquindora" "/v1/stories?tag=family" "/v1/stories?q=mother" "/v1/stories?sort=title"
      "/v1/stories?sort=-rating" "/v1/tags" "/v1/stories/$id/related?suggest=5" "/v1/stories?locale=de-DE")
    for k in "${!paths[@]}"; do
      read -r p50 p99 < <(measure "${paths[$k]}")
      P50[$i,$k]+="$p50 " P99[$i,$k]+="$p99 "
    done
    echo "   run $run: measured (load $(load)); server peak RSS $(awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$SERVER/status")"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
  done
  if [ "$i" = $(( ${#STORIES[@]} - 1 )) ]; then
    echo "== anthology plans at $n stories (with the two searches measured)"
    DATABASE_URL=$url RUST_LOG=warn "$BIN" plans --search mother --search quinquindora
  fi
  if [ "$BACKEND" = postgres ] && [ -z "$PG_HOST" ]; then
    "${as_pg[@]}" "$PSQL" -q -h "$PG_DIR" -U postgres -c "DROP DATABASE scale_$n" >/dev/null
  fi
done

echo
last=$(( ${#STORIES[@]} - 1 ))
printf '| endpoint (%s, p50 / p99 ms) |' "$BACKEND"
for n in "${STORIES[@]}"; do printf ' %s |' "$n"; done
echo ' growth |'
printf '|---|'; for _ in "${STORIES[@]}"; do printf -- '---:|'; done; echo '---:|'
for k in "${!NAMES[@]}"; do
  printf '| %s |' "${NAMES[$k]}"
  for i in "${!STORIES[@]}"; do
    printf ' %s / %s |' "$(echo "${P50[$i,$k]}" | tr ' ' '\n' | grep . | median)" \
      "$(echo "${P99[$i,$k]}" | tr ' ' '\n' | grep . | median)"
  done
  small=$(echo "${P50[0,$k]}" | tr ' ' '\n' | grep . | median)
  big=$(echo "${P50[$last,$k]}" | tr ' ' '\n' | grep . | median)
  awk -v a="$small" -v b="$big" 'BEGIN { printf " %.2f× |\n", b / a }'
done
