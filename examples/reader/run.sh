#!/usr/bin/env bash
# The reader front-end checked end to end in headless Chromium:
#
#   examples/reader/run.sh BASE_URL EDITOR_EMAIL PASSWORD SCREENSHOT_PATH
#
# BASE_URL is a running Anthology whose CORS_ALLOWED_ORIGINS lists
# http://127.0.0.1:$READER_PORT (default 18390), where this script serves
# the front-end. EDITOR_EMAIL/PASSWORD are an editor's, to seed the stories.
# The screenshot path is taken relative to the caller's directory. Installs
# what it needs (npm ci here, Debian's chromium via clients/browser); builds
# dist/ for BASE_URL (build.sh); the last line of output is
# `reader: N passed, M failed`, and any failure exits non-zero.
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 BASE_URL EDITOR_EMAIL PASSWORD SCREENSHOT_PATH" >&2
  exit 2
fi
base_url="${1%/}"
email=$2
password=$3
shot=$4
case "$shot" in
  /*) ;;
  *) shot="$PWD/$shot" ;;
esac

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
"$here/../../clients/browser/ensure-chromium.sh"
"$here/build.sh" "$base_url"

cd "$here"
echo "== reader in chromium"
exec node test.mjs "$base_url" "$email" "$password" "$shot"
