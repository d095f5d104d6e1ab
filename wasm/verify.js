// verify.js — evidence that an equalized model is the same function and
// quantizes better, with onnxruntime-web (an optional peer dependency):
// both models run on the same seeded inputs of the model's input shapes;
// the largest relative output difference says the function is kept, and the
// output SQNR of the weight-fake-quantized models (INT8, symmetric, per
// tensor and per channel, quant.js) against the original's FP32 outputs says
// what equalization did for quantization.
import { OnnxCleError } from './core.js';
import { numberToHalf, halfToNumber } from './onnx-proto.js';
import { mulberry32, normals, compare, sqnrDb, addSquares, quantizeWeights } from './quant.js';

const VERIFY_FIELDS = ['ort', 'sizes', 'seed', 'samples', 'externalData', 'equalizedExternalData', 'onProgress'];

// an unnamed dynamic dimension, as onnxruntime reports it
const isOpen = (d) => typeof d === 'string' || d === null || d < 0 || d >= 2 ** 31;

/**
 * The dimensions an input list leaves open: [{ key, input, axis, name }].
 * key: the dimension's name (one value for every place it appears), or
 * 'input:axis' for an unnamed one.  inputs: [{ name, shape }].
 */
export function openDims(inputs) {
  const out = [];
  for (const inp of inputs) {
    (inp.shape ?? []).forEach((d, axis) => {
      if (!isOpen(d)) return;
      const name = typeof d === 'string' && d !== '' ? d : null;
      out.push({ key: name ?? `${inp.name}:${axis}`, input: inp.name, axis, name });
    });
  }
  return out;
}

/**
 * Sizes for the open dimensions: given[key] where given, else 1 for a batch
 * (axis 0, or a name like batch, N, B) and 64 for the rest.
 */
export function chooseSizes(inputs, given = {}) {
  const sizes = {};
  for (const d of openDims(inputs)) {
    if (d.key in sizes) continue;
    const g = given[d.key];
    if (g !== undefined) {
      if (!Number.isInteger(g) || g < 1 || g > 1e6)
        throw new TypeError(`onnx-cle: size '${d.key}' must be a whole number from 1 to 1000000`);
      sizes[d.key] = g;
    } else sizes[d.key] = d.axis === 0 || /batch|^[nb]$/i.test(d.name ?? '') ? 1 : 64;
  }
  return sizes;
}

/** Each input's shape with the open dimensions filled from sizes. */
export function shapesFor(inputs, sizes) {
  return inputs.map((inp) => ({
    name: inp.name, type: inp.type,
    shape: (inp.shape ?? []).map((d, axis) => {
      if (!isOpen(d)) return d;
      const key = typeof d === 'string' && d !== '' ? d : `${inp.name}:${axis}`;
      return sizes[key];
    }),
  }));
}

const INT_TYPES = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };

/** Seeded feeds: standard normal floats, small integers 0..9, booleans 0/1. */
function feedsFor(ort, shapes, seed) {
  const rand = mulberry32(seed);
  const feeds = {};
  for (const { name, type, shape } of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data;
    if (type === 'float32' || type === 'float64' || type === 'float16') {
      const v = normals(rand, n);
      data = type === 'float16' ? Uint16Array.from(v, numberToHalf) : type === 'float64' ? v : Float32Array.from(v);
    } else if (type === 'int64' || type === 'uint64') {
      data = (type === 'int64' ? BigInt64Array : BigUint64Array).from({ length: n }, () => BigInt(Math.floor(rand() * 10)));
    } else if (type === 'bool') {
      data = Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0));
    } else if (INT_TYPES[type]) {
      data = INT_TYPES[type].from({ length: n }, () => Math.floor(rand() * 10));
    } else {
      throw new OnnxCleError('CLE_E_UNSUPPORTED', `input '${name}' is of type ${type}, for which verify makes no values`);
    }
    feeds[name] = new ort.Tensor(type, data, shape);
  }
  return feeds;
}

function numbers(t) {
  if (t.type === 'float16') return Float64Array.from(t.data, halfToNumber);
  return t.data.slice();
}

let loaded = null;

/** onnxruntime-web: options.ort, else imported (Node, or a bundler that resolves it). */
async function runtime(given) {
  if (given) return given;
  // a name in a variable: bundlers leave the import alone, so that apps that never verify need not have it
  const name = 'onnxruntime-web';
  loaded ??= import(/* webpackIgnore: true */ /* @vite-ignore */ name).then((ort) => {
    ort.env.wasm.numThreads = 1; // no cross-origin isolation needed, no worker threads left running
    ort.env.logLevel = 'error';
    return ort;
  }).catch((e) => {
    loaded = null;
    throw new OnnxCleError('CLE_E_USAGE', 'verify needs onnxruntime-web: install it (npm install onnxruntime-web) ' +
      `or pass its module as options.ort (${e.message})`, { cause: e });
  });
  return loaded;
}

