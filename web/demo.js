// demo.js: the one-file demo's entry (scripts/build-demo.mjs inlines it,
// bundled, into dist/onnx-cle-demo.html).  The page is the served one; only
// where the worker and the .wasm come from differs: both are inlined in the
// HTML, the worker started from a blob: URL, the .wasm handed over as bytes.
// Nothing is fetched, so it works from file:// with no network.
import { start } from './app.js';

const text = (id) => document.getElementById(id).textContent;
const worker = URL.createObjectURL(new Blob([text('onnx-cle-worker')], { type: 'text/javascript' }));
const wasmBinary = Uint8Array.from(atob(text('onnx-cle-wasm').trim()), (c) => c.charCodeAt(0));

start({ worker: { url: worker, type: 'classic', wasmBinary } });
