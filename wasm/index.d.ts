// Types for `onnx-cle` (wasm/index.js in browsers, wasm/index.node.js in
// Node).  tests/js/package.test.mjs checks that the names declared here are
// the names each entry point exports, and type-checks a consumer with tsc.

/** Where and how to get onnx-cle.wasm; every field is optional. */
export interface InitOptions {
  /** An already compiled module (edge runtimes, a module shared with workers). */
  wasmModule?: WebAssembly.Module;
  /** The bytes of onnx-cle.wasm (one-file pages, esbuild's `binary` loader). */
  wasmBinary?: Uint8Array | ArrayBuffer;
  /**
   * Where onnx-cle.wasm is: called with `'onnx-cle.wasm'`, returns its URL
   * (browsers) or a path or file: URL (Node).  The default is
   * `new URL('../dist/onnx-cle.wasm', import.meta.url)`.
   */
  locateFile?: (name: string) => string | URL;
}

/** Options every call takes. */
export interface CallOptions {
  /**
   * The files that tensors with `external_data` name, by their `location`
   * (e.g. `{ 'model.onnx.data': bytes }`).
   */
  externalData?: Record<string, Uint8Array> | Map<string, Uint8Array>;
  /**
   * Called during long work with the stage (`'read'`, `'balance'`,
   * `'write'`, `'done'`) and how far it is, 0 to 1.  Returning `false`
   * cancels the call (OnnxCleError `CLE_E_CANCELLED`); throwing cancels it
   * and the call rejects with what was thrown.
   */
  onProgress?: (stage: string, fraction: number) => boolean | void;
}

/** SARIF 2.1.0, as `onnx-cle check --sarif` prints it (one run, the findings as results). */
export interface SarifLog {
  $schema: string;
  version: '2.1.0';
  runs: {
    tool: { driver: { name: string; version: string; rules: { id: string; name: string }[] } };
    /** The models checked (one through the API), by path as given: relative, or a file:// URI. */
    artifacts: { location: { uri: string } }[];
    /** executionSuccessful is false when a path given to the CLI could not be checked. */
    invocations: { executionSuccessful: boolean; toolExecutionNotifications?: unknown[] }[];
    results: {
      ruleId: string;
      ruleIndex: number;
      level: 'error' | 'warning' | 'note';
      message: { text: string };
      locations: unknown[];
      properties: { op: string | null; fix: string };
    }[];
  }[];
}

/** Options of check(). */
export interface CheckOptions extends CallOptions {
  /** Return SARIF 2.1.0 (what `check --sarif` prints) instead of the report. */
  sarif?: boolean;
}

/** The options of `onnx-cle equalize`, as fields. */
export interface EqualizeOptions extends CallOptions {
  /** High-bias absorption, as the reference does it (default false): an approximation that holds only on some inputs (`--hbf`). */
  hbf?: boolean;
  /** What the scales are chosen for: the least estimated INT8 noise at the outputs (default), or equal ranges on both sides of every channel (`--objective=`). */
  objective?: 'noise' | 'balance';
  /** BatchNormalization after a layer: folded or kept, whichever the estimate prefers (default), always folded, or kept with its mean and bias rescaled (`--batch-norm=`). */
  batchNorm?: 'auto' | 'fold' | 'keep';
  /** Powers-of-two scales, so rescaling is exact (`--pow2-scales`). */
  pow2Scales?: boolean;
  /** Do what the reference (AIMET) does: its scope, one pass, ReLU6 as ReLU (`--reference`). */
  reference?: boolean;
  /** ReLU6 (Clip 0..6): kept exact with per-channel bounds (default), replaced by Relu, or a break (`--relu6=`). */
  relu6?: 'exact' | 'relu' | 'skip';
  /** Balancing rounds at most, 1 to 10000 (default 50; `--iterations=`). */
  iterations?: number;
  /** Stop when a round moves the estimate (balancing: a scale) by less than this, 0 to 10 (default 1e-4; `--tolerance=`). */
  tolerance?: number;
  /** Clamp scales to [1/maxScale, maxScale], at least 1 (default: 1e4 when balancing, else what the weights' float type allows; `--max-scale=`). */
  maxScale?: number;
  /**
   * How far each region's scales go toward those the objective chose, as the
   * exponent of each scale (`--strength=`): "1" all the way (default), "0"
   * none, "0.5" half (in log scale), up to "2"; "0.5,3:1" region 3 (as the
   * report's `output_region`/`input_region` number them) all the way, the
   * rest half.  tune() chooses it by the outcome.
   */
  strength?: string;
  /** Equalize a model that check finds invalid (onnx-invalid errors: a name defined twice, an undefined input, a cycle), which is refused otherwise (`--allow-invalid`). */
  allowInvalid?: boolean;
  /** Put every layer's per-channel ranges, before and after, in the report (`--ranges`). */
  ranges?: boolean;
  /** Weights kept in external data go into the model itself (`--inline-external`; the model must stay under 2 GiB). */
  inlineExternal?: boolean;
  /** The name of the new external data file the model will refer to (`--external-data-name=`; default 'model.onnx.data'). */
  externalDataName?: string;
}

