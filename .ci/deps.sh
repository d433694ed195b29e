#!/usr/bin/env bash
# Installs the Debian 12 packages OpenDEMS needs to build, run and test, if
# any are missing. Runs apt-get as root (or through sudo).
set -euo pipefail
PKGS=(
  pkg-config gcc
  libavcodec-dev libavformat-dev libavfilter-dev libavdevice-dev libavutil-dev
  libswscale-dev libswresample-dev libpostproc-dev
  postgresql
  curl ca-certificates
)
# The test suite also needs the ffmpeg CLI (an independent reference for
# media tests) and chromium (browser tests of the web UI); python3 runs the
# vendored bagit-python that validates release packages, openssl checks
# their signatures, poppler-utils reads the response letter (PDF) and qpdf
# checks its structure.
if [ "${1:-}" = test ]; then
  PKGS+=(ffmpeg chromium fonts-dejavu-core python3 openssl poppler-utils qpdf)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
