// Types for `onnx-cle/worker` (wasm/worker.js in browsers, wasm/worker.node.js
// in Node); tests/js/package.test.mjs checks them against the exports.
import type {
  InitOptions,
  CallOptions,
  CheckOptions,
  EqualizeOptions,
  OutputOption,
  InfoReport,
  CheckReport,
  SarifLog,
  EqualizeResult,
  TuneOptions,
  TuneResult,
  StreamedEqualizeResult,
  VerifyOptions,
  VerifyResult,
  ModelGraph,
} from './index.js';

export { OnnxCleError } from './index.js';
export type {
  OnnxCleErrorCode,
  InfoReport,
  CheckReport,
  CheckFinding,
  SarifLog,
  EqualizeReport,
  EqualizeResult,
  StreamedEqualizeResult,
  OutputOption,
  OutputPart,
  VerifyOptions,
  VerifyResult,
  ModelGraph,
} from './index.js';

/** createWorker() options: init()'s, and where the worker script is. */
export interface WorkerOptions extends InitOptions {
  /**
   * The worker script's URL, for bundlers that do not bundle
   * `new Worker(new URL(..., import.meta.url))` themselves: build
   * `onnx-cle/worker-script` as its own entry point and pass its URL.
   */
  url?: string | URL;
  /**
   * How the script at `url` was built: `'module'` (the default) or
   * `'classic'` for a script bundled as an IIFE.  Chromium starts no module
   * worker from a blob: URL on a file:// page; a classic one it does.
   */
  type?: 'module' | 'classic';
  /**
   * For verify(): the URL of an onnxruntime-web ESM build (e.g. its
   * `dist/ort.wasm.min.mjs`, served from the page's origin with the
   * `ort-wasm-simd-threaded.mjs` and `.wasm` beside it), imported in the
   * worker on the first verify.  Without it, the worker imports
   * `onnxruntime-web` by name (Node, or a bundled worker).
   */
  ortUrl?: string | URL;
}

/**
 * Per-call option of the worker: the model's buffer (and external data's)
 * is transferred to the worker, so it is detached (`byteLength` 0) after
 * the call; `transfer: false` sends a copy instead.  A view onto part of a
 * larger buffer is always copied.  A detached buffer is refused with an
 * OnnxCleError (`CLE_E_USAGE`); one buffer given twice moves once.
 */
export interface TransferOption {
  transfer?: boolean;
}

/** The API in a worker; each call is answered in the order sent. */
export interface OnnxCleWorker {
  /** Starts the worker and loads onnx-cle.wasm in it; the calls do so themselves. */
  init(): Promise<void>;
  /** As prepare() of `onnx-cle`, in the worker. */
  prepare(byteLength: number): Promise<{ bytes: number }>;
  /** As info() of `onnx-cle`, in the worker. */
  info(bytes: Uint8Array | ArrayBuffer, options?: CallOptions & TransferOption): Promise<InfoReport>;
  /** As check() of `onnx-cle`, in the worker. */
  check(bytes: Uint8Array | ArrayBuffer, options: CheckOptions & TransferOption & { sarif: true }): Promise<SarifLog>;
  check(bytes: Uint8Array | ArrayBuffer, options?: CheckOptions & TransferOption): Promise<CheckReport>;
  /** As equalize() of `onnx-cle`, in the worker; the model comes back transferred (with `onOutput`, each piece: a copy the callback may keep). */
  equalize(bytes: Uint8Array | ArrayBuffer, options: EqualizeOptions & TransferOption & Required<OutputOption>): Promise<StreamedEqualizeResult>;
  equalize(bytes: Uint8Array | ArrayBuffer, options?: EqualizeOptions & TransferOption & OutputOption): Promise<EqualizeResult>;
  /** As graph() of `onnx-cle`, in the worker. */
  graph(bytes: Uint8Array | ArrayBuffer, options?: { externalData?: Record<string, Uint8Array> } & TransferOption): Promise<ModelGraph>;
  /**
   * As verify() of `onnx-cle`, in the worker (onnxruntime-web from
   * `ortUrl`); both models (and their external data) are transferred
   * unless `transfer: false`.
   */
  verify(original: Uint8Array | ArrayBuffer, equalized: Uint8Array | ArrayBuffer, options?: Omit<VerifyOptions, 'ort'> & TransferOption): Promise<VerifyResult>;
  /**
   * As tune() of `onnx-cle`, in the worker (onnxruntime-web from `ortUrl`),
   * with `inputs` (a `run` function cannot cross to the worker); the model
   * is transferred unless `transfer: false`, the chosen one comes back
   * transferred.
   */
  tune(bytes: Uint8Array | ArrayBuffer, options: Omit<TuneOptions, 'ort' | 'run'> & TransferOption): Promise<TuneResult>;
  /**
   * Stops the work in progress by ending the worker: every pending call
   * rejects with an error named 'AbortError'.  The next call starts a new
   * worker.  (An onProgress that returns false does the same.)
   */
  cancel(): void;
  /** Ends the worker for good; pending calls reject with 'AbortError', later ones fail. */
  terminate(): void;
}

/**
 * Runs onnx-cle in a Web Worker (a worker thread in Node), started on the
 * first call, so the main thread never blocks.
 */
export declare function createWorker(options?: WorkerOptions): OnnxCleWorker;
