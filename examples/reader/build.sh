#!/usr/bin/env bash
# Builds the reader into dist/ for the Anthology API at API_URL:
#
#   examples/reader/build.sh API_URL      # e.g. http://127.0.0.1:8080
#
# Generates the client's types from API_URL/openapi.json (the served
# document, not a copy), type-checks the front-end against them under
# `strict`, bundles it with esbuild, and writes API_URL into dist/index.html.
# Serve dist/ as static files from any origin; for votes to work, that
# origin must be in the API's CORS_ALLOWED_ORIGINS.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 API_URL" >&2
  exit 2
fi
api="${1%/}"

cd "$(dirname "${BASH_SOURCE[0]}")"

# (Re)install when node_modules is missing or older than the lock file.
# Install scripts stay off: esbuild runs from its platform package without its
# postinstall step, and nothing else here has one.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci (examples/reader/)"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
fi

echo "== generate types from $api/openapi.json"
rm -rf src/generated
mkdir -p src/generated
npx --no-install openapi-typescript "$api/openapi.json" -o src/generated/schema.d.ts

echo "== type-check (tsc --noEmit, strict)"
npx --no-install tsc --noEmit -p tsconfig.json

echo "== bundle (esbuild)"
rm -rf dist
mkdir -p dist
npx --no-install esbuild src/main.ts --bundle --format=esm --target=es2022 --minify --sourcemap \
  --outfile=dist/reader.js --log-level=warning
cp reader.css dist/reader.css
# The API's URL and origin into index.html; node, so that no URL character
# needs escaping for a shell tool.
node - "$api" <<'JS'
const fs = require('node:fs');
const given = process.argv[2];
let url;
try { url = new URL(given); } catch { url = null; }
if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password || url.search || url.hash) {
  console.error(`build.sh: API_URL ${JSON.stringify(given)} must be a plain http(s) URL`);
  process.exit(2);
}
const html = fs.readFileSync('index.html', 'utf8')
  .replaceAll('__ANTHOLOGY_API_ORIGIN__', url.origin)
  .replaceAll('__ANTHOLOGY_API__', given.replace(/&/g, '&amp;').replace(/"/g, '&quot;'));
fs.writeFileSync('dist/index.html', html);
JS
echo "== built dist/ for $api ($(du -k dist/reader.js | cut -f1) KiB of script)"
