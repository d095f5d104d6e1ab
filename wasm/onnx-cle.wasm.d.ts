// Types for `onnx-cle/onnx-cle.wasm`, the WebAssembly module as a file.
// What importing it gives is up to the bundler's loader for .wasm files:
// its URL in the bundle with esbuild's `file` loader or @rollup/plugin-url,
// for init({ locateFile: () => wasmUrl }) (README, "Bundlers").  esbuild's
// `binary` loader gives its bytes instead, for init({ wasmBinary }).

/** The URL of onnx-cle.wasm in the bundle. */
declare const wasmUrl: string;
export default wasmUrl;
