// node.js — loads onnx-cle.wasm in Node: finds it beside the package with
// the file system (Node's fetch cannot read file: URLs).  Used by the Node
// entry point (index.node.js) and the CLI (bin/onnx-cle.js).
import { readFile } from 'node:fs/promises';
import { instantiate, OnnxCleError } from './core.js';

export { OnnxCleError } from './core.js';

/**
 * Compiles and instantiates the module.  options: { wasmModule, wasmBinary,
 * locateFile(name) → a path or file: URL }, as in the browser entry; host:
 * the CLI's file functions (see core.js).
 */
export async function loadRuntime(options = {}, host = {}) {
  let module = options.wasmModule;
  if (!module) {
    let bytes = options.wasmBinary;
    let where = 'options.wasmBinary';
    if (!bytes) {
      const url = options.locateFile
        ? options.locateFile('onnx-cle.wasm')
        : new URL('../dist/onnx-cle.wasm', import.meta.url);
      // a string is a file path unless it is a file: URL
      const file = typeof url === 'string' && !url.startsWith('file:') ? url : new URL(url);
      where = String(url);
      try {
        bytes = await readFile(file);
      } catch (e) {
        throw new OnnxCleError('CLE_E_IO', `cannot read onnx-cle.wasm at ${where}: ${e.message}`, { cause: e });
      }
    }
    try {
      module = await WebAssembly.compile(bytes);
    } catch (e) {
      throw new OnnxCleError('CLE_E_IO', `onnx-cle.wasm from ${where} is not a WebAssembly module: ${e.message}`,
        { cause: e });
    }
  }
  return instantiate(module, host);
}
