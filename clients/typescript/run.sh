#!/usr/bin/env bash
# End-to-end scenario through a client generated from the served OpenAPI
# document: openapi-typescript types + openapi-fetch, type-checked under
# `strict`, run with tsx.
#
#   clients/typescript/run.sh BASE_URL EMAIL PASSWORD
#
# EMAIL/PASSWORD are an admin editor's. Exits non-zero on any failure,
# including a document the generator cannot read.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: $0 BASE_URL EMAIL PASSWORD" >&2
  exit 2
fi
base_url="${1%/}"
email="$2"
password="$3"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
clients="$(dirname "$here")"
cd "$clients"

if [ ! -x node_modules/.bin/openapi-typescript ] || [ ! -x node_modules/.bin/tsx ] || [ ! -d node_modules/openapi-fetch ]; then
  echo "== npm ci (clients/)"
  npm ci --no-audit --no-fund
fi

echo "== generate types from $base_url/openapi.json"
rm -rf typescript/generated
mkdir -p typescript/generated
npx --no-install openapi-typescript "$base_url/openapi.json" -o typescript/generated/schema.d.ts

echo "== type-check (tsc --noEmit, strict)"
npx --no-install tsc --noEmit -p typescript/tsconfig.json

echo "== scenario"
exec npx --no-install tsx typescript/scenario.ts "$base_url" "$email" "$password"
