// verify.js — evidence that an equalized model is the same function and
// quantizes better, with onnxruntime-web (an optional peer dependency):
// both models run on the same seeded inputs of the model's input shapes;
// the largest relative output difference says the function is kept, and the
// output SQNR of the weight-fake-quantized models (INT8, symmetric, per
// tensor and per channel, quant.js) against the original's FP32 outputs says
// what equalization did for quantization.  Inputs the caller gives (an
// image, say) run as well, and are reported on their own.
import { OnnxCleError } from './core.js';
import { checkFields } from './api.js';
import { numberToHalf, halfToNumber } from './onnx-proto.js';
import { mulberry32, normals, compare, sqnrDb, addSquares, quantizeWeights } from './quant.js';

const VERIFY_FIELDS = ['ort', 'sizes', 'seed', 'samples', 'inputs', 'externalData', 'equalizedExternalData', 'onProgress'];

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

const FLOAT_TYPES = ['float32', 'float64', 'float16'];

/** values (numbers, or bigints for int64) as the data of a tensor of type. */
export function typed(type, name, values) {
  if (type === 'float16') return Uint16Array.from(values, (v) => numberToHalf(Number(v)));
  if (type === 'float32') return values instanceof Float32Array ? values : Float32Array.from(values, Number);
  if (type === 'float64') return Float64Array.from(values, Number);
  if (type === 'int64' || type === 'uint64') return (type === 'int64' ? BigInt64Array : BigUint64Array).from(values, (v) => BigInt(v));
  if (type === 'bool') return Uint8Array.from(values, (v) => (v ? 1 : 0));
  if (INT_TYPES[type]) return INT_TYPES[type].from(values, Number);
  throw new OnnxCleError('CLE_E_UNSUPPORTED', `input '${name}' is of type ${type}, for which verify makes no values`);
}

/** Seeded values: standard normal floats, small integers 0..9, booleans 0/1. */
function seeded(rand, type, name, n) {
  if (FLOAT_TYPES.includes(type)) return typed(type, name, normals(rand, n));
  if (type === 'bool') return Array.from({ length: n }, () => rand() < 0.5);
  if (type.startsWith('int') || type.startsWith('uint')) return Array.from({ length: n }, () => Math.floor(rand() * 10));
  return typed(type, name, []);
}

/** Seeded feeds, with given[name] ({ data, dims }) in place of an input's where given. */
function feedsFor(ort, shapes, seed, given = {}) {
  const rand = mulberry32(seed);
  const feeds = {};
  for (const { name, type, shape } of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const g = given[name];
    const data = g ? typed(type, name, g.data) : typed(type, name, seeded(rand, type, name, n));
    feeds[name] = new ort.Tensor(type, data, g ? g.dims : shape);
  }
  return feeds;
}

/**
 * Checks options.inputs against the model's inputs; returns the sizes its
 * dims give the open dimensions ({ key: size }), so that the inputs not
 * given are made to match them.
 */
function givenSizes(given, inputs) {
  const sizes = {};
  for (const [name, t] of Object.entries(given)) {
    const inp = inputs.find((i) => i.name === name);
    if (!inp) throw new TypeError(`onnx-cle: options.inputs names '${name}', which is not an input of the model (it has ${inputs.map((i) => i.name).join(', ')})`);
    const shape = inp.shape ?? [];
    if (t.dims.length !== shape.length)
      throw new TypeError(`onnx-cle: options.inputs '${name}' has ${t.dims.length} dimensions, the model's input ${shape.length}`);
    shape.forEach((d, axis) => {
      if (!isOpen(d)) {
        if (t.dims[axis] !== d) throw new TypeError(`onnx-cle: options.inputs '${name}' is ${t.dims[axis]} long on axis ${axis}, where the model's input is ${d}`);
        return;
      }
      const key = typeof d === 'string' && d !== '' ? d : `${name}:${axis}`;
      if (key in sizes && sizes[key] !== t.dims[axis])
        throw new TypeError(`onnx-cle: options.inputs give dimension '${key}' two sizes, ${sizes[key]} and ${t.dims[axis]}`);
      sizes[key] = t.dims[axis];
    });
  }
  return sizes;
}

function numbers(t) {
  if (t.type === 'float16') return Float64Array.from(t.data, halfToNumber);
  return t.data.slice();
}

/** A session of onnxruntime-web's CPU backend on bytes (external data files: { name: bytes }), graph as written. */
export async function openSession(ort, bytes, files) {
  const external = files ? { externalData: Object.entries(files).map(([path, data]) => ({ path, data })) } : {};
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'disabled', ...external });
  } catch (e) {
    throw new OnnxCleError('CLE_E_UNSUPPORTED', `onnxruntime-web cannot load the model: ${e.message}`, { cause: e });
  }
}

/** Runs session on each of feeds, visit(i, { output: numbers }) after each; releases it. */
export async function runAll(session, feeds, visit) {
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
}

let loaded = null;

/** onnxruntime-web: options.ort, else imported (Node, or a bundler that resolves it). */
export async function runtime(given) {
  if (given) return given;
  // a name computed at run time: bundlers leave the import alone, so that apps that never verify
  // need not have it (a constant would be folded in by Vite's dependency optimizer, which then
  // fails to resolve it)
  const name = ['onnxruntime', 'web'].join('-');
  loaded ??= import(/* webpackIgnore: true */ /* @vite-ignore */ name).then((ort) => {
    ort.env.wasm.numThreads = 1; // no cross-origin isolation needed, no worker threads left running
    ort.env.logLevel = 'error';
    return ort;
  }).catch((e) => {
    loaded = null;
    throw new OnnxCleError('CLE_E_USAGE', 'verify and tune need onnxruntime-web: install it (npm install onnxruntime-web) ' +
      `or pass its module as options.ort (${e.message})`, { cause: e });
  });
  return loaded;
}

