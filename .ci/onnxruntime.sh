#!/usr/bin/env bash
# Installs ONNX Runtime's shared library (linux x64), which runs the YuNet
# face detector (package redact), into DEST (default ./bin/libonnxruntime.so.1).
# Debian 12 ships no onnxruntime; the library ships inside the npm package
# onnxruntime-node (MIT). We fetch that package with Debian's npm, extract
# the one file we need and check it against a pinned SHA-256, so a changed
# upload can never be loaded silently.
set -euo pipefail
VERSION=1.30.0
MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1
SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
DEST=${1:-bin/libonnxruntime.so.1}

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum -c --status; then
  exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
  echo "onnxruntime: only linux x86_64 is pinned here (this is $(uname -m))" >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  echo "onnxruntime: installing Debian's npm"
  SUDO=""
  [ "$(id -u)" != 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "onnxruntime: npm pack onnxruntime-node@$VERSION (about 110 MB, once)"
(cd "$tmp" && npm pack --silent "onnxruntime-node@$VERSION" >/dev/null)
tar -xzf "$tmp/onnxruntime-node-$VERSION.tgz" -C "$tmp" "$MEMBER"
if ! echo "$SHA256  $tmp/$MEMBER" | sha256sum -c --status; then
  echo "onnxruntime: $MEMBER from onnxruntime-node@$VERSION does not match the pinned SHA-256 $SHA256" >&2
  exit 1
fi
mkdir -p "$(dirname "$DEST")"
install -m 0644 "$tmp/$MEMBER" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
echo "onnxruntime: installed $DEST"
