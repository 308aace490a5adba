#!/usr/bin/env bash
# Makes sure a Chromium is there for the browser checks (clients/browser,
# examples/reader): uses CHROMIUM_PATH when set (it must be executable),
# otherwise /usr/bin/chromium, installing Debian's chromium when it is
# missing (as root, or through sudo).
set -euo pipefail

chromium_bin=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$chromium_bin" ] && exit 0
if [ "$chromium_bin" != /usr/bin/chromium ]; then
  echo "ensure-chromium.sh: CHROMIUM_PATH=$chromium_bin is not an executable" >&2
  exit 1
fi
echo "ensure-chromium.sh: /usr/bin/chromium missing; installing Debian's chromium" >&2
sudo=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=sudo
  else
    echo "ensure-chromium.sh: need root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium.sh: apt-get install chromium did not provide /usr/bin/chromium" >&2
  exit 1
fi
