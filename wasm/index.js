// index.js — the package's browser and default entry point: the API of
// api.js, with onnx-cle.wasm fetched from beside this file.  Bundlers that
// understand `new URL('...', import.meta.url)` (Vite, webpack 5, Parcel,
// Rollup with a plugin) copy the .wasm and rewrite the URL; with others,
// pass init({ wasmBinary }), init({ wasmModule }) or init({ locateFile }).
import { makeApi } from './api.js';
import { instantiate, OnnxCleError } from './core.js';

export { OnnxCleError } from './core.js';
export { verify } from './verify.js';
export { graph } from './graph.js';
import { makeTune } from './tune.js';

async function compile(options) {
  if (options.wasmModule) return options.wasmModule;
  if (options.wasmBinary) return WebAssembly.compile(options.wasmBinary);
  const url = options.locateFile
    ? options.locateFile('onnx-cle.wasm')
    : new URL('../dist/onnx-cle.wasm', import.meta.url);
  const hint = 'with a bundler that does not copy it, pass init({ locateFile }) or init({ wasmBinary })';
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new OnnxCleError('CLE_E_IO', `cannot fetch onnx-cle.wasm from ${url}: ${e.message}; ${hint}`, { cause: e });
  }
  if (!response.ok)
    throw new OnnxCleError('CLE_E_IO', `cannot fetch onnx-cle.wasm from ${url}: HTTP ${response.status}; ${hint}`);
  try {
    // streaming compilation needs the right MIME type; other servers get the slow path
    const type = response.headers.get('Content-Type') || '';
    if (typeof WebAssembly.compileStreaming === 'function' && type.startsWith('application/wasm'))
      return await WebAssembly.compileStreaming(response);
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (e) {
    throw new OnnxCleError('CLE_E_IO', `${url} is not onnx-cle.wasm: ${e.message}; ${hint}`, { cause: e });
  }
}

export const { init, info, check, equalize, prepare } = makeApi(async (options) => instantiate(await compile(options)));
// equalization chosen by the outcome on the caller's inputs (onnxruntime-web)
export const tune = makeTune(equalize);
