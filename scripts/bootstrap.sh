#!/bin/sh
# Installs what a fresh Debian 12 machine lacks to build and test onnx-cle:
# apt packages (only those missing, so a second run does nothing) and the
# npm devDependencies (only when package-lock.json changed). python3-pil,
# python3-skimage (its sample photos), the fonts and espeak-ng make the inputs
# of `npm run bench:quant` and tests/js/quality.test.mjs (bench/quant_inputs.py).
set -eu
cd "$(dirname "$0")/.."

packages="
  cmake make gcc
  emscripten
  protobuf-c-compiler libprotobuf-c-dev
  python3-onnx python3-numpy python3-torch python3-torchvision
  chromium fonts-liberation
  python3-pil python3-skimage fonts-dejavu-core fonts-wqy-microhei espeak-ng
  clang libclang-rt-14-dev
"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bootstrap: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund
fi