/** equalize()'s own call option (not an option of the CLI's). */
export interface OutputOption {
  /**
   * The output in pieces, as it is written, instead of in one new array
   * (`model` is then null, and `externalData` absent): e.g. each piece
   * written to a file as it comes, so a large model is never held twice.
   * `piece` is a view into the library's memory, valid during this call
   * only: write it or copy it before returning.  Throwing fails the call
   * with what was thrown.  When the call fails (rejects), the pieces given
   * so far are not a model: discard what was written of them.
   */
  onOutput?: (piece: Uint8Array, part: OutputPart) => void;
}

/** Where a piece handed to `onOutput` belongs. */
export interface OutputPart {
  /** null for the model; else the new external data file's name (see `EqualizeResult.externalData`). */
  name: string | null;
  /** The piece's place in that file, in bytes; the pieces come in order, each file's from 0. */
  offset: number;
  /** That file's size in bytes. */
  total: number;
}

/** A graph input or output. */
export interface ValueInfo {
  name: string;
  /** ONNX element type, e.g. `'float32'`. */
  elem_type: string;
  /** Dimensions; a dynamic one is its name, or null when it has none. */
  shape: Array<number | string | null> | null;
}

/** What `onnx-cle info --json` prints. */
export interface InfoReport {
  ir_version: number;
  producer: { name: string; version: string };
  /** Domain → opset version; `""` is the default domain. */
  opset: Record<string, number>;
  file_bytes: number;
  /** Nodes of the main graph. */
  node_count: number;
  /** Op type → count, main graph. */
  op_counts: Record<string, number>;
  initializer_count: number;
  /** Elements × ONNX element size. */
  initializer_bytes: number;
  /** `Constant` nodes. */
  constant_count: number;
  constant_bytes: number;
  external_tensor_count: number;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** If/Loop/Scan bodies, recursively. */
  subgraph_count: number;
}

/** One construct that stops or limits CLE, in `CheckReport.findings`. */
export interface CheckFinding {
  /** The rule's name: `'onnx-invalid'`, `'quantized-model'`, `'reshape-fixed-batch'`, `'resize-align-corners'`, `'conv-transpose'`. */
  rule: string;
  /** error: the export is invalid, or CLE cannot run on the model; warning: a hazard that does not stop onnx-cle; info: not checked. */
  severity: 'error' | 'warning' | 'info';
  /** The node it is about, or null for the whole model. */
  node: string | null;
  op: string | null;
  message: string;
  /** How to fix it, in the terms of what wrote the model (PyTorch, tf2onnx, Paddle, or ONNX's). */
  fix: string;
}

/** One side (input or output) of a layer in the CLE map. */
export interface CleSide {
  /** The region of tensors scaled together, or null. */
  region: number | null;
  /** The layers scaled together with this one on this side. */
  partners: string[];
  /** Why this side cannot be rescaled, or null. */
  blocked: string | null;
}

