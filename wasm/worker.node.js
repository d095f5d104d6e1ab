// worker.node.js — `onnx-cle/worker` in Node: the same client on a
// worker_threads Worker.  An idle worker does not keep the process alive.
import { Worker } from 'node:worker_threads';
import { makeClient } from './worker-protocol.js';

export { OnnxCleError } from './core.js';

function spawn(url, on) {
  const worker = new Worker(url ?? new URL('./worker-script.node.js', import.meta.url));
  worker.on('message', on.message);
  worker.on('messageerror', () => on.error(new Error('a message could not be read')));
  worker.on('error', on.error);
  worker.on('exit', (code) => on.error(new Error(`the worker exited with code ${code}`)));
  worker.unref();
  return {
    post: (msg, transfer) => worker.postMessage(msg, transfer),
    terminate: () => {
      worker.removeAllListeners();
      worker.terminate();
    },
    busy: (busy) => (busy ? worker.ref() : worker.unref()),
  };
}

/**
 * Starts onnx-cle in a worker thread (on the first call).  options: the
 * init() options (wasmModule, wasmBinary, locateFile) and `url`, another
 * worker script.
 */
export function createWorker(options) {
  return makeClient(spawn, options);
}
