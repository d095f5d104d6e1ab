#!/bin/sh
# Installs what a fresh Debian 12 machine lacks for onnx-cle: apt packages
# (only those missing, so a second run does nothing) and the npm
# devDependencies (only when node_modules does not hold what
# package-lock.json says).
#
#   sh scripts/bootstrap.sh [serve|all] [--check]
#
# serve: what `npm start` needs to build the WebAssembly module and serve
# the page (CMake, Emscripten, protoc-c); all (the default): also what
# `npm test`, the native build and the benchmarks need: gcc, clang for the
# sanitizers and the fuzzer, python3-onnx and python3-torch for the test
# models, chromium for the browser tests, and python3-pil, python3-skimage,
# the fonts and espeak-ng for the inputs of `npm run bench:quant` and
# tests/js/quality.test.mjs (bench/quant_inputs.py), python3-scipy for
# bench/balance_study.py.  --check installs
# nothing: it names what is missing and exits 1 if anything is.
set -eu
cd "$(dirname "$0")/.."

set_name=all
check=false
for arg in "$@"; do
  case "$arg" in
    serve|all) set_name=$arg ;;
    --check) check=true ;;
    *) echo "usage: sh scripts/bootstrap.sh [serve|all] [--check]" >&2; exit 2 ;;
  esac
done

serve="cmake make emscripten protobuf-c-compiler"
packages="$serve"
if [ "$set_name" = all ]; then
  packages="$packages
  gcc libprotobuf-c-dev
  python3-onnx python3-numpy python3-torch python3-torchvision
  chromium fonts-liberation
  python3-pil python3-skimage python3-scipy fonts-dejavu-core fonts-wqy-microhei espeak-ng
  clang libclang-rt-14-dev"
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# npm ls fails when node_modules lacks or mismatches what the lock file says
npm_ok=true
npm ls --depth=0 >/dev/null 2>&1 || npm_ok=false

if $check; then
  [ -z "$missing" ] || echo "bootstrap: missing apt packages:$missing (sh scripts/bootstrap.sh $set_name installs them)"
  $npm_ok || echo "bootstrap: node_modules does not match package-lock.json (npm ci installs it)"
  [ -z "$missing" ] && $npm_ok
  exit
fi

if [ -n "$missing" ]; then
  echo "bootstrap: installing$missing"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi

if ! $npm_ok; then
  echo "bootstrap: npm ci"
  npm ci --no-audit --no-fund
fi
