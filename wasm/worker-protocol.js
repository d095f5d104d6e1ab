// worker-protocol.js — the messages between the worker client (worker.js,
// worker.node.js) and the worker script (worker-script.js,
// worker-script.node.js).  Every request carries an id; model bytes go
// both ways in transfer lists, never copied by postMessage.
//
//   client → worker  { id: 0, cmd: 'setup', options: { wasmModule, wasmBinary, wasmUrl, ortUrl } }
//                    { id, cmd: 'init' }
//                    { id, cmd: 'prepare', size }   (ready the instance for a model of size bytes)
//                    { id, cmd: 'info' | 'check' | 'equalize' | 'graph', bytes, options, externalData, progress,
//                      output (equalize: the output in pieces) }
//                    { id, cmd: 'verify', bytes, equalized, options, externalData, equalizedExternalData, progress }
//                      (options.inputs, tensors of the caller's, are copied: small, and often used again)
//                    { id, cmd: 'tune', bytes, options, externalData, progress }   (options.inputs copied too)
//   worker → client  { id, progress: [stage, fraction] }
//                    { id, output: [bytes, { name, offset, total }] }   (a piece of the output, moved)
//                    { id, ok: true, result, model, externalData }   (equalize and tune;
//                      externalData when the model keeps weights in a data file)
//                    { id, ok: false, error: { name, code, message } }
//                    { fatal: message }   a message could not be read (its id with it):
//                                         the client fails the worker and every pending call
import { OnnxCleError, detachedError } from './core.js';
import { toRequest, checkInitOptions } from './api.js';
import { ortFromUrl } from './verify.js';

const COMMANDS = ['info', 'check', 'equalize', 'graph'];

// what verify, tune and graph take besides the model (they are not C commands: api.js's table has no
// row for them); tune's run (a function) cannot cross to a worker, its ort is the worker's own
const OWN_FIELDS = {
  graph: ['externalData'],
  verify: ['sizes', 'seed', 'samples', 'inputs', 'externalData', 'equalizedExternalData', 'onProgress'],
  tune: ['inputs', 'target', 'channelSlack', 'roundings', 'budget', 'biasCorrection', 'equalize', 'externalData', 'onProgress'],
};

