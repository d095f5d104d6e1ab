// worker.js — `onnx-cle/worker` in browsers: the API in a Web Worker, so
// the page never blocks.  Bundlers that understand
// `new Worker(new URL('./x.js', import.meta.url))` (Vite, webpack 5, Parcel)
// bundle worker-script.js on their own; with others, build
// `onnx-cle/worker-script` as an entry point and pass its URL as `url`.
import { makeClient } from './worker-protocol.js';

export { OnnxCleError } from './core.js';

function spawn(url, type, on) {
  const worker = url
    ? new Worker(url, { type })
    : new Worker(new URL('./worker-script.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e) => on.message(e.data);
  worker.onmessageerror = () => on.error(new Error('a message could not be read'));
  worker.onerror = (e) => {
    e.preventDefault();
    on.error(new Error(e.message || 'the worker script could not be loaded'));
  };
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    terminate: () => worker.terminate(),
    busy: () => {},
  };
}

// a relative wasm URL means the page's, not the worker script's
const resolveUrl = (u) => String(typeof location === 'undefined' ? u : new URL(u, location.href));

/**
 * Starts onnx-cle in a Web Worker (on the first call).  options: the init()
 * options (wasmModule, wasmBinary, locateFile), `url`, the worker script's
 * URL when a bundler did not bundle it, `type`, 'classic' when that script
 * is not a module, and `ortUrl`, the URL of an onnxruntime-web ESM build
 * (e.g. ort.wasm.min.mjs, with its .mjs and .wasm beside it) for verify().
 */
export function createWorker(options) {
  const { type = 'module', ...rest } = options ?? {};
  if (type !== 'module' && type !== 'classic') throw new TypeError("onnx-cle: option 'type' must be 'module' or 'classic'");
  return makeClient((url, on) => spawn(url, type, on), rest, resolveUrl);
}