/** One layer of the CLE map, in `CheckReport.cle.layers`. */
export interface CleLayer {
  node: string;
  op: string;
  group: number | null;
  partners: string[];
  /** Why CLE cannot reach the layer, or null. */
  reason: string | null;
  /** Whether onnx-cle reaches it where the reference (AIMET) would not. */
  beyond_reference: boolean;
  /** Absent when the layer cannot be reached at all. */
  input?: CleSide;
  output?: CleSide;
}

/** What `onnx-cle check --json` prints. */
export interface CheckReport {
  findings: CheckFinding[];
  /** The CLE map: which layers are equalized together, and why the others are not. */
  cle: { layers: CleLayer[]; regions: CleRegion[] };
  summary: {
    errors: number;
    warnings: number;
    infos: number;
    layers: number;
    paired: number;
    groups: number;
    beyond_reference: number;
    opset: number;
  };
  /** What `info()` says about the same model (so one call serves both). */
  model: InfoReport;
}

/** A set of tensors sharing one scale per channel, in `CheckReport.cle.regions`. */
export interface CleRegion {
  id: number;
  channels: number;
  /** Layers writing these channels, and layers reading them. */
  producers: string[];
  consumers: string[];
  /** The nodes the channels pass through between them. */
  through: { node: string; op: string }[];
  /** More than one producer or consumer: scaled jointly. */
  joint: boolean;
  /** Inside the reference tool's scope. */
  reference: boolean;
  /** Why it cannot be scaled, or null. */
  blocked: string | null;
}

/** One layer that equalization planned, in `EqualizeReport.layers`. */
export interface EqualizeLayer {
  node: string;
  op: string;
  group: number | null;
  changed: boolean;
  range_spread_before: number | null;
  range_spread_after: number | null;
  /** Per output channel abs-max before (BN folded) and after, with `ranges: true`. */
  ranges_before?: number[];
  ranges_after?: number[];
  sqnr_before_db: number | null;
  sqnr_after_db: number | null;
  /** The estimated noise (relative to the signal at the group's end, in dB: higher is better)
   * its INT8 weights add, per tensor and per channel, before and after (the default objective). */
  noise_db_before?: number | null;
  noise_db_after?: number | null;
  noise_pc_db_before?: number | null;
  noise_pc_db_after?: number | null;
  /** How far the scales of its output (input) channels moved: all the way the estimate asked,
   * part of it (a consumer's per-channel budget held them), held there (by that budget, or an
   * estimated gain of 5% or less, too small to trust), or null (not scaled). */
  output_scaling: 'full' | 'partial' | 'held' | null;
  input_scaling: 'full' | 'partial' | 'held' | null;
  /** The region its outputs (inputs) are scaled in, as `strength` numbers them; null for none. */
  output_region: number | null;
  input_region: number | null;
  /** Its output channels whose scale hit the limit (`--max-scale`): near-dead channels, left at the bound. */
  clamped_channels: number;
  /** Whether high-bias absorption changed this layer. */
  hbf: boolean;
  /** Why the layer was left alone or partly done, or null. */
  note: string | null;
}

