// onnxruntime-web in Node, offline, as the reference the tests check
// models against: run a model, make seeded inputs, compare outputs.
//
// 'onnxruntime-web' resolves under Node to dist/ort.node.min.mjs (the
// package's "node" export condition). It imports ort-wasm-simd-threaded.mjs
// and reads ort-wasm-simd-threaded.wasm from wasmPaths with node:fs; nothing
// is fetched, no CDN, no worker (one thread, no proxy).
import * as ort from 'onnxruntime-web';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { root, fixture } from './helpers.mjs';
// the package's own definitions (wasm/quant.js), which verify() and the page use too
import { mulberry32, normals, compare } from '../../wasm/quant.js';

export { compare };

ort.env.wasm.wasmPaths = pathToFileURL(path.join(root, 'node_modules/onnxruntime-web/dist/')).href;
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.logLevel = 'error';

export { ort };

const typed = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array,
  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
};

function typeOf(data) {
  for (const [name, T] of Object.entries(typed)) if (data instanceof T) return name;
  throw new Error(`no ONNX type for ${data?.constructor?.name}`);
}

/** An ort.Tensor from a Tensor, or a typed array carrying `dims` (a scalar when dims is []). */
function toTensor(name, v) {
  if (v instanceof ort.Tensor) return v;
  if (!ArrayBuffer.isView(v) || !Array.isArray(v.dims)) {
    throw new Error(`feed '${name}': want an ort.Tensor or a typed array with .dims`);
  }
  return new ort.Tensor(typeOf(v), v, v.dims);
}

/** IEEE half bits to a number, exactly. */
function halfToNumber(h) {
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** A number to IEEE half bits, to nearest (Math.fround-free: via float64). */
export function numberToHalf(x) {
  const v = new Float32Array([x]);
  const f = new Uint32Array(v.buffer)[0];
  const sign = (f >>> 16) & 0x8000, e = (f >>> 23) & 0xff, m = f & 0x7fffff;
  if (e === 255) return sign | 0x7c00 | (m ? 0x200 : 0);
  const ee = e - 127 + 15;
  if (ee >= 31) return sign | 0x7c00;
  if (ee <= 0) {
    if (ee < -10) return sign;
    const mm = (m | 0x800000) >>> (1 - ee);
    return sign | ((mm + 0x1000) >>> 13);
  }
  return (sign | (ee << 10) | (m >>> 13)) + ((m & 0x1fff) > 0x1000 || ((m & 0x1fff) === 0x1000 && (m & 0x2000)) ? 1 : 0);
}

/** A typed array copy of the tensor's data with `dims` attached (float16 as numbers). */
function fromTensor(t) {
  const data = t.type === 'float16' ? Float64Array.from(t.data, halfToNumber) : t.data.slice();
  data.dims = [...t.dims];
  return data;
}

/**
 * Runs a model once in onnxruntime-web (WebAssembly CPU backend).
 * feeds: { inputName: ort.Tensor | TypedArray with .dims }.
 * Returns { outputName: Float32Array (or the output's typed array) with .dims }.
 * Graph optimizations are off by default, so the graph runs as written (ORT's
 * own Conv+BN fusion cannot hide a difference); opts.graphOptimizationLevel
 * ('basic', 'all') turns them on; opts.outputs picks outputs by name;
 * opts.externalData ({ file name: bytes }) supplies external data files.
 */
export async function run(modelBytes, feeds, { outputs, graphOptimizationLevel = 'disabled', externalData } = {}) {
  const session = await ort.InferenceSession.create(modelBytes, {
    executionProviders: ['wasm'], graphOptimizationLevel,
    // { name: bytes } → onnxruntime's [{ path, data }]
    ...(externalData && { externalData: Object.entries(externalData).map(([path, data]) => ({ path, data })) }),
  });
  try {
    const inputs = {};
    for (const [name, v] of Object.entries(feeds)) inputs[name] = toTensor(name, v);
    const result = await session.run(inputs, outputs);
    const out = {};
    for (const [name, t] of Object.entries(result)) {
      out[name] = fromTensor(t);
      t.dispose?.();
    }
    return out;
  } finally {
    await session.release();
  }
}

function isDynamic(d) {
  return typeof d !== 'number' || d < 0 || d >= 2 ** 31;
}

/**
 * Deterministic inputs for a model. spec: a cle_manifest.json entry
 * ({ inputs: [{ name, shape, dtype }] }), or session.inputMetadata
 * ([{ name, type, shape }]). Float inputs get standard normal values, integer
 * inputs small values 0..9. Dynamic dimensions (names, -1, 2^32-1) are 1
 * unless opts.shapes gives { inputName: shape }; opts.scale multiplies floats.
 */
export function randomFeeds(spec, seed, { shapes = {}, scale = 1 } = {}) {
  const inputs = Array.isArray(spec) ? spec : spec.inputs;
  const rand = mulberry32(seed);
  const feeds = {};
  for (const inp of inputs) {
    const type = inp.dtype ?? inp.type;
    const dims = (shapes[inp.name] ?? inp.shape).map((d) => (isDynamic(d) ? 1 : d));
    const n = dims.reduce((a, b) => a * b, 1);
    if (type === 'float16') {
      const v = normals(rand, n);
      feeds[inp.name] = new ort.Tensor('float16', Uint16Array.from(v, (x) => numberToHalf(x * scale)), dims);
      continue;
    }
    const T = typed[type];
    if (!T) throw new Error(`randomFeeds: input '${inp.name}' has type ${type}`);
    const data = new T(n);
    if (type === 'float32' || type === 'float64') {
      const v = normals(rand, n);
      for (let i = 0; i < n; i++) data[i] = v[i] * scale;
    } else {
      for (let i = 0; i < n; i++) {
        const k = Math.floor(rand() * 10);
        data[i] = type === 'int64' ? BigInt(k) : k;
      }
    }
    data.dims = dims;
    feeds[inp.name] = data;
  }
  return feeds;
}

/** float32 little-endian file → Float32Array with dims. */
export function readF32(file, dims) {
  const b = readFileSync(file);
  const n = dims.reduce((x, y) => x * y, 1);
  if (b.length !== n * 4) throw new Error(`${path.basename(file)}: ${b.length} bytes, want ${dims.join('x')} floats`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = b.readFloatLE(i * 4);
  data.dims = dims;
  return data;
}

/**
 * The fixed input and PyTorch's output stored beside a cle fixture
 * (make_cle_models.py): { feeds, outputs }, keyed by the model's names.
 */
export function storedIO(entry) {
  const [inp] = entry.inputs;
  const [out] = entry.outputs;
  return {
    feeds: { [inp.name]: readF32(fixture(entry.input_bin), inp.shape) },
    outputs: { [out.name]: readF32(fixture(entry.output_bin), out.shape) },
  };
}

/**
 * An image input for the PP-OCR models: a white page with lines of dark
 * word blocks, ImageNet-normalized, [1, 3, h, w]. (Random noise drives
 * their sigmoid outputs to about 0, where relative errors say nothing.)
 */
export function textPage(h, w) {
  const x = new Float32Array(3 * h * w);
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  for (let y = 0; y < h; y++) {
    for (let c = 0; c < w; c++) {
      const ink = y % 16 >= 5 && y % 16 < 11 && c % 12 < 9 && c > 4 && c < w - 4;
      for (let k = 0; k < 3; k++) x[k * h * w + y * w + c] = ((ink ? 0.1 : 0.95) - mean[k]) / std[k];
    }
  }
  x.dims = [1, 3, h, w];
  return x;
}
