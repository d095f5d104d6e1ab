// api.js — the public API over a runtime loader, shared by the Node entry
// (index.node.js), the browser entry (index.js) and the Web Worker.  Options
// objects become the CLI's option strings here, in one table, and the C
// library parses them with the CLI's own parser, so both take the same
// options and refuse the same values with the same sentence.
import { sampleModel } from './sample.js';

// field → [type, the option strings it becomes]; undefined means "not given"
const EQUALIZE_OPTIONS = {
  hbf: ['boolean', (v) => (v ? ['--hbf'] : [])],
  objective: ['string', (v) => [`--objective=${v}`]],
  batchNorm: ['string', (v) => [`--batch-norm=${v}`]],
  pow2Scales: ['boolean', (v) => (v ? ['--pow2-scales'] : [])],
  reference: ['boolean', (v) => (v ? ['--reference'] : [])],
  relu6: ['string', (v) => [`--relu6=${v}`]],
  iterations: ['number', (v) => [`--iterations=${v}`]],
  tolerance: ['number', (v) => [`--tolerance=${v}`]],
  maxScale: ['number', (v) => [`--max-scale=${v}`]],
  strength: ['string', (v) => [`--strength=${v}`]],
  ranges: ['boolean', (v) => (v ? ['--ranges'] : [])],
  inlineExternal: ['boolean', (v) => (v ? ['--inline-external'] : [])],
  externalDataName: ['string', (v) => [`--external-data-name=${v}`]],
  allowInvalid: ['boolean', (v) => (v ? ['--allow-invalid'] : [])],
};

// each command's fields (tests/js/options.test.mjs holds them to the C library's table)
export const OPTIONS = {
  info: {},
  check: { sarif: ['boolean', (v) => (v ? ['--sarif'] : [])] },
  equalize: EQUALIZE_OPTIONS,
};

// fields every call takes besides its command's own (and equalize, onOutput)
const CALL_FIELDS = ['externalData', 'onProgress'];

const INIT_FIELDS = ['wasmModule', 'wasmBinary', 'locateFile'];

const isObject = (v) => v !== null && typeof v === 'object';

/** options checked against the fields a call takes (undefined: {}); TypeError with the sentence otherwise. */
export function checkFields(what, options, allowed) {
  if (options === undefined) return {};
  if (!isObject(options)) throw new TypeError(`onnx-cle: ${what} options must be an object`);
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key))
      throw new TypeError(`onnx-cle: unknown option '${key}' for ${what} (it takes ${allowed.join(', ')})`);
  }
  return options;
}

/**
 * Turns an options object into the CLI's option strings for cmd, and picks
 * out the per-call fields.  Throws TypeError on an unknown field or a value
 * of the wrong type; ranges are the C parser's to check.
 */
export function toRequest(cmd, options) {
  const table = OPTIONS[cmd];
  const o = checkFields(cmd, options,
    [...Object.keys(table), ...CALL_FIELDS, ...(cmd === 'equalize' ? ['onOutput'] : [])]);
  const args = [];
  for (const [key, [type, write]] of Object.entries(table)) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== type || (type === 'number' && !Number.isFinite(v)))
      throw new TypeError(`onnx-cle: option '${key}' must be a ${type === 'number' ? 'finite number' : type}`);
    args.push(...write(v));
  }
  const { externalData, onProgress, onOutput } = o;
  if (externalData !== undefined && !isObject(externalData))
    throw new TypeError("onnx-cle: option 'externalData' must map file names to Uint8Array");
  for (const [key, fn] of [['onProgress', onProgress], ['onOutput', onOutput]]) {
    if (fn !== undefined && typeof fn !== 'function') throw new TypeError(`onnx-cle: option '${key}' must be a function`);
  }
  return { args, externalData, onProgress, onOutput };
}

/** Checks init options; returns them (an empty object for undefined). */
export function checkInitOptions(options) {
  return checkFields('init', options, INIT_FIELDS);
}

// prepare(): the sample model's equalize runs this many times on a new
// instance, enough for the engine to optimize the code a call runs, and
// memory is readied for this much over the model's size (equalize's peak
// heap is 1.3-1.4x the model on the bench's big models)
const WARM_RUNS = 5;
const READY_PER_BYTE = 1.5;
const PAGE = 65536;
const warmed = new WeakSet(); // the runtimes whose code the sample has warmed
const written = new WeakMap(); // runtime -> the end of the memory prepare has written (pages stay resident)