/** What `onnx-cle equalize --json` prints. */
export interface EqualizeReport {
  layers: EqualizeLayer[];
  /**
   * Why the run changed nothing (the model is already quantized, has no
   * layer, no two layers can be scaled together, or no scaling helps), or
   * null when it changed the model.  When set, `model` is the input as it
   * came: there is nothing new to save.
   */
  nothing_to_equalize: string | null;
  totals: {
    /** The estimated output SQNR of the weights quantized per tensor, before and after, in dB
     * (the default objective; absent when balancing); with batch norm treated the other way
     * after the first round, where `batchNorm: 'auto'` compares the two. */
    estimated_sqnr_db_before?: number | null;
    estimated_sqnr_db_after?: number | null;
    estimated_sqnr_db_other_batch_norm?: number | null;
    layers: number;
    equalized: number;
    bn_folded: number;
    /** BatchNormalization nodes kept, their mean and bias rescaled. */
    bn_rescaled: number;
    clips_rewritten: number;
    clips_replaced: number;
    hbf_layers: number;
    rounds: number;
    /** Channels whose scale stopped at `maxScale` or its inverse (near-dead channels). */
    clamped_channels: number;
    /** The largest |log2(producer range / consumer range)| left after balancing,
     * over the channels not held at the clamp. */
    max_imbalance_log2: number | null;
    /** The rounds allowed: `iterations`, or the objective's own limit (noise 50, balance 1000). */
    max_rounds: number;
    /** What the rounds read, in passes over the layers' weights (every weight once: one pass;
     * a round reads most weights twice, for their layer's output and input ranges, and balancing's
     * later rounds only the entries that can still hold a maximum). */
    passes: number;
    median_spread_before: number | null;
    median_spread_after: number | null;
    mean_sqnr_before_db: number | null;
    mean_sqnr_after_db: number | null;
    [key: string]: number | null | undefined;
  };
}

/** What equalize() gives back. */
export interface EqualizeResult {
  /** The equalized model: a valid .onnx file. */
  model: Uint8Array;
  report: EqualizeReport;
  /**
   * When the model keeps weights in external data (and `inlineExternal` is
   * not set): its one new data file, under the name the model gives it
   * (`externalDataName`, default `'model.onnx.data'`).  Save it beside the model.
   */
  externalData?: Record<string, Uint8Array>;
}

/** What equalize() gives back when `onOutput` took the output. */
export interface StreamedEqualizeResult {
  model: null;
  report: EqualizeReport;
}

/** The status names of the C library, `err.code`. */
export type OnnxCleErrorCode =
  | 'CLE_E_NOT_ONNX'
  | 'CLE_E_TRUNCATED'
  | 'CLE_E_TOO_DEEP'
  | 'CLE_E_UNSUPPORTED'
  | 'CLE_E_INVALID'
  | 'CLE_E_LIMIT'
  | 'CLE_E_NOMEM'
  | 'CLE_E_IO'
  | 'CLE_E_USAGE'
  | 'CLE_E_CANCELLED'
  | 'CLE_E_INTERNAL';

/**
 * An error from onnx-cle: `code` names the failure class (stable, e.g.
 * `'CLE_E_TRUNCATED'`), `message` is the C library's sentence, e.g. "the
 * file is truncated: it ends at byte 5000 inside field 7 (graph) of
 * ModelProto that starts at byte 12".  Wrong argument types are TypeError.
 */
export declare class OnnxCleError extends Error {
  constructor(code: OnnxCleErrorCode | string, message: string, options?: { cause?: unknown });
  name: 'OnnxCleError';
  code: OnnxCleErrorCode | string;
}

/**
 * Loads onnx-cle.wasm; idempotent (the options of the first call count),
 * and the other functions call it themselves.  After a failure, the next
 * call tries again.
 */
export declare function init(options?: InitOptions): Promise<void>;

/**
 * What the model is: opsets, ops, weights, inputs, outputs.
 * @param bytes the .onnx file (any Uint8Array view, e.g. a Node Buffer)
 */
export declare function info(bytes: Uint8Array | ArrayBuffer, options?: CallOptions): Promise<InfoReport>;

/**
 * Which constructs stop cross-layer equalization, where, and how to fix
 * them; which layers it can reach.
 * @param bytes the .onnx file (any Uint8Array view, e.g. a Node Buffer)
 */
export declare function check(bytes: Uint8Array | ArrayBuffer, options: CheckOptions & { sarif: true }): Promise<SarifLog>;
export declare function check(bytes: Uint8Array | ArrayBuffer, options?: CheckOptions): Promise<CheckReport>;

/**
 * Rescales the model's layers, channel by channel, for the least
 * estimated INT8 noise at its outputs (or balanced ranges, or the
 * reference's one pass), keeping the function.  The input is not changed.
 * @param bytes the .onnx file (any Uint8Array view, e.g. a Node Buffer)
 */
