#!/bin/sh
# The main job, `npm start`: installs what serving the page needs (and
# nothing for the tests: no python3-torch, no browser), builds the
# WebAssembly module, writes the one-file demo (dist/onnx-cle-demo.html) and
# serves web/ on 127.0.0.1, printing the URL; Ctrl-C stops.  PORT=N picks
# the port (default 8080, or a free one).  Works in a checkout that was
# moved or copied (scripts/build.sh configures CMake again).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh serve
sh scripts/build.sh wasm
node scripts/build-demo.mjs
exec node scripts/serve.mjs
