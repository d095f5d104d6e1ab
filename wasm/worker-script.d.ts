// `onnx-cle/worker-script` is the script a Web Worker runs; it exports nothing.
export {};
