// api.js — the public API over a runtime loader, shared by the Node entry
// (index.node.js), the browser entry (index.js) and the Web Worker.  Options
// objects become the CLI's option strings here, in one table, and the C
// library parses them with the CLI's own parser, so both take the same
// options and refuse the same values with the same sentence.

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

function checkFields(what, options, allowed) {
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

  const call = async (cmd, bytes, options) => {
    const { args, externalData, onProgress, onOutput } = toRequest(cmd, options);
    const pending = runtime();
    const rt = await pending;
    let r;
    try {
      r = rt.request(cmd, args, bytes, { externalData, onProgress, onOutput });
    } finally {
      if (rt.trapped && ready === pending) {
        trapped = rt;
        ready = undefined;
      }
    }
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
  };
}
