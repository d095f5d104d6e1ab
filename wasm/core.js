// core.js — the runtime around onnx-cle.wasm, shared by the Node and
// browser entry points: instantiation with our own small loader (the module
// is built STANDALONE_WASM, so there is no Emscripten JS glue), memory
// views that survive growth, C strings, and the host functions the module
// imports.  Pointers from wasm are read as unsigned (`>>> 0`) so models
// above 2 GB do not turn them negative.  Every call frees what it put in
// wasm memory before it returns, and keeps no view of it across a call into
// C (memory may grow there).

/** An error from onnx-cle: `code` is the C library's status name
 * (e.g. "CLE_E_TRUNCATED"), `message` its sentence. */
export class OnnxCleError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'OnnxCleError';
    this.code = code;
  }
}

/**
 * An OnnxCleError saying that `what` (e.g. "the model") is in a detached
 * ArrayBuffer, or null when buffer is not detached.  Detached: transferred
 * away (to a worker, say) or resized to nothing by its owner; its views
 * read as empty.
 */
export function detachedError(buffer, what) {
  let detached = false;
  if (buffer instanceof ArrayBuffer) {
    detached = buffer.detached; // Node 22, current browsers
    if (detached === undefined) {
      try {
        detached = buffer.byteLength === 0 && (new Uint8Array(buffer), false);
      } catch {
        detached = true; // a view onto a detached buffer cannot be made
      }
    }
  }
  return detached
    ? new OnnxCleError('CLE_E_USAGE', `${what} is in a detached ArrayBuffer (an earlier call or postMessage ` +
      'transferred it away): pass a copy, or give the worker { transfer: false }')
    : null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// wasm32 addresses 4 GiB, and C's size_t cannot say more; the module's
// own allocator (cle_input_alloc) refuses, with the same sentence, what
// does not fit beside its working memory
const MAX_INPUT = 0xffff0000;

const gigabytes = (n) => `${(n / 1e9).toFixed(2)} GB`;

const describe = (v) =>
  v === null ? 'null' : typeof v !== 'object' ? typeof v : v.constructor ? v.constructor.name : 'an object';

// externalData is a plain object or a Map: file name → Uint8Array
const externalFile = (files, name) => {
  if (!files) return undefined;
  if (files instanceof Map) return files.get(name);
  return Object.prototype.hasOwnProperty.call(files, name) ? files[name] : undefined;
};

/**
 * Instantiates a compiled onnx-cle module.  `host` implements the file
 * functions the CLI needs (bin/onnx-cle.js supplies them for Node); the
 * library calls never use them.
 */
export async function instantiate(module, host = {}) {
  let memory;
  let output = null;
  let data = null; // the external data file an equalize writes
  let listing = null; // the folder host_dir_size listed, for host_dir_read
  let call = null; // the request in progress: { document, externalData, onProgress }
  let heap = new Uint8Array(0);
  const u8 = () => {
    if (heap.buffer !== memory.buffer) heap = new Uint8Array(memory.buffer);
    return heap;
  };
  const cstring = (ptr) => {
    const h = u8();
    let end = ptr >>> 0;
    while (h[end] !== 0) end++;
    return decoder.decode(h.subarray(ptr >>> 0, end));
  };
  // Where a file the library writes goes (name: null for the model, else
  // the external data file's name): a new Uint8Array of total bytes, or,
  // when the call gave onOutput, onOutput(view, { name, offset, total }) for
  // each piece, the view into wasm memory valid during that call only.
  // null when the buffer cannot be had (C says "out of memory").
  const receiver = (total, name) => {
    const onOutput = call && call.onOutput;
    if (onOutput) return { at: 0, put: (view, at) => onOutput(view, { name, offset: at, total }) };
    try {
      const bytes = new Uint8Array(total);
      return { at: 0, name, bytes, put: (view, at) => bytes.set(view, at) };
    } catch {
      return null;
    }
  };
  // one piece of p, n; an onOutput that throws fails the call with its error
  const receive = (r, p, n) => {
    try {
      r.put(u8().subarray(p >>> 0, (p >>> 0) + (n >>> 0)), r.at);
    } catch (e) {
      if (call && !call.error) call.error = e;
      return -1;
    }
    r.at += n >>> 0;
    return 0;
  };
  // Writes msg (cut to cap - 1 bytes, NUL-terminated) into a C buffer.
  const putError = (ptr, cap, msg) => {
    const bytes = encoder.encode(String(msg)).subarray(0, Math.max(0, (cap >>> 0) - 1));
    const h = u8();
    h.set(bytes, ptr >>> 0);
    h[(ptr >>> 0) + bytes.length] = 0;
  };
  const guard = (err, cap, fail, fn) => {
    try {
      return fn();
    } catch (e) {
      putError(err, cap, e && e.message ? e.message : e);
      return fail;
    }
  };
  const need = (name) => {
    if (typeof host[name] !== 'function') throw new Error(`onnx-cle: this host cannot ${name}`);
    return host[name];
  };
  const env = {
    host_print: (fd, p, n) => need('print')(fd, u8().slice(p >>> 0, (p >>> 0) + (n >>> 0))),
    host_color: (fd) => (host.color && host.color(fd) ? 1 : 0),
    host_tty: (fd) => (host.tty && host.tty(fd) ? 1 : 0),
    // within (0: none) is the folder the file must stay in once links are resolved; a file
    // refused (outside it, or not a regular one) is an error with refused: true (-2), any
    // other failure -1
    host_file_size: (path, within, err, cap) => {
      try {
        return need('fileSize')(cstring(path), within ? cstring(within) : null);
      } catch (e) {
        putError(err, cap, e && e.message ? e.message : e);
        return e && e.refused ? -2 : -1;
      }
    },
    host_file_read: (path, within, dst, n, err, cap) => {
      try {
        need('fileRead')(cstring(path), within ? cstring(within) : null,
          () => u8().subarray(dst >>> 0, (dst >>> 0) + (n >>> 0)));
        return 0;
      } catch (e) {
        putError(err, cap, e && e.message ? e.message : e);
        return e && e.refused ? -2 : -1;
      }
    },
    // a folder's entries, each a kind ('d', 'f', '-'), the name and a NUL (check takes
    // folders): its size (-2: not a folder), then its bytes; the listing is kept between them
    host_dir_size: (path, err, cap) =>
      guard(err, cap, -1, () => {
        const entries = host.listDir ? host.listDir(cstring(path)) : null; // no folders: all files
        if (entries === null) return -2;
        listing = { path: cstring(path), bytes: encoder.encode(entries.map(([k, name]) => `${k}${name}\0`).join('')) };
        return listing.bytes.length;
      }),
    host_dir_read: (path, dst, n, err, cap) =>
      guard(err, cap, -1, () => {
        const l = listing;
        listing = null;
        if (!l || l.path !== cstring(path) || l.bytes.length !== n >>> 0)
          throw new Error(`cannot read the folder ${cstring(path)}: it changed while being read`);
        u8().set(l.bytes, dst >>> 0);
        return 0;
      }),
    host_out_check: (path, err, cap) =>
      guard(err, cap, -1, () => {
        need('outCheck')(cstring(path));
        return 0;
      }),
    host_out_open: (path, err, cap) => guard(err, cap, -1, () => need('outOpen')(cstring(path))),
    host_out_write: (file, p, n, err, cap) =>
      guard(err, cap, -1, () => {
        need('outWrite')(file, u8().subarray(p >>> 0, (p >>> 0) + (n >>> 0)));
        return 0;
      }),
    host_out_close: (file, commit, err, cap) =>
      guard(err, cap, -1, () => {
        need('outClose')(file, commit !== 0);
        return 0;
      }),
    // the output of a library call, received in pieces: into one new
    // buffer, or, when the call gave onOutput, handed to it piece by piece
    host_sink_begin: (total) => ((output = receiver(total, null)) ? 0 : -1),
    host_sink_write: (p, n) => receive(output, p, n),
    // name: what the model calls the file (the C library decides it)
    host_data_begin: (total, name) => ((data = receiver(total, cstring(name))) ? 0 : -1),
    host_data_write: (p, n) => receive(data, p, n),
    host_document: (p, n) => {
      call.document = decoder.decode(u8().subarray(p >>> 0, (p >>> 0) + (n >>> 0)));
    },
    // Returning 1 cancels the work in C at its next progress point.  A
    // callback that throws cancels too, and request() rethrows its error
    // once C has freed its memory (unwinding through wasm would leak it).
    host_progress: (stage, fraction) => {
      if (!call || !call.onProgress) return 0;
      if (call.error) return 1;
      try {
        return call.onProgress(cstring(stage), fraction) === false ? 1 : 0;
      } catch (e) {
        call.error = e;
        return 1;
      }
    },
    host_ext_size: (name) => {
      const bytes = call && externalFile(call.externalData, cstring(name));
      return bytes instanceof Uint8Array ? bytes.length : -1;
    },
    host_ext_read: (name, dst, n) => {
      const bytes = call && externalFile(call.externalData, cstring(name));
      if (!(bytes instanceof Uint8Array) || bytes.length !== n >>> 0) return -1;
      u8().set(bytes, dst >>> 0);
      return 0;
    },
    emscripten_notify_memory_growth: () => {},
  };
  const instance = await WebAssembly.instantiate(module, { env });

  // Every call into C goes through enter().  A trap, or an exception thrown
  // by an import while C runs, unwinds C without freeing its blocks or
  // restoring its stack pointer: the instance is poisoned (after ~900 of
  // them every call fails).  It says so once, as an OnnxCleError, and then
  // refuses to run C again; the API moves on to a fresh instance (renew()).
  let trap = null; // what broke this instance
  const enter = (fn, args) => {
    if (trap !== null)
      throw new OnnxCleError('CLE_E_INTERNAL', `this WebAssembly instance trapped earlier (${trap}) and is not used again`);
    try {
      return fn(...args);
    } catch (e) {
      trap = e instanceof WebAssembly.RuntimeError ? String(e.message)
        : `${(e && e.name) || 'an exception'} thrown while C was running: ${e && e.message !== undefined ? e.message : e}`;
      throw new OnnxCleError('CLE_E_INTERNAL', `the WebAssembly module trapped: ${trap}`, { cause: e });
    }
  };
  // frees after a trap would run C on what the trap left: skipped (the instance goes as a whole)
  const tidy = (fn) => {
    if (trap === null) fn();
  };
  const x = {};
  for (const [name, v] of Object.entries(instance.exports))
    x[name] = typeof v === 'function' ? (...args) => enter(v, args) : v;
  memory = x.memory;
  x._initialize();

  // Copies strings into wasm memory as a char *argv[]; returns [argv, free].
  const argvOf = (args) => {
    const blocks = [];
    const alloc = (n) => {
      const p = x.malloc(n) >>> 0;
      if (p === 0) throw new OnnxCleError('CLE_E_NOMEM', 'out of memory');
      blocks.push(p);
      return p;
    };
    const release = () => tidy(() => blocks.splice(0).forEach((p) => x.free(p)));
    try {
      const argv = alloc(4 * (args.length + 1));
      args.forEach((a, i) => {
        const bytes = encoder.encode(a);
        const p = alloc(bytes.length + 1);
        const h = u8();
        h.set(bytes, p);
        h[p + bytes.length] = 0;
        new DataView(memory.buffer).setUint32(argv + 4 * i, p, true);
      });
      new DataView(memory.buffer).setUint32(argv + 4 * args.length, 0, true);
      return [argv, release];
    } catch (e) {
      release();
      throw e;
    }
  };

  // Copies bytes (any Uint8Array view, from its byteOffset) into wasm
  // memory, runs fn(ptr, n, err) and turns a failed status into an
  // OnnxCleError with the C library's sentence.
  const withModel = (bytes, fn) => {
    const detached = detachedError(bytes instanceof Uint8Array ? bytes.buffer : bytes, 'the model');
    if (detached) throw detached;
    if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
    if (!(bytes instanceof Uint8Array))
      throw new TypeError(`onnx-cle: the model must be a Uint8Array, not ${describe(bytes)}`);
    if (bytes.length > MAX_INPUT)
      throw new OnnxCleError('CLE_E_LIMIT',
        `the model (${gigabytes(bytes.length)}, ${bytes.length} bytes) is more than WebAssembly ` +
        'memory can hold (4 GiB at most)');
    const err = x.malloc(x.cle_error_size()) >>> 0;
    if (err === 0) throw new OnnxCleError('CLE_E_NOMEM', 'out of memory');
    const failure = () => new OnnxCleError(cstring(x.cle_error_code(err)), cstring(x.cle_error_message(err)));
    let p = 0;
    try {
      p = x.cle_input_alloc(bytes.length, err) >>> 0;
      if (p === 0) throw failure(); // refused before anything is copied when it does not fit
      u8().set(bytes, p);
      if (fn(p, bytes.length, err) !== 0) {
        if (call && call.error) throw call.error;
        throw failure();
      }
    } finally {
      tidy(() => {
        x.free(err);
        if (p !== 0) x.cle_input_free(p, bytes.length);
      });
    }
  };

  return {
    /** The module's exports, each function guarded by enter(). */
    exports: x,
    /** Whether a trap poisoned this instance: it runs no more C. */
    get trapped() {
      return trap !== null;
    },
    /** A fresh instance of the same compiled module, with the same host. */
    renew: () => instantiate(module, host),
    /**
     * One library call: cmd is 'info', 'check' or 'equalize', args the
     * CLI's options (e.g. ['--no-hbf']).  Returns { document: string (JSON),
     * output: Uint8Array | null (the equalized model), data: Uint8Array |
     * null (its new external data file), dataName: string | null (the name
     * the model gives that file) }; throws OnnxCleError.
     * opts: { name, externalData: { file: Uint8Array } or a Map,
     * onProgress(stage, fraction) (return false to cancel),
     * onOutput(view, { name, offset, total }) (the output in pieces instead:
     * output and data are then null) }.
     */
    request(cmd, args, bytes, opts = {}) {
      if (call) throw new Error('onnx-cle: one request at a time per instance');
      call = { document: null, externalData: opts.externalData, onProgress: opts.onProgress, onOutput: opts.onOutput,
        error: null };
      output = null;
      data = null;
      let release = () => {};
      try {
        let argv;
        [argv, release] = argvOf([cmd, opts.name || 'model.onnx', ...args]);
        const view = new DataView(memory.buffer);
        const cmdPtr = view.getUint32(argv, true);
        const namePtr = view.getUint32(argv + 4, true);
        withModel(bytes, (p, n, err) => x.cle_request(cmdPtr, args.length, argv + 8, p, n, namePtr, err));
        if (call.error) throw call.error; // thrown by a progress callback that C did not stop for
        return {
          document: call.document,
          output: output?.bytes ?? null,
          data: data?.bytes ?? null,
          dataName: data?.name ?? null,
        };
      } finally {
        release();
        call = null;
        output = null;
        data = null;
      }
    },
    /** The options as the C library describes them (its one table of options). */
    options() {
      if (call) throw new Error('onnx-cle: one request at a time per instance');
      call = { document: null };
      try {
        if (x.cle_options_describe() !== 0) throw new OnnxCleError('CLE_E_NOMEM', 'out of memory');
        return JSON.parse(call.document);
      } finally {
        call = null;
      }
    },
    /** Loads the model and writes it back with no changes (byte-identical). */
    copy(bytes) {
      output = null;
      try {
        withModel(bytes, x.cle_copy_model);
        return output.bytes;
      } finally {
        output = null;
      }
    },
    memory,
    u8,
    /** Runs the command line (args without the program name); returns the exit status. */
    cli(args) {
      const all = ['onnx-cle', ...args];
      const [argv, release] = argvOf(all);
      try {
        return x.cle_cli(all.length, argv);
      } finally {
        release();
      }
    },
  };
}
