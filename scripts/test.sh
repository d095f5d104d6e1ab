#!/bin/sh
# All tests: C unit tests (release, then ASan+UBSan), then the JS tests on
# the WebAssembly build with real pretrained models, then a one-minute fuzz
# (ASan+UBSan, seeded with the test models; longer: npm run fuzz -- --seconds N).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
# npm start installs only what serving needs; the tests need the rest
sh scripts/bootstrap.sh all
sh scripts/build.sh

# Every temporary file of the tests (they take theirs from os.tmpdir(),
# Python's tempfile and mktemp alike) under one folder, removed however the
# run ends: runs on one machine left gigabytes behind otherwise (the memory
# test writes 217 MB a run; 1,900 folders and 24 GB filled this machine's
# disk until a run failed with ENOSPC).  After the installs: apt's own user
# could not write into this folder.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/onnx-cle-test.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ctest --test-dir build/native --output-on-failure -j "$jobs"

# clang: its UBSan also stops on pointer arithmetic on NULL (tests/regress/issue-9-*.c)
CC=clang cmake -S . -B build/sanitize-clang -DCMAKE_BUILD_TYPE=Debug -DCLE_SANITIZE=ON >/dev/null
cmake --build build/sanitize-clang -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/sanitize-clang --output-on-failure -j "$jobs"
ctest --test-dir build/wasm --output-on-failure

node --test tests/js/ tests/regress/

# a fixed seed: the same inputs on every run, so a new finding is not a coin toss in CI
sh scripts/fuzz.sh --seconds 60 -seed=1
