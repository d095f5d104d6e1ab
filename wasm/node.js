// node.js — the Node entry point: finds onnx-cle.wasm beside the package
// with the file system (Node's fetch cannot read file: URLs).
import { readFile } from 'node:fs/promises';
import { instantiate } from './core.js';

export { OnnxCleError } from './core.js';

/** Compiles and instantiates the module; options as in the browser entry. */
export async function loadRuntime(options = {}, host = {}) {
  let module = options.wasmModule;
  if (!module) {
    let bytes = options.wasmBinary;
    if (!bytes) {
      const url = options.locateFile
        ? options.locateFile('onnx-cle.wasm')
        : new URL('../dist/onnx-cle.wasm', import.meta.url);
      // a string is a file path unless it is a file: URL
      bytes = await readFile(typeof url === 'string' && !url.startsWith('file:') ? url : new URL(url));
    }
    module = await WebAssembly.compile(bytes);
  }
  return instantiate(module, host);
}
