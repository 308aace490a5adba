#!/usr/bin/env bash
# End-to-end scenario through a Python client generated from the served
# OpenAPI document with openapi-python-client.
#
#   clients/python/run.sh BASE_URL EMAIL PASSWORD
#
# EMAIL/PASSWORD are an admin editor's. Exits non-zero on any failure.
# OPENAPI_STRICT=1 also fails on any problem found in the document
# (dangling references, generator warnings) instead of working around it.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 BASE_URL EMAIL PASSWORD" >&2
  exit 2
fi
base_url="${1%/}"
email="$2"
password="$3"
strict="${OPENAPI_STRICT:-0}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# The virtualenv, and the pinned tools in it (again only when
# requirements.txt changed since the last install).
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== create .venv"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "openapi-python-client 0.29 needs Python 3.11 or newer; set PYTHON=" >&2
    exit 1
  }
  "$python" -m venv .venv
fi
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat .venv/.requirements.sha256 2>/dev/null || true)" != "$want" ]; then
  echo "== pip install -r requirements.txt"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
# openapi-python-client runs ruff on what it generates: it must be on PATH.
export PATH="$here/.venv/bin:$PATH"

echo "== generate the client from $base_url/openapi.json"
rm -rf .work
rc=0
python prepare_openapi.py "$base_url" .work || rc=$?
problems=0
case "$rc" in
  0) source_args=(--url "$base_url/openapi.json") ;;
  3) echo "WARNING: the served OpenAPI document has dangling references (above); generating from a patched copy" >&2
     problems=1
     source_args=(--path .work/openapi.patched.json) ;;
  *) exit "$rc" ;;
esac
openapi-python-client generate "${source_args[@]}" --output-path generated --overwrite 2>&1 | tee .work/generate.log
if grep -qiE 'warning|error' .work/generate.log; then
  echo "WARNING: openapi-python-client reported problems with the document (above)" >&2
  problems=1
fi
if [ "$problems" -ne 0 ] && [ "$strict" = "1" ]; then
  echo "OPENAPI_STRICT=1: failing on the problems above" >&2
  exit 1
fi

echo "== lint the scenario (ruff)"
ruff check --quiet --no-cache scenario.py prepare_openapi.py
ruff format --quiet --no-cache --check scenario.py prepare_openapi.py

echo "== scenario"
export PYTHONPATH="$here/generated${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python scenario.py "$base_url" "$email" "$password"
