// main.js: the served page's entry; the one-file demo calls start() with
// its inlined worker and .wasm instead (scripts/build-demo.mjs).  The proof
// loads onnxruntime-web from the page's own origin (web/ort/, copied there
// by scripts/build.sh), in the worker, when it first runs.
import { start } from './app.js';

start({ worker: { ortUrl: new URL('./ort/ort.wasm.min.mjs', import.meta.url) } });
