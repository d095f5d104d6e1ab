#!/bin/sh
# Lists what is over the size limits of issue 13: C files in src/ over
# 1,000 lines and functions over 120 lines (from the line with the name to
# the closing brace).  Exit status 1 if there is any.
#   sh scripts/sizes.sh [FILE...]      (default: src/*.[ch] src/cli/*.[ch])
set -eu
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- src/*.[ch] src/cli/*.[ch]
awk -v max_file=1000 -v max_fn=120 '
  FNR == 1 { if (prev != "" && lines > max_file) { print prev ": " lines " lines"; bad = 1 }
             prev = FILENAME; head = 0 }
  { lines = FNR }
  # a definition: a name at the start of a line with "(", its body opened by "{" alone
  /^[A-Za-z_].*\(/ && !/;[ \t]*$/ { head = FNR; name = $0; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n] }
  /^\{/ && head { start = head }
  /^\}/ && start {
    if (FNR - start + 1 > max_fn) { print FILENAME ":" start ": " name " is " FNR - start + 1 " lines"; bad = 1 }
    start = 0; head = 0
  }
  END { if (lines > max_file) { print prev ": " lines " lines"; bad = 1 } exit bad }
' "$@"