function ownRequest(cmd, options) {
  const o = options ?? {};
  if (typeof o !== 'object') throw new TypeError(`onnx-cle: ${cmd} options must be an object`);
  for (const key of Object.keys(o)) {
    if (!OWN_FIELDS[cmd].includes(key))
      throw new TypeError(`onnx-cle: unknown option '${key}' for ${cmd} (it takes ${[...OWN_FIELDS[cmd], 'transfer'].join(', ')})`);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw new TypeError("onnx-cle: option 'onProgress' must be a function");
  return { externalData: o.externalData, onProgress: o.onProgress };
}

/**
 * Runs the API for a client: post(message, transfer) answers, listen(fn,
 * unreadable) delivers each message's data to fn, and calls unreadable(err)
 * for a message that could not be deserialized (whose request is lost).
 */
export function serve(api, post, listen) {
  let init = {};
  let ortUrl = null;
  let ort = null; // onnxruntime-web, imported from ortUrl on the first verify
  const unreadable = (err) =>
    post({ fatal: `a message to the worker could not be read (${err && err.message ? err.message : 'messageerror'})` });
  listen(async (msg) => {
    const { id, cmd } = msg;
    if (cmd === 'setup') {
      const { wasmUrl, ortUrl: ortAt, ...rest } = msg.options;
      ortUrl = ortAt ?? null;
      init = wasmUrl ? { ...rest, locateFile: () => wasmUrl } : rest;
      api.init(init).catch(() => {}); // start loading now; requests see any failure
      return;
    }
    try {
      if (cmd === 'verify' || cmd === 'tune') {
        const options = { ...msg.options };
        if (msg.externalData) options.externalData = msg.externalData;
        if (msg.equalizedExternalData) options.equalizedExternalData = msg.equalizedExternalData;
        if (msg.progress) options.onProgress = (stage, fraction) => post({ id, progress: [stage, fraction] });
        if (ortUrl) {
          if (msg.progress) post({ id, progress: ['runtime', 0] });
          ort ??= await ortFromUrl(ortUrl).catch((e) => {
            throw new OnnxCleError('CLE_E_IO', `cannot load onnxruntime-web from ${ortUrl}: ${e.message}`);
          });
          options.ort = ort;
        }
        if (cmd === 'verify') {
          post({ id, ok: true, result: await api.verify(msg.bytes, msg.equalized, options) });
          return;
        }
        await api.init(init);
        const { model, externalData: ext, ...result } = await api.tune(msg.bytes, options);
        const list = [model.buffer, ...Object.values(ext ?? {}).map((b) => b.buffer)];
        post({ id, ok: true, result, model, externalData: ext }, [...new Set(list)]);
        return;
      }
      await api.init(init);
      if (cmd === 'init') {
        post({ id, ok: true, result: null });
      } else if (cmd === 'prepare') {
        post({ id, ok: true, result: await api.prepare(msg.size) });
      } else if (COMMANDS.includes(cmd)) {
        const options = { ...msg.options };
        if (msg.externalData) options.externalData = msg.externalData;
        if (msg.progress) options.onProgress = (stage, fraction) => post({ id, progress: [stage, fraction] });
        if (msg.output) {
          options.onOutput = (view, part) => {
            const piece = view.slice();
            post({ id, output: [piece, part] }, [piece.buffer]);
          };
        }
        const r = await api[cmd](msg.bytes, options);
        if (cmd === 'equalize') {
          const ext = r.externalData;
          const list = [r.model?.buffer, ...Object.values(ext ?? {}).map((b) => b.buffer)].filter(Boolean);
          post({ id, ok: true, result: r.report, model: r.model, externalData: ext }, list);
        }
        else post({ id, ok: true, result: r });
      } else {
        throw new TypeError(`onnx-cle: unknown worker request '${cmd}'`);
      }
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      post({ id, ok: false, error: { name: error.name, code: error.code, message: error.message } });
    }
  }, unreadable);
}

function errorFrom({ name, code, message }) {
  if (name === 'OnnxCleError') return new OnnxCleError(code, message);
  if (name === 'TypeError') return new TypeError(message);
  const e = new Error(message);
  e.name = name;
  return e;
}

const abortError = (message) => new DOMException(message, 'AbortError');

// A Uint8Array that owns all of a plain ArrayBuffer can be transferred as it
// is; a view onto part of a larger (or shared) buffer is copied first, so
// the rest of that buffer is never detached or copied along.  A detached
// buffer is refused here: Node's postMessage does not throw on one in the
// transfer list (the worker gets a message it cannot read), browsers do.
// A buffer given twice (the same bytes under two names) moves once.
function movable(bytes, transfer, list, what) {
  const buffer = bytes instanceof ArrayBuffer ? bytes : bytes instanceof Uint8Array ? bytes.buffer : null;
  if (buffer === null) return bytes; // the worker gives the TypeError
  const error = detachedError(buffer, what);
  if (error) throw error;
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  const whole = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength;
  const out = transfer && whole ? bytes : bytes.slice();
  if (!list.includes(out.buffer)) list.push(out.buffer);
  return out;
}

/**
 * The client over spawn(url, { message(data), error(err) }) → { post(msg,
 * transfer), terminate(), busy(bool) }.  One worker at a time, started on
 * the first call and again after cancel().
 */
export function makeClient(spawn, options = {}, resolveUrl = (u) => String(u)) {
  const { url, ortUrl, ...initOptions } = options ?? {};
  checkInitOptions(initOptions);
  const setup = {};
  if (initOptions.wasmModule) setup.wasmModule = initOptions.wasmModule;
  if (initOptions.wasmBinary) setup.wasmBinary = initOptions.wasmBinary;
  if (initOptions.locateFile) setup.wasmUrl = resolveUrl(initOptions.locateFile('onnx-cle.wasm'));
  if (ortUrl !== undefined) setup.ortUrl = resolveUrl(ortUrl);

  let worker = null;
  let closed = false;
  let nextId = 1;
  const pending = new Map(); // id → { resolve, reject, onProgress, onOutput, cmd }

  const settleAll = (error) => {
    const all = [...pending.values()];
    pending.clear();
    for (const p of all) p.reject(error);
  };
  const stop = () => {
    if (!worker) return;
    const w = worker;
    worker = null;
    w.terminate();
  };
  const cancel = (error = abortError('onnx-cle: cancelled')) => {
    stop();
    settleAll(error);
  };

  const onMessage = (data) => {
    if (data && data.fatal) {
      onError(new Error(data.fatal));
      return;
    }
    const p = pending.get(data.id);
    if (!p) return;
    if (data.progress || data.output) {
      const fn = data.progress ? p.onProgress : p.onOutput;
      if (!fn) return;
      let r;
      try {
        r = fn(...(data.progress ?? data.output));
      } catch (e) {
        pending.delete(data.id);
        p.reject(e);
        cancel();
        return;
      }
      if (data.progress && r === false) cancel();
      return;
    }
    pending.delete(data.id);
    worker?.busy(pending.size > 0);
    if (!data.ok) p.reject(errorFrom(data.error));
    else if (p.cmd === 'equalize') {
      p.resolve(data.externalData
        ? { model: data.model, report: data.result, externalData: data.externalData }
        : { model: data.model, report: data.result });
    } else if (p.cmd === 'tune') {
      p.resolve({ ...data.result, model: data.model, ...(data.externalData && { externalData: data.externalData }) });
    }
    else p.resolve(data.result);
  };
  const onError = (err) => {
    const message = err && err.message ? err.message : 'it could not start';
    stop();
    settleAll(new Error(`onnx-cle: the worker failed: ${message}`, { cause: err }));
  };

  const start = () => {
    const w = spawn(url, { message: onMessage, error: onError });
    const list = [];
    const opts = { ...setup };
    if (opts.wasmBinary) opts.wasmBinary = movable(opts.wasmBinary, false, list, 'options.wasmBinary');
    w.post({ id: 0, cmd: 'setup', options: opts }, list);
    return w;
  };

  const send = (cmd, bytes, options, equalized) =>
    new Promise((resolve, reject) => {
      if (closed) throw new Error('onnx-cle: this worker was terminated');
      const { transfer = true, ...rest } = options ?? {};
      if (typeof transfer !== 'boolean') throw new TypeError("onnx-cle: option 'transfer' must be a boolean");
      const msg = { id: nextId++, cmd };
      const list = [];
      let onProgress, onOutput;
      if (cmd === 'prepare') {
        msg.size = bytes; // a number: the worker's prepare() checks it
      } else if (cmd !== 'init') {
        if (!(bytes instanceof Uint8Array || bytes instanceof ArrayBuffer))
          throw new TypeError('onnx-cle: the model must be a Uint8Array');
        let externalData;
        // TypeErrors here, before anything moves
        ({ onProgress, onOutput, externalData } = OWN_FIELDS[cmd] ? ownRequest(cmd, rest) : toRequest(cmd, rest));
        const files = (data, what) => {
          const out = {};
          const entries = data instanceof Map ? data : Object.entries(data);
          for (const [name, b] of entries) out[name] = movable(b, transfer, list, `${what} '${name}'`);
          return out;
        };
        msg.options = Object.fromEntries(Object.entries(rest)
          .filter(([k]) => !['externalData', 'onProgress', 'onOutput', 'equalizedExternalData'].includes(k)));
        msg.progress = Boolean(onProgress);
        msg.output = Boolean(onOutput);
        msg.bytes = movable(bytes, transfer, list, 'the model');
        if (cmd === 'verify') {
          if (!(equalized instanceof Uint8Array || equalized instanceof ArrayBuffer))
            throw new TypeError('onnx-cle: the equalized model must be a Uint8Array');
          msg.equalized = movable(equalized, transfer, list, 'the equalized model');
          if (rest.equalizedExternalData) msg.equalizedExternalData = files(rest.equalizedExternalData, 'equalized external data file');
        }
        if (externalData) msg.externalData = files(externalData, 'external data file');
      }
      worker ??= start();
      pending.set(msg.id, { resolve, reject, onProgress, onOutput, cmd });
      worker.busy(true);
      try {
        worker.post(msg, list);
      } catch (e) {
        pending.delete(msg.id); // e.g. a DataCloneError: nothing was sent
        worker.busy(pending.size > 0);
        throw e;
      }
    });

  return {
    init: () => send('init'),
    prepare: (byteLength) => send('prepare', byteLength),
    info: (bytes, options) => send('info', bytes, options),
    check: (bytes, options) => send('check', bytes, options),
    equalize: (bytes, options) => send('equalize', bytes, options),
    graph: (bytes, options) => send('graph', bytes, options),
    verify: (original, equalized, options) => send('verify', original, options, equalized),
    tune: (bytes, options) => send('tune', bytes, options),
    cancel: () => cancel(),
    terminate: () => {
      closed = true;
      cancel();
    },
  };
}