function checkOptions(given) {
  const options = checkFields('verify', given, VERIFY_FIELDS);
  const { seed = 1, samples = 2, onProgress, sizes } = options;
  if (!Number.isInteger(seed)) throw new TypeError("onnx-cle: option 'seed' must be a whole number");
  if (!Number.isInteger(samples) || samples < 1 || samples > 100) throw new TypeError("onnx-cle: option 'samples' must be a whole number from 1 to 100");
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError("onnx-cle: option 'onProgress' must be a function");
  if (sizes !== undefined && (sizes === null || typeof sizes !== 'object')) throw new TypeError("onnx-cle: option 'sizes' must map dimension names to sizes");
  if (options.inputs !== undefined) checkInputs(options.inputs);
  return options;
}

export function checkInputs(inputs) {
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs))
    throw new TypeError("onnx-cle: option 'inputs' must map input names to { data, dims }");
  for (const [name, t] of Object.entries(inputs)) {
    const what = `options.inputs '${name}'`;
    if (t === null || typeof t !== 'object') throw new TypeError(`onnx-cle: ${what} must be { data, dims }`);
    const { data, dims } = t;
    if (!(ArrayBuffer.isView(data) && !(data instanceof DataView)) && !Array.isArray(data))
      throw new TypeError(`onnx-cle: ${what}: data must be a typed array (a Float32Array for a float input) or an array of numbers`);
    if (!Array.isArray(dims) || !dims.every((d) => Number.isInteger(d) && d >= 0))
      throw new TypeError(`onnx-cle: ${what}: dims must be an array of whole numbers`);
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new TypeError(`onnx-cle: ${what} holds ${data.length} values, and dims [${dims.join(', ')}] make ${n}`);
  }
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
 * perChannel: { before, after } }, layers, notes, ms }, and with
 * options.inputs, given: the same numbers on those inputs alone (in
 * addition to the seeded ones, which they do not change).  See index.d.ts.
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
  const open = (bytes, files) => openSession(ort, bytes, files);

  progress('original');
  const first = await open(before, o.externalData);
  const meta = first.inputMetadata ?? first.inputNames.map((name) => ({ name, type: 'float32', shape: [] }));
  const inputs = meta.map((m) => ({ name: m.name, type: m.type, shape: m.shape }));
  const sizes = chooseSizes(inputs, o.sizes);
  const shapes = shapesFor(inputs, sizes);
  const feeds = Array.from({ length: samples }, (_, i) => feedsFor(ort, shapes, seed + i));
  // the given inputs run last, as one more sample (the inputs not given seeded, sized to match), counted apart
  let givenShapes = null;
  if (o.inputs && Object.keys(o.inputs).length) {
    let own;
    try {
      own = { ...chooseSizes(inputs, o.sizes), ...givenSizes(o.inputs, inputs) };
    } catch (e) {
      await first.release();
      throw e;
    }
    givenShapes = shapesFor(inputs, own).map((s) => (o.inputs[s.name] ? { ...s, shape: [...o.inputs[s.name].dims] } : s));
    feeds.push(feedsFor(ort, givenShapes, seed + samples, o.inputs));
  }
  const kinds = feeds.map((_, i) => (i < samples ? 0 : 1)); // 0: seeded, 1: given
  const ref = [];
  await runAll(first, feeds, (i, outs) => { ref[i] = outs; });

  progress('equalized');
  const worst = [{ relErr: 0, maxAbsErr: 0 }, { relErr: 0, maxAbsErr: 0 }];
  await runAll(await open(after, o.equalizedExternalData), feeds, (i, outs) => {
    const c = compare(ref[i], outs);
    const w = worst[kinds[i]];
    if (c.relErr > w.relErr || Number.isNaN(c.relErr)) worst[kinds[i]] = { ...c, maxAbsErr: Math.max(w.maxAbsErr, c.maxAbsErr) };
    else w.maxAbsErr = Math.max(w.maxAbsErr, c.maxAbsErr);
  });

  const sqnr = [{ perTensor: {}, perChannel: {} }, { perTensor: {}, perChannel: {} }];
  const notes = [];
  let layerCount = 0;
  for (const perChannel of [false, true]) {
    for (const [which, bytes, files] of [['before', before, o.externalData], ['after', after, o.equalizedExternalData]]) {
      progress(`${which}-${perChannel ? 'channel' : 'tensor'}`);
      const q = quantizeWeights(bytes, { perChannel, externalData: files });
      if (which === 'before' && !perChannel) layerCount = q.layers;
      for (const n of q.notes) if (!notes.includes(`${which}: ${n}`)) notes.push(`${which}: ${n}`);
      const sums = [[0, 0], [0, 0]];
      await runAll(await open(q.model, files ? q.externalData : undefined), feeds, (i, outs) => {
        for (const name of Object.keys(ref[i])) addSquares(sums[kinds[i]], ref[i][name], outs[name]);
      });
      for (const k of [0, 1]) sqnr[k][perChannel ? 'perChannel' : 'perTensor'][which] = sqnrDb(sums[k][0], sums[k][1]);
    }
  }
  const result = {
    inputs: shapes, sizes, open: openDims(inputs), outputs: Object.keys(ref[0] ?? {}), samples, seed,
    maxRelErr: worst[0].relErr, maxAbsErr: worst[0].maxAbsErr, sqnrDb: sqnr[0], layers: layerCount, notes, ms: Date.now() - t0,
  };
  if (givenShapes) {
    result.given = {
      inputs: givenShapes, names: Object.keys(o.inputs), maxRelErr: worst[1].relErr, maxAbsErr: worst[1].maxAbsErr, sqnrDb: sqnr[1],
    };
  }
  return result;
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
