// Types for `onnx-cle/onnx-cle.wasm`, the WebAssembly module as a file.
// What importing it gives is up to the bundler's loader for .wasm files:
// a URL with esbuild's `file` loader, @rollup/plugin-url or webpack's
// `asset/resource` (hand it to init({ locateFile: () => wasmUrl })); Vite
// and Parcel name the same URL `onnx-cle/onnx-cle.wasm?url` and
// `url:onnx-cle/onnx-cle.wasm`.  (esbuild's `binary` loader gives the bytes
// instead, a Uint8Array for init({ wasmBinary }).)

/** The URL of onnx-cle.wasm in the bundle. */
declare const wasmUrl: string;
export default wasmUrl;
