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
