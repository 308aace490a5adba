#!/usr/bin/env bash
# The OpenAPI document as a product, checked for real: both linters, the
# TypeScript and Python clients generated from it running a scenario
# against the live server, schemathesis fuzzing every operation with an
# editor token, the /docs page in headless Chromium, and the reader
# front-end (examples/reader, on a client generated the same way) read and
# rated in Chromium from a second origin — on SQLite and on PostgreSQL.
# Installs what it needs (npm ci, a virtualenv, Debian's chromium). Any
# failure fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

echo "== lint openapi/openapi.json"
(cd clients && npm ci --no-audit --no-fund --loglevel=error)
(cd clients && npx redocly lint --config ../openapi/redocly.yaml --format=summary)
(cd clients && npx spectral lint --fail-severity=warn --ruleset ../openapi/.spectral.yaml ../openapi/openapi.json)

echo "== schemathesis virtualenv"
ST_VENV="clients/schemathesis/.venv"
[ -x "$ST_VENV/bin/schemathesis" ] || python3 -m venv "$ST_VENV"
"$ST_VENV/bin/pip" install --quiet --disable-pip-version-check -r clients/schemathesis/requirements.txt

cargo build --locked -q
BIN="$ROOT/target/debug/anthology"

# shellcheck source=scripts/throwaway-pg.sh
. scripts/throwaway-pg.sh
WORK="$(mktemp -d /tmp/anthology-contract.XXXXXX)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  stop_pg
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSWORD="contract check passphrase"
# Where examples/reader/run.sh serves the reader front-end: a second origin,
# which the server must list for the browser to send votes.
READER_PORT=18303

# check BACKEND DATABASE_URL PORT
check() {
  local backend=$1 url=$2 port=$3
  local base="http://127.0.0.1:$port"
  echo "== $backend: start the server"
  for who in client fuzzer patcher; do
    DATABASE_URL="$url" ANTHOLOGY_PASSWORD="$PASSWORD" RUST_LOG=warn \
      "$BIN" editors create --email "$who@example.com" --role admin >/dev/null
  done
  DATABASE_URL="$url" ANTHOLOGY_ADDR="127.0.0.1:$port" RUST_LOG=warn RATING_VOTES_PER_MINUTE=1000000 RATING_NEW_VOTERS_PER_DAY=1000000 \
    CORS_ALLOWED_ORIGINS="http://127.0.0.1:$READER_PORT" ANTHOLOGY_METRICS_ADDR="127.0.0.1:$((port + 100))" \
    "$BIN" >"$WORK/$backend.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -fs "$base/health" >/dev/null && break; sleep 0.1; done
  curl -fs "$base/openapi.json" | cmp - openapi/openapi.json

  echo "== $backend: TypeScript client"
  clients/typescript/run.sh "$base" client@example.com "$PASSWORD"
  echo "== $backend: Python client"
  clients/python/run.sh "$base" client@example.com "$PASSWORD"
  echo "== $backend: reader front-end in Chromium (from http://127.0.0.1:$READER_PORT)"
  READER_PORT=$READER_PORT examples/reader/run.sh "$base" client@example.com "$PASSWORD" "$ROOT/target/reader-screenshot.png"

  local token
  token() {
    curl -fs "$base/v1/auth/token" -H 'Content-Type: application/json' \
      -d "{\"email\": \"$1\", \"password\": \"$PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
  }
  echo "== $backend: metrics, read by prometheus_client's parser"
  "$ROOT/$ST_VENV/bin/python" clients/metrics/check.py "$base" "http://127.0.0.1:$((port + 100))"
  echo "== $backend: feeds and sitemaps, read by feedparser and the sitemaps.org rules"
  "$ROOT/$ST_VENV/bin/python" clients/feeds/check.py "$base" "$(token client@example.com)"

  echo "== $backend: schemathesis"
  local st=("$ROOT/$ST_VENV/bin/schemathesis" --config-file "$ROOT/clients/schemathesis/schemathesis.toml" run "$base/openapi.json"
    --checks all --max-examples 50 --seed 20261127 --no-color)
  # updateEditor may change the fuzzer's own password or role, which revokes
  # its token: it runs last, with a token of its own.
  (cd "$WORK" && "${st[@]}" -H "Authorization: Bearer $(token fuzzer@example.com)" --exclude-operation-id updateEditor)
  (cd "$WORK" && "${st[@]}" -H "Authorization: Bearer $(token patcher@example.com)" --include-operation-id updateEditor)

  if [ "$backend" = sqlite ]; then
    echo "== docs page in Chromium"
    # A public host name: Swagger UI must not reach out (e.g. to its online validator).
    DOCS_PUBLIC_HOST=docs.anthology.test clients/browser/run.sh "$base" "$ROOT/target/docs-screenshot.png"
  fi
  kill "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

check sqlite "sqlite://$WORK/contract.db" 18301
"${as_pg[@]}" psql -q -h "$PG_DIR" -U postgres -c "CREATE DATABASE contract" >/dev/null
check postgres "postgres://postgres@localhost/contract?host=$PG_DIR" 18302
echo "contract checks: all passed"
