#!/usr/bin/env bash
# Runs the whole test suite: unit tests, and the integration suite on SQLite
# and PostgreSQL. Unless TEST_DATABASE_URL names a PostgreSQL server to use
# (its user must be allowed to create databases), it starts a throwaway one
# (scripts/throwaway-pg.sh) and removes it afterwards. Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  # shellcheck source=scripts/throwaway-pg.sh
  . scripts/throwaway-pg.sh
  export TEST_DATABASE_URL="$PG_URL"
  echo "scripts/test.sh: throwaway PostgreSQL at $PG_DIR"
fi

cargo test --locked --no-fail-fast "$@"