/**
 * Readies runtime rt for an equalize of a model of n bytes: on its first
 * call, the sample model equalized a few times (a new module runs baseline
 * code until its hot functions are optimized); then wasm memory grown so
 * that READY_PER_BYTE * n bytes lie beyond the top of C's heap (sbrk(0):
 * what the instance uses; between calls C holds next to nothing), and every
 * page from that top to the readied end written once (those of the memory
 * the instance began with too: 16 MiB, which the call's first blocks take),
 * so that the operating system's zero-filling of fresh pages is paid now
 * rather than by the call.  C's allocator takes memory
 * that is already there (free blocks under the top, then the pages above
 * it) before it grows it, so the pages an earlier call touched count: after
 * a check() of a 100 MB model, 140 MB of memory, this grows 50 MB rather
 * than 150.  A smaller n than before grows and writes nothing; a grow the engine
 * refuses leaves what there is.  Returns { bytes }: the memory beyond the
 * heap's top.  (bench/run.mjs times a first call after it.)
 */
export function prepareRuntime(rt, n) {
  if (!warmed.has(rt)) {
    const { bytes } = sampleModel();
    for (let i = 0; i < WARM_RUNS; i++) rt.request('equalize', [], bytes, { onOutput: () => {} });
    warmed.add(rt);
  }
  const top = rt.exports.cle_bench_heap_top() >>> 0;
  const have = rt.memory.buffer.byteLength;
  const want = top + Math.ceil(READY_PER_BYTE * n);
  if (want > have) {
    try {
      rt.memory.grow(Math.ceil((want - have) / PAGE));
    } catch (e) {
      if (!(e instanceof RangeError)) throw e; // the engine would not give that much
    }
  }
  // every page above the heap's top written once (zeros: nothing lives there),
  // those of the memory the instance began with too; not those an earlier
  // prepare wrote, which wasm memory keeps
  const end = Math.min(want, rt.memory.buffer.byteLength);
  const from = Math.max(top, written.get(rt) ?? 0);
  if (end > from) {
    new Uint8Array(rt.memory.buffer, from, end - from).fill(0);
    written.set(rt, end);
  }
  return { bytes: rt.memory.buffer.byteLength - top };
}

/**
 * The API over load(options) → a runtime from core.js.  init() caches its
 * promise, and drops it on failure so that a retry can work.  A call that
 * trapped leaves its instance poisoned (core.js): the next call runs on a
 * fresh instance of the same module.
 */
export function makeApi(load) {
  let ready;
  let trapped = null; // the runtime a trap poisoned, whose module the next one is made from
  const runtime = (options) =>
    (ready ??= Promise.resolve()
      .then(() => (trapped ? trapped.renew() : load(checkInitOptions(options))))
      .then((rt) => {
        trapped = null;
        return rt;
      })
      .catch((e) => {
        ready = undefined;
        throw e;
      }));

  // runs fn(rt) on the runtime; one that trapped is replaced for the next call
  const use = async (fn) => {
    const pending = runtime();
    const rt = await pending;
    try {
      return fn(rt);
    } finally {
      if (rt.trapped && ready === pending) {
        trapped = rt;
        ready = undefined;
      }
    }
  };

  const call = async (cmd, bytes, options) => {
    const { args, externalData, onProgress, onOutput } = toRequest(cmd, options);
    const r = await use((rt) => rt.request(cmd, args, bytes, { externalData, onProgress, onOutput }));
    const result = { report: JSON.parse(r.document), model: r.output };
    // a model that keeps weights in external data comes with its new data file
    if (r.data) result.externalData = { [r.dataName]: r.data };
    return result;
  };

  return {
    init: async (options) => {
      checkInitOptions(options);
      await runtime(options);
    },
    info: async (bytes, options) => (await call('info', bytes, options)).report,
    check: async (bytes, options) => (await call('check', bytes, options)).report,
    equalize: async (bytes, options) => {
      const { report, model, externalData } = await call('equalize', bytes, options);
      return externalData ? { model, report, externalData } : { model, report };
    },
    prepare: async (byteLength) => {
      if (typeof byteLength !== 'number' || !Number.isFinite(byteLength) || byteLength < 0)
        throw new TypeError('onnx-cle: prepare takes the model\'s size in bytes, a finite number >= 0');
      return use((rt) => prepareRuntime(rt, byteLength));
    },
  };
}