export declare function equalize(bytes: Uint8Array | ArrayBuffer, options: EqualizeOptions & Required<OutputOption>): Promise<StreamedEqualizeResult>;
export declare function equalize(bytes: Uint8Array | ArrayBuffer, options?: EqualizeOptions & OutputOption): Promise<EqualizeResult>;

/**
 * Readies the instance for an equalize() of a model of `byteLength` bytes, so
 * that the first one runs about as fast as a later one: the first time, a
 * small built-in model is equalized a few times (a new WebAssembly module runs
 * baseline code until its hot functions are optimized); then memory is grown so
 * that 1.5x `byteLength` lies beyond what the instance holds (memory an earlier
 * call used and gave back counts), every new page written once (the operating
 * system zero-fills a page when it is first touched).  A smaller size than
 * before does nothing, a bigger one tops up.  It costs
 * about that touching (0.5 s for 100 MB on a small VM) and keeps the memory:
 * call it while the user is idle, e.g. after check() of the model.  A grow the
 * engine refuses is not an error.  Resolves with the bytes readied beyond what
 * the instance holds.
 */
export declare function prepare(byteLength: number): Promise<{ bytes: number }>;

/** Options of verify(). */
export interface VerifyOptions {
  /**
   * The onnxruntime-web module (`import * as ort from 'onnxruntime-web'`);
   * by default verify() imports it (an optional peer dependency: install it
   * to use verify).
   */
  ort?: unknown;
  /**
   * Sizes for the inputs' dynamic dimensions, by the dimension's name, or
   * `'input:axis'` for an unnamed one.  The rest: 1 for a batch (axis 0, or
   * a name like batch, N, B), 64 otherwise.
   */
  sizes?: Record<string, number>;
  /** The first input's seed (default 1); input i is made from seed + i. */
  seed?: number;
  /** How many inputs (default 2). */
  samples?: number;
  /**
   * Inputs of your own (an image, say), by input name, run in addition to
   * the seeded ones and reported apart, in the result's `given`.  `dims`
   * must match the model's fixed dimensions; its dynamic ones are free.
   * Inputs not named here are seeded, sized to match.  Values are converted
   * to the input's type (a float16 input takes a Float32Array too).  Through
   * the worker they are copied, not moved.
   */
  inputs?: Record<string, VerifyInput>;
  /** The original model's external data files, by `location`. */
  externalData?: Record<string, Uint8Array>;
  /** The equalized model's external data files, by `location`. */
  equalizedExternalData?: Record<string, Uint8Array>;
  /**
   * Called before each step (`'runtime'`, `'original'`, `'equalized'`,
   * `'before-tensor'`, `'after-tensor'`, `'before-channel'`,
   * `'after-channel'`) with how far it is, 0 to 1; returning `false`
   * cancels (OnnxCleError `CLE_E_CANCELLED`).
   */
  onProgress?: (stage: string, fraction: number) => boolean | void;
}

/** A tensor of verify()'s `inputs` option. */
export interface VerifyInput {
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | ArrayLike<number>;
  dims: number[];
}

/** What verify() found on given inputs alone (see VerifyResult). */
export interface VerifyGivenResult {
  /** The inputs as run: the given ones' dims, the others seeded. */
  inputs: { name: string; type: string; shape: number[] }[];
  /** Which inputs were given (the rest were seeded). */
  names: string[];
  maxRelErr: number;
  maxAbsErr: number;
  sqnrDb: { perTensor: { before: number; after: number }; perChannel: { before: number; after: number } };
}

