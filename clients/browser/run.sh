#!/usr/bin/env bash
# Checks the interactive API docs (/docs/) in headless Chromium, offline.
#
#   clients/browser/run.sh BASE_URL SCREENSHOT_PATH
#
# BASE_URL is a running server (e.g. http://127.0.0.1:18180); the screenshot
# path is taken relative to the caller's directory. Installs Debian's
# chromium if /usr/bin/chromium is missing. Exits non-zero if any check
# fails; the last line of output is `docs in chromium: N passed, M failed`.
# See docs.mjs for the optional environment (DOCS_PUBLIC_HOST, ...).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 BASE_URL SCREENSHOT_PATH" >&2
  exit 2
fi
base_url=$1
shot=$2
case "$shot" in
  /*) ;;
  *) shot="$PWD/$shot" ;;
esac

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
clients=$(dirname -- "$here")

"$here/ensure-chromium.sh"

if [ ! -f "$clients/node_modules/playwright-core/package.json" ]; then
  echo "run.sh: playwright-core is not installed; run 'npm ci' in $clients" >&2
  exit 1
fi

cd "$clients"
exec node browser/docs.mjs "$base_url" "$shot"
