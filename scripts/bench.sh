#!/usr/bin/env bash
# Benchmarks, not tests: throughput and latency of the public reads against
# nginx serving the very same bytes as static files (the ceiling on this
# machine) under the conditions a real front-end meets, votes per second and
# aggregate reads on each backend, and the costly reads over 100,000
# stories. Prints a report; the numbers we keep are in docs/benchmarks.md.
# Needs wrk and nginx (installed with apt if missing, with nginx's brotli
# module when br is asked for) and a quiet machine: it uses both cores.
#
#   scripts/bench.sh [OPTIONS]
#
# Options (a LIST is comma-separated; every combination is run):
#   --backend LIST      sqlite, postgres (default: sqlite,postgres)
#   --compression LIST  none, gzip, br (default: none): what the client
#                       accepts (wrk sends Accept-Encoding); nginx compresses
#                       the same bytes on the fly (gzip at its default level,
#                       gzip_types application/json; brotli likewise)
#   --votes LIST        votes per second sent during the reads by a
#                       background voter (distinct voters, spread over up to
#                       100 stories), e.g. 0,20,200 (default: 0)
#   --cache LIST        on, off (default: on); off runs the server with
#                       ANTHOLOGY_CACHE_TTL_MS=0, so every read is the database's
#   --stories N         stories seeded through the API on each backend (default: 10000)
#   --repeat N          runs of each condition, to show the spread (default: 1)
#   --duration D        length of each wrk run (default: 10s)
#   --conns N           wrk connections (default: 64)
#   --big N             stories in the large-site section (default: 100000)
#   --reads-only        only the read conditions: skip votes/aggregates and
#                       the large-site section
#   --votes-only        only votes/s and aggregate reads (no reads beside
#                       nginx, no large-site section)
#   --vote-addresses LIST  client addresses the votes/s run's voters come
#                       from (X-Forwarded-For, the proxy 127.0.0.1 trusted):
#                       1 is one address, as a load tester; many, as a
#                       real site (default: 1)
#   --vote-processes N  Anthology processes on the one PostgreSQL during
#                       votes/s, the connections split between them
#                       (default: 1; SQLite is always one process)
#
# For each condition it prints, for story by slug and the list of 20:
# Anthology's and nginx's req/s, their ratio, Anthology's p50/p99, nginx's p99, the bytes
# of one response on the wire (headers and body; Anthology / nginx), and the
# server's peak RSS (VmHWM) during that condition. The server's peak over the
# whole run (seeding, a login, reads with and without cache, votes) ends the
# report. After each votes/s run: the CPU per vote answered of the Anthology
# process(es), the PostgreSQL server, wrk and everything else on the machine,
# and whether the aggregates are exact. DURATION, CONNS, STORIES and BIG in the environment set the
# defaults; ANTHOLOGY_BIN runs that binary instead of building this tree's.
#
#   scripts/bench.sh                                    # about 8 minutes, including a release build
#   scripts/bench.sh --compression none,gzip,br --votes 0,20,200 --cache on,off --repeat 3
#   scripts/bench.sh --backend sqlite --cache off --reads-only --stories 2001
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS="sqlite,postgres"
ENCODINGS="none"
VOTE_RATES="0"
CACHES="on"
STORIES="${STORIES:-10000}"
REPEAT=1
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-64}"
BIG="${BIG:-100000}"
READS_ONLY=false
VOTES_ONLY=false
VOTE_ADDRESSES="1"
VOTE_PROCESSES=1
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKENDS=$2; shift 2 ;;
    --compression) ENCODINGS=$2; shift 2 ;;
    --votes) VOTE_RATES=$2; shift 2 ;;
    --cache) CACHES=$2; shift 2 ;;
    --stories) STORIES=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --big) BIG=$2; shift 2 ;;
    --reads-only) READS_ONLY=true; shift ;;
    --votes-only) VOTES_ONLY=true; shift ;;
    --vote-addresses) VOTE_ADDRESSES=$2; shift 2 ;;
    --vote-processes) VOTE_PROCESSES=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
