#!/bin/sh
# Builds the native CLI and tests (build/native) and the WebAssembly module
# (dist/onnx-cle.wasm) with one CMake; incremental on a second run.
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
# Emscripten's JS optimizer needs acorn from Debian's node packages
export NODE_PATH=/usr/share/nodejs

cmake -S . -B build/native -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/native -j "$jobs"
emcmake cmake -S . -B build/wasm -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/wasm -j "$jobs"

# onnxruntime-web for the page's proof, served from the page's own origin (web/ort/, not
# committed): the ESM build with only the WebAssembly backend, its loader and its .wasm
mkdir -p web/ort
for f in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
  cp -u node_modules/onnxruntime-web/dist/$f web/ort/$f
done