/** What verify() found; SQNR in dB (Infinity: identical outputs). */
export interface VerifyResult {
  /** The inputs as run: each dynamic dimension filled. */
  inputs: { name: string; type: string; shape: number[] }[];
  /** The sizes chosen for the dynamic dimensions, by key. */
  sizes: Record<string, number>;
  /** The dynamic dimensions: key (name, or 'input:axis'), input, axis, name (null if unnamed). */
  open: { key: string; input: string; axis: number; name: string | null }[];
  outputs: string[];
  samples: number;
  seed: number;
  /** Largest |equalized − original| over the largest |original|, over every output of every seeded input. */
  maxRelErr: number;
  maxAbsErr: number;
  /**
   * Output SQNR against the original's FP32 outputs of the model with its
   * layer weights fake-quantized to symmetric INT8 (scale max|W|/127, per
   * tensor or per output channel, as bench/fake_quant.py): the original
   * (`before`) and the equalized model (`after`).
   */
  sqnrDb: { perTensor: { before: number; after: number }; perChannel: { before: number; after: number } };
  /** How many layers (Conv, ConvTranspose, Gemm, MatMul with a constant float weight) were quantized. */
  layers: number;
  /** Layers left in float, and why. */
  notes: string[];
  ms: number;
  /** With options.inputs: the same numbers on those inputs alone (the ones above are the seeded inputs'). */
  given?: VerifyGivenResult;
}

/**
 * Evidence for an equalized model, with onnxruntime-web: both models run on
 * the same seeded inputs; the largest relative output difference (the
 * function is kept) and the INT8 weight-quantized output SQNR before and
 * after.  Neither input is changed.
 */
export declare function verify(original: Uint8Array | ArrayBuffer, equalized: Uint8Array | ArrayBuffer, options?: VerifyOptions): Promise<VerifyResult>;

/** A box of graph(): an input, an op node or an output, centred at (x, y). */
export interface GraphNode {
  kind: 'input' | 'op' | 'output';
  /** The node's name (`#index` when it has none, as in the CLE map), or the input's or output's. */
  name: string;
  op: string;
  domain?: string;
  /** Index in the graph's node list (-1 for inputs and outputs). */
  index: number;
  inputs: string[];
  outputs: string[];
  attrs: { name: string; value: string }[];
  subgraphs?: number;
  x: number;
  y: number;
  w: number;
  h: number;
  rank: number;
}

/** The main graph laid out top to bottom, for drawing; see graph(). */
export interface ModelGraph {
  nodes: GraphNode[];
  /** From node index to node index through a tensor; points: x0, y0, x1, y1, ... */
  edges: { from: number; to: number; tensor: string; points: number[] | null }[];
  /** What the file says of each tensor: kind, element type and shape (a dim: number, name, or null). */
  tensors: Record<string, { kind: 'input' | 'output' | 'value' | 'weight'; type: string | null; shape: (number | string | null)[] | null }>;
  /** Each layer weight's per-output-channel minimum and maximum. */
  weights: Record<string, { min: Float32Array; max: Float32Array }>;
  width: number;
  height: number;
  opset: Record<string, number>;
  /** Constant nodes, drawn as weights inside their readers. */
  constants: number;
  dummies: number;
  ms: { read: number; ranges: number; layout: number };
}

/**
 * The model's main graph as boxes and edges laid out in layers (subgraphs
 * are counted on their node), with known shapes, attributes and the layer
 * weights' per-channel ranges: what the web page draws.
 */
export declare function graph(bytes: Uint8Array | ArrayBuffer, options?: { externalData?: Record<string, Uint8Array> }): Promise<ModelGraph>;

/** A model's outputs on the caller's inputs: one { output name: values } per run. */
export type TuneOutputs = Array<Record<string, ArrayLike<number>>>;