function checkOptions(options) {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new TypeError('onnx-cle: verify options must be an object');
  for (const key of Object.keys(options)) {
    if (!VERIFY_FIELDS.includes(key))
      throw new TypeError(`onnx-cle: unknown option '${key}' for verify (it takes ${VERIFY_FIELDS.join(', ')})`);
  }
  const { seed = 1, samples = 2, onProgress, sizes } = options;
  if (!Number.isInteger(seed)) throw new TypeError("onnx-cle: option 'seed' must be a whole number");
  if (!Number.isInteger(samples) || samples < 1 || samples > 100) throw new TypeError("onnx-cle: option 'samples' must be a whole number from 1 to 100");
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError("onnx-cle: option 'onProgress' must be a function");
  if (sizes !== undefined && (sizes === null || typeof sizes !== 'object')) throw new TypeError("onnx-cle: option 'sizes' must map dimension names to sizes");
  return options;
}

function asBytes(b, what) {
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (!(b instanceof Uint8Array)) throw new TypeError(`onnx-cle: ${what} must be a Uint8Array`);
  return b;
}

/**
 * Runs `original` and `equalized` (.onnx bytes) in onnxruntime-web on
 * seeded inputs and returns { inputs, sizes, open, outputs, samples, seed,
 * maxRelErr, maxAbsErr, sqnrDb: { perTensor: { before, after },
 * perChannel: { before, after } }, layers, notes, ms }.  See index.d.ts.
 */
export async function verify(original, equalized, options) {
  const o = checkOptions(options);
  const before = asBytes(original, 'the original model');
  const after = asBytes(equalized, 'the equalized model');
  const { seed = 1, samples = 2, onProgress } = o;
  const t0 = Date.now();
  const STEPS = 7; // the runtime, then six models
  let step = 0;
  const progress = (stage) => {
    if (onProgress && onProgress(stage, step++ / STEPS) === false)
      throw new OnnxCleError('CLE_E_CANCELLED', 'verify was cancelled');
  };
  progress('runtime');
  const ort = await runtime(o.ort);
  const external = (files) => (files ? { externalData: Object.entries(files).map(([path, data]) => ({ path, data })) } : {});
  const open = async (bytes, files) => {
    try {
      return await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled', ...external(files) });
    } catch (e) {
      throw new OnnxCleError('CLE_E_UNSUPPORTED', `onnxruntime-web cannot load the model: ${e.message}`, { cause: e });
    }
  };
  const runAll = async (session, feeds, visit) => {
    try {
      for (let i = 0; i < feeds.length; i++) {
        const result = await session.run(feeds[i]);
        const outs = {};
        for (const [name, t] of Object.entries(result)) {
          outs[name] = numbers(t);
          t.dispose?.();
        }
        visit(i, outs);
      }
    } catch (e) {
      if (e instanceof OnnxCleError) throw e;
      throw new OnnxCleError('CLE_E_UNSUPPORTED', `onnxruntime-web cannot run the model: ${e.message}`, { cause: e });
    } finally {
      await session.release();
    }
  };

  progress('original');
  const first = await open(before, o.externalData);
  const meta = first.inputMetadata ?? first.inputNames.map((name) => ({ name, type: 'float32', shape: [] }));
  const inputs = meta.map((m) => ({ name: m.name, type: m.type, shape: m.shape }));
  const sizes = chooseSizes(inputs, o.sizes);
  const shapes = shapesFor(inputs, sizes);
  const feeds = Array.from({ length: samples }, (_, i) => feedsFor(ort, shapes, seed + i));
  const ref = [];
  await runAll(first, feeds, (i, outs) => { ref[i] = outs; });

  progress('equalized');
  let worst = { relErr: 0, maxAbsErr: 0 };
  await runAll(await open(after, o.equalizedExternalData), feeds, (i, outs) => {
    const c = compare(ref[i], outs);
    if (c.relErr > worst.relErr || Number.isNaN(c.relErr)) worst = c;
    worst.maxAbsErr = Math.max(worst.maxAbsErr, c.maxAbsErr);
  });

  const sqnr = { perTensor: {}, perChannel: {} };
  const notes = [];
  let layerCount = 0;
  for (const perChannel of [false, true]) {
    for (const [which, bytes, files] of [['before', before, o.externalData], ['after', after, o.equalizedExternalData]]) {
      progress(`${which}-${perChannel ? 'channel' : 'tensor'}`);
      const q = quantizeWeights(bytes, { perChannel, externalData: files });
      if (which === 'before' && !perChannel) layerCount = q.layers;
      for (const n of q.notes) if (!notes.includes(`${which}: ${n}`)) notes.push(`${which}: ${n}`);
      const sums = [0, 0];
      await runAll(await open(q.model, files ? q.externalData : undefined), feeds, (i, outs) => {
        for (const name of Object.keys(ref[i])) addSquares(sums, ref[i][name], outs[name]);
      });
      sqnr[perChannel ? 'perChannel' : 'perTensor'][which] = sqnrDb(sums[0], sums[1]);
    }
  }
  return {
    inputs: shapes, sizes, open: openDims(inputs), outputs: Object.keys(ref[0] ?? {}), samples, seed,
    maxRelErr: worst.relErr, maxAbsErr: worst.maxAbsErr, sqnrDb: sqnr, layers: layerCount, notes, ms: Date.now() - t0,
  };
}

/** Loads onnxruntime-web from a URL (a worker's ortUrl), its .wasm and .mjs taken from beside it. */
export async function ortFromUrl(url) {
  const ort = await import(/* webpackIgnore: true */ /* @vite-ignore */ String(url));
  ort.env.wasm.wasmPaths = String(new URL('.', url));
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';
  return ort;
}