done
# check NAME VALUE ALLOWED...: every item of the comma list VALUE is allowed.
check() {
  local name=$1 value=$2 item; shift 2
  for item in ${value//,/ }; do
    [[ " $* " == *" $item "* ]] || { echo "--$name: $item is not one of: $*" >&2; exit 2; }
  done
}
check backend "$BACKENDS" sqlite postgres
check compression "$ENCODINGS" none gzip br
check cache "$CACHES" on off
# Only votes: no read conditions at all.
$VOTES_ONLY && CACHES=""
for n in $VOTE_RATES $STORIES $REPEAT $CONNS $BIG $VOTE_ADDRESSES $VOTE_PROCESSES; do
  [[ ${n//,/} =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done

PORT_SQLITE=18081
PORT_PG=18082
PORT_NGINX=18083

install() { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
for tool in wrk nginx sqlite3 curl; do command -v "$tool" >/dev/null 2>&1 || install "$tool"; done
BROTLI_MODULE=/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so
if [[ ",$ENCODINGS," == *,br,* ]] && [ ! -f "$BROTLI_MODULE" ]; then install libnginx-mod-http-brotli-filter; fi
# ANTHOLOGY_BIN: another build to measure (say, main's, for a before/after).
BIN="${ANTHOLOGY_BIN:-$PWD/target/release/anthology}"
[ -n "${ANTHOLOGY_BIN:-}" ] || cargo build --release --locked -q

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

declare -A URL PORT
URL[sqlite]="sqlite://$WORK/bench.db"
PORT[sqlite]=$PORT_SQLITE
PORT[postgres]=$PORT_PG
PEAK_KIB=0
PEAK=0

# peak NAME: sets PEAK to the server's VmHWM in KiB, and keeps the run's
# highest in PEAK_KIB (not in a subshell: it must see that variable).
peak() {
  PEAK=$(awk '/VmHWM/ { print $2 }' "/proc/$(cat "$WORK/$1.pid")/status")
  if [ "$PEAK" -gt "$PEAK_KIB" ]; then PEAK_KIB=$PEAK; fi
}
# reset_peak NAME: starts the server's VmHWM afresh from its current RSS.
reset_peak() { peak "$1"; echo 5 >"/proc/$(cat "$WORK/$1.pid")/clear_refs"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# start NAME [VAR=VALUE...]: runs the release binary on backend NAME, waits for /health.
start() {
  local name=$1; shift
  env DATABASE_URL="${URL[$name]}" ANTHOLOGY_ADDR="127.0.0.1:${PORT[$name]}" RUST_LOG=warn \
    RATING_VOTES_PER_MINUTE=10000000 RATING_NEW_VOTERS_PER_DAY=1000000 TRUSTED_PROXIES=127.0.0.1 \
    JWT_SECRET=bench-secret-bench-secret-bench-secret "$@" "$BIN" >>"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  echo $! >"$WORK/$name.pid"
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:${PORT[$name]}/health" >/dev/null && return; sleep 0.1; done
  cat "$WORK/$name.log" >&2
  exit 1
}

# stop NAME: stops the server, keeping its peak RSS in the run's peak.
stop() {
  local pid
  pid=$(cat "$WORK/$1.pid")
  peak "$1"
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

# token NAME: creates an admin and logs in.
token() {
  DATABASE_URL="${URL[$1]}" ANTHOLOGY_PASSWORD="bench passphrase" RUST_LOG=warn "$BIN" editors create --email bench@example.com --role admin >/dev/null
  curl -fs "http://127.0.0.1:${PORT[$1]}/v1/auth/token" -H 'Content-Type: application/json' \
    -d '{"email":"bench@example.com","password":"bench passphrase"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# load NAME URL [LUA] [CONNECTIONS] [HEADER]: one wrk run; prints "NAME rps p50 p99".
load() {
  local name=$1 url=$2 script=${3:-} conns=${4:-$CONNS} header=${5:-}
  local threads=$(( conns < 2 ? conns : 2 ))
  local args=("-t$threads" "-c$conns" "-d$DURATION" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  [ -n "$header" ] && args+=(-H "$header")
  wrk "${args[@]}" "$url" >"$WORK/wrk-$name.txt"
  awk -v name="$name" '
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 } /^Requests\/sec/ { rps = $2 }
    /Non-2xx/ { errors = $NF }
    END { printf "%-34s %10.0f req/s   p50 %-9s p99 %-9s %s\n", name, rps, p50, p99, (errors ? "non-2xx: " errors : "") }
  ' "$WORK/wrk-$name.txt"
}

# quiet_load NAME URL HEADER: a wrk run whose numbers are read with `field`.
quiet_load() { load "$1" "$2" "" "$CONNS" "$3" >/dev/null; }
# field NAME rps|p50|p99|errors|requests: one number of a wrk run.
field() {
  awk -v f="$2" '
    /^ +50%/ { v["p50"] = $2 } /^ +99%/ { v["p99"] = $2 } /^Requests\/sec/ { v["rps"] = $2 }
    /Non-2xx/ { v["errors"] = $NF } / requests in / { v["requests"] = $1 }
    END { print (f in v ? v[f] : 0) }
  ' "$WORK/wrk-$1.txt"
}
# wire_bytes URL HEADER: bytes of one response as sent, headers included.
wire_bytes() {
  local args=(-s -o /dev/null -w '%{size_header} %{size_download}')
  [ -n "$2" ] && args+=(-H "$2")
  curl "${args[@]}" "$1" | awk '{ print $1 + $2 }'
}

cat >"$WORK/voter.py" <<'PY'
# A reader voting at RATE votes/s: a new voter each time, on one of the first
# STORIES stories, paced by the clock; on SIGTERM prints what it sent.
import http.client, random, signal, sys, threading, time, uuid
port, rate, stories = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
stop, sent, failed, lock = threading.Event(), [0], [0], threading.Lock()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
def vote(lane, lanes):
    conn, start, n = http.client.HTTPConnection("127.0.0.1", port, timeout=10), time.monotonic(), 0
    while not stop.is_set():
        n += 1
        delay = start + n * lanes / rate - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        body = '{"score": %d}' % random.randint(1, 5)
        try:
            conn.request("PUT", f"/v1/stories/{random.randint(1, stories)}/ratings/{uuid.uuid4()}", body,
                         {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            ok = 200 <= response.status < 300
        except (OSError, http.client.HTTPException):
            conn, ok = http.client.HTTPConnection("127.0.0.1", port, timeout=10), False
        with lock:
            sent[0] += 1
            failed[0] += not ok
lanes = max(1, min(8, int(rate // 25)))
threads = [threading.Thread(target=vote, args=(i, lanes)) for i in range(lanes)]
began = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print(f"{sent[0] / (time.monotonic() - began):.0f} votes/s sent, {failed[0]} failed")
PY

# settle NAME: waits until the server's suggester has computed the stories
# just seeded (their queue rows other than monthly refreshes are gone), so
# that its work, which a live site does a story at a time, is not measured
# as the reads' tail latency.
settle() {
  local sql="SELECT COUNT(*) FROM suggestion_queue WHERE reason <> 'refresh'" waiting
  for _ in $(seq 600); do
    if [ "$1" = postgres ]; then
      waiting=$("${as_pg[@]}" psql -h "$PG_DIR" -U postgres -d bench -tA -c "$sql")
    else
      waiting=$(sqlite3 "$WORK/bench.db" "$sql")
    fi
    [ "$waiting" = 0 ] && return
    sleep 1
  done
  echo "suggestions still queued after 10 minutes: measuring anyway" >&2
}

# Seed each backend, log in once (a password check, in the peak RSS), and
# keep the bytes nginx will serve.
for backend in ${BACKENDS//,/ }; do
  echo "== seeding $STORIES stories on $backend"
  if [ "$backend" = postgres ]; then
    "${as_pg[@]}" psql -q -h "$PG_DIR" -U postgres -c "CREATE DATABASE bench" >/dev/null
    URL[postgres]="postgres://postgres@localhost/bench?host=$PG_DIR"
  fi
  start "$backend"
  python3 scripts/seed.py "http://127.0.0.1:${PORT[$backend]}" "$(token "$backend")" "$STORIES"
  settle "$backend"
  mkdir -p "$WORK/static/$backend"
  curl -fs "http://127.0.0.1:${PORT[$backend]}/v1/stories/slug/mums-moving-in" >"$WORK/static/$backend/story.json"
  curl -fs "http://127.0.0.1:${PORT[$backend]}/v1/stories?limit=20" >"$WORK/static/$backend/list.json"
  peak "$backend"
  echo "server peak RSS while seeding: $(mib "$PEAK")"
done
chmod -R a+rX "$WORK/static"

BROTLI_LOAD="" BROTLI_ON=""
if [ -f "$BROTLI_MODULE" ]; then
  BROTLI_LOAD="load_module $BROTLI_MODULE;"
  BROTLI_ON="brotli on; brotli_types application/json;"
fi
cat >"$WORK/nginx.conf" <<NGINX
$BROTLI_LOAD
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  gzip on;
  gzip_types application/json;
  $BROTLI_ON
  server {
    listen 127.0.0.1:$PORT_NGINX;
    root $WORK/static;
    location / { default_type application/json; add_header Cache-Control "public, max-age=60, stale-while-revalidate=300"; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK"
N="http://127.0.0.1:$PORT_NGINX"

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); wrk -t2 -c$CONNS -d$DURATION"
echo "== public reads beside nginx serving the same bytes ($STORIES stories; story: $(wc -c <"$WORK/static/${BACKENDS%%,*}/story.json") bytes, list: $(wc -c <"$WORK/static/${BACKENDS%%,*}/list.json") bytes uncompressed)"
printf '%-8s %-5s %-5s %-7s %-6s %9s %9s %6s %9s %9s %11s %15s %10s\n' \
  backend cache enc votes/s read anthology nginx ratio p50 p99 "nginx p99" "bytes (a / n)" "peak RSS"
for backend in ${BACKENDS//,/ }; do
  A="http://127.0.0.1:${PORT[$backend]}"
  for cache in ${CACHES//,/ }; do
    stop "$backend"
    if [ "$cache" = off ]; then start "$backend" ANTHOLOGY_CACHE_TTL_MS=0; else start "$backend"; fi
    for enc in ${ENCODINGS//,/ }; do
      header=""
      [ "$enc" != none ] && header="Accept-Encoding: $enc"
      for rate in ${VOTE_RATES//,/ }; do
        for run in $(seq "$REPEAT"); do
          reset_peak "$backend"
          voter=""
          if [ "$rate" -gt 0 ]; then
            python3 "$WORK/voter.py" "${PORT[$backend]}" "$rate" "$(( STORIES < 100 ? STORIES : 100 ))" >"$WORK/voter.txt" 2>&1 &
            voter=$!
          fi
          quiet_load n-story "$N/$backend/story.json" "$header"
          quiet_load a-story "$A/v1/stories/slug/mums-moving-in" "$header"
          quiet_load n-list "$N/$backend/list.json" "$header"
          quiet_load a-list "$A/v1/stories?limit=20" "$header"
          sent=""
          if [ -n "$voter" ]; then kill "$voter"; wait "$voter" || true; sent=" (voter: $(cat "$WORK/voter.txt"))"; fi
          peak "$backend"
          rss=$(mib "$PEAK")
          for read in story list; do
            a_path="/v1/stories/slug/mums-moving-in"
            [ "$read" = list ] && a_path="/v1/stories?limit=20"
            errors=$(field "a-$read" errors)
            printf '%-8s %-5s %-5s %-7s %-6s %9.0f %9.0f %6.2f %9s %9s %11s %15s %10s%s\n' \
              "$backend" "$cache" "$enc" "$rate" "$read" "$(field "a-$read" rps)" "$(field "n-$read" rps)" \
              "$(awk -v a="$(field "a-$read" rps)" -v n="$(field "n-$read" rps)" 'BEGIN { print a / n }')" \
              "$(field "a-$read" p50)" "$(field "a-$read" p99)" "$(field "n-$read" p99)" \
              "$(wire_bytes "$A$a_path" "$header") / $(wire_bytes "$N/$backend/$read.json" "$header")" "$rss" \
              "$([ "$errors" != 0 ] && echo " non-2xx: $errors")$([ "$read" = list ] && echo "$sent")"
          done
        done
      done
    done
  done
done

if ! $READS_ONLY; then
  cat >"$WORK/vote.lua" <<LUA
-- A vote from a new voter each time, on one of the first 1,000 stories,
-- from one of ADDRESSES client addresses (X-Forwarded-For; 1: none sent).
-- Little work per request, since wrk shares the cores with the server: a
-- voter id is a random prefix per thread and a counter, and headers and
-- bodies are made once.
local addresses = tonumber(os.getenv("ADDRESSES"))
local stories = $(( STORIES < 1000 ? STORIES : 1000 ))
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local prefix = string.format("%08x-%04x-4%03x-a%03x-", math.random(0, 0x7fffffff), math.random(0, 0xffff),
  math.random(0, 0xfff), math.random(0, 0xfff))
local voters = 0
local bodies = {}
for score = 1, 5 do bodies[score] = '{"score": ' .. score .. '}' end
local headers = {}
local function headers_of(a)
  if not headers[a] then
    headers[a] = { ["Content-Type"] = "application/json" }
    if addresses > 1 then
      headers[a]["X-Forwarded-For"] = "10." .. math.floor(a / 65536) % 256 .. "." .. math.floor(a / 256) % 256 .. "." .. a % 256
    end
  end
  return headers[a]
end
request = function()
  voters = voters + 1
  local path = "/v1/stories/" .. math.random(1, stories) .. "/ratings/" .. prefix .. string.format("%012x", voters)
  return wrk.format("PUT", path, headers_of(math.random(0, addresses - 1)), bodies[math.random(1, 5)])
end
LUA
  # ticks PID...: the CPU the processes have used, in clock ticks.
  ticks() {
    local pid
    for pid in "$@"; do sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null; done | awk '{ t += $12 + $13 } END { print t + 0 }'
  }
  # postgres_ticks: the CPU of the throwaway PostgreSQL and its backends.
  postgres_ticks() {
    local postmaster
    postmaster=$(head -1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    # shellcheck disable=SC2046
    ticks "$postmaster" $(pgrep -P "$postmaster")
  }
  # machine_ticks: "busy total" clock ticks of all cores since boot.
  machine_ticks() { awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
  # cpu_per_vote VOTES ANTHOLOGY POSTGRES WRK_SECONDS BUSY ALL: where the
  # machine's CPU went per vote answered, in microseconds (ticks but for wrk).
  cpu_per_vote() {
    awk -v n="$1" -v a="$2" -v p="$3" -v w="$4" -v busy="$5" -v all="$6" -v hz="$(getconf CLK_TCK)" -v cores="$(nproc)" 'BEGIN {
      us = 1e6 / hz / n; other = busy * us - (a + p) * us - w * 1e6 / n
      printf "  CPU per vote: anthology %.0f us, postgres %.0f us, wrk %.0f us, everything else %.0f us; cores busy %.0f %% (of %d)\n",
        a * us, p * us, w * 1e6 / n, other, 100 * busy / all, cores }'
  }
  # exact NAME: whether the stories' counters, the totals' shards and the
  # votes themselves agree: counts and sums, and each story's recount.
  exact() {
    local sql="SELECT (SELECT SUM(rating_count) FROM story_ratings), (SELECT SUM(vote_count) FROM rating_totals),
      (SELECT COUNT(*) FROM ratings), (SELECT SUM(rating_sum) FROM story_ratings), (SELECT SUM(vote_sum) FROM rating_totals),
      (SELECT SUM(score) FROM ratings), (SELECT COUNT(*) FROM story_ratings s WHERE rating_count <> (SELECT COUNT(*) FROM ratings r
      WHERE r.story_id = s.story_id) OR rating_sum <> (SELECT COALESCE(SUM(score), 0) FROM ratings r WHERE r.story_id = s.story_id))"
    local row
    if [ "$1" = postgres ]; then
      row=$("${as_pg[@]}" psql -h "$PG_DIR" -U postgres -d bench -tA -F' ' -c "$sql")
    else
      row=$(sqlite3 -separator ' ' "$WORK/bench.db" "$sql")
    fi
    awk '{ ok = $1 == $2 && $2 == $3 && $4 == $5 && $5 == $6 && $7 == 0
           printf "  aggregates %s: %d votes (stories %d, totals %d), sum %d (stories %d, totals %d), %d stories off\n",
             ok ? "exact" : "NOT EXACT", $3, $1, $2, $6, $4, $5, $7 }' <<<"$row"
  }
  for backend in ${BACKENDS//,/ }; do
    processes=1
    [ "$backend" = postgres ] && processes=$VOTE_PROCESSES
    echo "== ratings on $backend ($processes process(es), $(( CONNS / processes )) connections each)"
    for p in $(seq 2 "$processes"); do
      URL[$backend$p]=${URL[$backend]}
      PORT[$backend$p]=$(( PORT[$backend] + 10 * p ))
      start "$backend$p"
    done
    for addresses in ${VOTE_ADDRESSES//,/ }; do
      for run in $(seq "$REPEAT"); do
        echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
        loads=() total=0 votes=0 servers=()
        for p in $(seq "$processes"); do
          name=$backend; [ "$p" -gt 1 ] && name=$backend$p
          servers+=("$(cat "$WORK/$name.pid")")
        done
        read -r busy0 all0 < <(machine_ticks)
        anthology0=$(ticks "${servers[@]}") postgres0=$(postgres_ticks)
        for p in $(seq "$processes"); do
          name=$backend; [ "$p" -gt 1 ] && name=$backend$p
          # `times` after wrk: the CPU wrk itself took (its children's).
          { ADDRESSES=$addresses load "$name: votes, $addresses address(es)" "http://127.0.0.1:${PORT[$name]}" \
            "$WORK/vote.lua" $(( CONNS / processes )) >"$WORK/votes-$p.txt"; times >"$WORK/times-$p.txt"; } &
          loads+=($!)
        done
        wait "${loads[@]}"
        read -r busy1 all1 < <(machine_ticks)
        anthology=$(( $(ticks "${servers[@]}") - anthology0 )) postgres=$(( $(postgres_ticks) - postgres0 ))
        wrk_seconds=0
        for p in $(seq "$processes"); do
          cat "$WORK/votes-$p.txt"
          name=$backend; [ "$p" -gt 1 ] && name=$backend$p
          total=$(awk -v a="$total" -v b="$(field "$name: votes, $addresses address(es)" rps)" 'BEGIN { print a + b }')
          votes=$(( votes + $(field "$name: votes, $addresses address(es)" requests) ))
          wrk_seconds=$(awk -v a="$wrk_seconds" 'NR == 2 { gsub(/[ms]/, " "); a += $1 * 60 + $2 + $3 * 60 + $4 } END { print a }' "$WORK/times-$p.txt")
        done
        [ "$processes" -gt 1 ] && printf '  all %d processes: %.0f votes/s\n' "$processes" "$total"
        cpu_per_vote "$votes" "$anthology" "$postgres" "$wrk_seconds" $(( busy1 - busy0 )) $(( all1 - all0 ))
        exact "$backend"
      done
    done
    for p in $(seq 2 "$processes"); do stop "$backend$p"; done
    load "$backend: aggregate reads" "http://127.0.0.1:${PORT[$backend]}/v1/stories/1/rating"
  done

  if [[ ",$BACKENDS," == *,sqlite,* ]] && ! $VOTES_ONLY; then
    echo "== $BIG stories (filled in with SQL), response cache off; one client unless said"
    stop sqlite
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
    start sqlite ANTHOLOGY_CACHE_TTL_MS=0
    A="http://127.0.0.1:$PORT_SQLITE"
    load "sqlite: story by slug, no cache" "$A/v1/stories/slug/mums-moving-in"
    load "sqlite: list, limit=20, no cache" "$A/v1/stories?limit=20"
    load "sqlite: related?suggest=5" "$A/v1/stories/1/related?suggest=5" "" 1
    load "sqlite: search q=mother" "$A/v1/stories?q=mother" "" 1
    load "sqlite: list, limit=20 (uncached)" "$A/v1/stories?limit=20" "" 1
    load "sqlite: list, sort=-rating" "$A/v1/stories?sort=-rating" "" 1
  fi
fi

for backend in ${BACKENDS//,/ }; do peak "$backend"; done
echo "server peak RSS over the whole run (seeding, a login, reads, votes): $(mib "$PEAK_KIB")"
