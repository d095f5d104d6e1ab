// index.node.js — the package's Node entry point ("node" condition): the
// API of api.js, with onnx-cle.wasm read from beside the package by node:fs.
import { makeApi } from './api.js';
import { loadRuntime } from './node.js';

export { OnnxCleError } from './core.js';
export { verify } from './verify.js';
export { graph } from './graph.js';
import { makeTune } from './tune.js';

export const { init, info, check, equalize, prepare } = makeApi((options) => loadRuntime(options));
// equalization chosen by the outcome on the caller's inputs (onnxruntime-web)
export const tune = makeTune(equalize);
