#!/bin/sh
# Builds the native CLI and tests (build/native) and the WebAssembly module
# (dist/onnx-cle.wasm) with one CMake; incremental on a second run.
#
#   sh scripts/build.sh [wasm]
#
# wasm: only the WebAssembly module, which is all the page needs (`npm
# start`); the native build also makes the test models, with python3-torch.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
# Emscripten's JS optimizer needs acorn from Debian's node packages
export NODE_PATH=/usr/share/nodejs

case "${1:-all}" in
  wasm|all) ;;
  *) echo "usage: sh scripts/build.sh [wasm]" >&2; exit 2 ;;
esac

# A checkout that was moved or copied keeps CMake caches that name the old
# folder (CMake then refuses to configure, and CLE_WASM_DIR would write the
# module into the old checkout): forget those, keep everything else in
# build/ (the fuzz corpus, the bench models).
here=$(pwd -P)
for cache in build/*/CMakeCache.txt; do
  [ -f "$cache" ] || continue
  was=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
  if [ "$was" != "$here" ]; then
    dir=$(dirname "$cache")
    echo "build: $dir was configured in $was; configuring it again here"
    rm -rf "$cache" "$dir/CMakeFiles"
  fi
done

if [ "${1:-all}" = all ]; then
  cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build/native -j "$jobs"
fi
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ "${1:-all}" = all ]; then
  cmake --build build/wasm -j "$jobs"
else
  cmake --build build/wasm -j "$jobs" --target onnx-cle-wasm # not the wasm C tests
fi

# onnxruntime-web for the page's proof, served from the page's own origin (web/ort/, not
# committed): the ESM build with only the WebAssembly backend, its loader and its .wasm
mkdir -p web/ort
for f in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp -u node_modules/onnxruntime-web/dist/$f web/ort/$f
done
