#!/bin/sh
# The main job: the web page.  Writes the one-file demo
# (dist/onnx-cle-demo.html) and serves web/ on 127.0.0.1, printing the URL;
# Ctrl-C stops.  PORT=N picks the port (default 8080, or a free one).
set -eu
cd "$(dirname "$0")/.."
node scripts/build-demo.mjs
exec node scripts/serve.mjs