/** Options of tune(). */
export interface TuneOptions {
  /** The onnxruntime-web module; by default imported, as verify() does. */
  ort?: unknown;
  /**
   * Sample inputs, each mapping every input of the model to { data, dims }:
   * the inputs the choice is made on (use some that the claims are not made on
   * too, and more than a few: one sample is one draw).
   */
  inputs?: Array<Record<string, { data: ArrayLike<number>; dims: number[] }>>;
  /**
   * In place of `inputs`, for a model that does not run sample by sample (a
   * recurrent state carried from chunk to chunk): runs the model whose bytes
   * it is given over the caller's inputs, returns its outputs (every output
   * of the model it is given: bias correction measures through extra ones).
   */
  run?: (model: Uint8Array, externalData?: Record<string, Uint8Array>) => Promise<TuneOutputs>;
  /**
   * What the INT8 model will use: 'tensor' (default) maximizes the output SQNR
   * with per-tensor weight scales and keeps per-channel within `channelSlack`
   * dB of the model as shipped; 'channel' maximizes the per-channel one.
   */
  target?: 'tensor' | 'channel';
  /** dB of per-channel SQNR a 'tensor' choice may give up against the model as shipped (default 1.5). */
  channelSlack?: number;
  /** Roundings per score, each step widened by a random 0..1% (default 4, 1 to 64). */
  roundings?: number;
  /** Candidates scored at most, the default's equalization among them (default 30, 1 to 1000). */
  budget?: number;
  /**
   * Then correct the chosen model's biases for the target's INT8 grid
   * (symmetric, max|W|/127 per tensor or per output channel): each layer's
   * mean rounding error times its input's channel means, measured on the
   * inputs, taken off its bias (Conv, ConvTranspose and Gemm of the main
   * graph).  Kept where the target's score rises.  The result is a model for
   * that grid alone: its FP32 outputs and its other grid's score get worse
   * (see `bias`), and the per-channel floor does not hold it.  Default false.
   */
  biasCorrection?: boolean;
  /** Options for every equalize it makes (relu6, pow2Scales, maxScale, iterations, tolerance, ...); it chooses objective, strength and batchNorm. */
  equalize?: Omit<EqualizeOptions, 'objective' | 'strength' | 'batchNorm' | 'hbf' | 'reference' | 'onProgress' | 'onOutput' | 'externalData'>;
  /** The model's external data files. */
  externalData?: Record<string, Uint8Array>;
  /** Stage ('runtime', 'shipped', 'default', 'search', 'bias', 'done') and fraction of the budget; return false to cancel. */
  onProgress?: (stage: string, fraction: number) => boolean | void;
}

/** Output SQNR (dB) of a model's weight-quantized INT8 versions against the original's FP32 outputs. */
export interface TuneScores {
  tensor: number;
  channel: number;
}

/** What tune() chose. */
export interface TuneResult {
  /** The chosen model: the original bytes when nothing beat it. */
  model: Uint8Array;
  externalData?: Record<string, Uint8Array>;
  /** equalize's report of the chosen model, or null (the original). */
  report: EqualizeReport | null;
  /** equalize options that make the same model from the original, or null (the original). */
  choice: { objective: 'noise' | 'balance'; iterations?: 1; strength: string; batchNorm: 'fold' | 'keep' } | null;
  scores: { shipped: TuneScores; default: TuneScores; chosen: TuneScores };
  /**
   * With biasCorrection: the layers corrected (and notes on those left), the
   * corrected model's scores (null when no layer could be) and its FP32
   * output SQNR against the original (dB), and whether it was kept (then the
   * model is the chosen equalization's, `choice`, with these biases).  null
   * without biasCorrection.
   */
  bias: { target: 'tensor' | 'channel'; layers: number; notes: string[]; scores: TuneScores | null; fp32: number | null; kept: boolean } | null;
  /**
   * Every candidate scored; the score the target does not decide by is null
   * where the other could not win (it is not measured then).
   */
  tried: Array<{ objective: string; iterations?: number; strength: string; batchNorm: string; tensor: number | null; channel: number | null }>;
  ms: number;
}

/**
 * Equalization chosen by the outcome: the model as shipped, the default and
 * equalizations of other strengths (per region, toward the default's scales,
 * balanced ranges or one balancing pass) are run in onnxruntime-web on the
 * caller's inputs with INT8 fake-quantized weights; the one whose outputs
 * come closest to the original's FP32 ones wins (the original among them, so
 * the result never scores below it on those inputs).
 */
export declare function tune(model: Uint8Array, options: TuneOptions): Promise<TuneResult>;
