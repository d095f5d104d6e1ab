// main.js: the served page's entry; the one-file demo calls start() with
// its inlined worker and .wasm instead (scripts/build-demo.mjs).
import { start } from './app.js';

start();
