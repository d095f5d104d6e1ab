#!/bin/sh
# Outside CI (a few minutes, ~8 GB of RAM, 2.4 GB of disk): makes a model
# above 2 GB (tests/fixtures/make_big_model.py; build/big-model/, not
# committed), then checks and equalizes it in WebAssembly through the Node
# API (scripts/big-model.mjs), printing time and memory per step, and the
# sentences for models too big for wasm32.  Arguments go to the generator
# (e.g. --gb 3).
set -eu
cd "$(dirname "$0")/.."
dir=build/big-model
mkdir -p "$dir"
model="$dir/big.onnx"
[ -f "$model" ] && [ $# -eq 0 ] || /usr/bin/python3 tests/fixtures/make_big_model.py "$model" "$@"
/usr/bin/time -f "big-model: %e s in all, peak RSS %M KB" node scripts/big-model.mjs "$model"
