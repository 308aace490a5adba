#!/usr/bin/env bash
# End-to-end scenario through a Python client generated from the served
# OpenAPI document with openapi-python-client.
#
#   clients/python/run.sh BASE_URL EMAIL PASSWORD
#
# EMAIL/PASSWORD are an admin editor's. Exits non-zero on any failure,
# including any warning from the generator about the document.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 BASE_URL EMAIL PASSWORD" >&2
  exit 2
fi
base_url="${1%/}"
email="$2"
password="$3"

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
mkdir -p .work
openapi-python-client generate --url "$base_url/openapi.json" --config "$here/config.yml" --output-path generated --overwrite 2>&1 | tee .work/generate.log
# The generator skips what it cannot model and only warns: treat that as failure.
if grep -qiE 'warning|error' .work/generate.log; then
  echo "openapi-python-client reported problems with the document (above)" >&2
  exit 1
fi

echo "== lint the scenario (ruff)"
ruff check --quiet --no-cache scenario.py
ruff format --quiet --no-cache --check scenario.py

echo "== scenario"
export PYTHONPATH="$here/generated${PYTHONPATH:+:$PYTHONPATH}"
exec .venv/bin/python scenario.py "$base_url" "$email" "$password"
