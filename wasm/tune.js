// tune.js — equalization chosen by the outcome on the user's own inputs.
// The data-free default picks its scales by an estimate of the INT8 noise;
// where the model's activations are not what its weights suggest, the
// estimate misses (bench/QUALITY.md).  tune() measures instead: it runs the
// model as shipped and equalizations of different strength (--strength,
// per region, toward the default's scales, balanced ranges or one balancing
// pass) in onnxruntime-web on the inputs it is given, fake-quantizes each
// one's weights to INT8 (quant.js, several roundings) and keeps the one
// whose quantized outputs come closest to the original's FP32 outputs; the
// model as shipped is one of the candidates, so the result never scores
// below it on those inputs.  With biasCorrection, the chosen model's biases
// are then corrected for the target's grid (bias.js), kept where that
// scores better: a model made for that grid alone.
import { OnnxCleError } from './core.js';
import { checkFields } from './api.js';
import { quantizeWeights, addSquares, sqnrDb } from './quant.js';
import { runtime, openSession, runAll, typed, checkInputs } from './verify.js';
import { probeModel, meansOf, correctBias } from './bias.js';

const TUNE_FIELDS = ['ort', 'inputs', 'run', 'target', 'channelSlack', 'roundings', 'budget', 'biasCorrection', 'equalize', 'externalData', 'onProgress'];
// equalize options tune leaves to the caller (the rest it chooses: objective, strength, batchNorm)
const PASSED = ['relu6', 'pow2Scales', 'maxScale', 'iterations', 'tolerance', 'ranges', 'inlineExternal', 'externalDataName', 'allowInvalid'];

// the ways toward which strengths are tried, for every region at once (then per region a step
// either way): the default's scales (least estimated noise), balanced ranges, and balanced
// ranges in one pass (the reference's way, which often keeps per channel where it was)
const WAYS = [
  { way: { objective: 'noise' }, strengths: [1, 0.5] },
  { way: { objective: 'balance' }, strengths: [0.25, 0.5, 0.75, 1] },
  { way: { objective: 'balance', iterations: 1 }, strengths: [0.5, 1] },
];
const STEP = 0.25;
const MOST = 1.5; // per-region strengths stay within [0, MOST]
const MIN_GAIN_DB = 0.1; // a candidate replaces the best only by more than this (one rounding's noise is larger)

function checkOptions(given) {
  const options = checkFields('tune', given, TUNE_FIELDS);
  const { target = 'tensor', channelSlack = 1.5, roundings = 4, budget = 30, biasCorrection = false, onProgress, run, inputs } = options;
  if (target !== 'tensor' && target !== 'channel') throw new TypeError("onnx-cle: option 'target' must be 'tensor' or 'channel'");
  if (!(typeof channelSlack === 'number' && channelSlack >= 0)) throw new TypeError("onnx-cle: option 'channelSlack' must be a number of at least 0");
  if (!Number.isInteger(roundings) || roundings < 1 || roundings > 64) throw new TypeError("onnx-cle: option 'roundings' must be a whole number from 1 to 64");
  if (!Number.isInteger(budget) || budget < 1 || budget > 1000) throw new TypeError("onnx-cle: option 'budget' must be a whole number from 1 to 1000");
  if (typeof biasCorrection !== 'boolean') throw new TypeError("onnx-cle: option 'biasCorrection' must be true or false");
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError("onnx-cle: option 'onProgress' must be a function");
  if (run !== undefined && typeof run !== 'function') throw new TypeError("onnx-cle: option 'run' must be a function");
  if (run === undefined) {
    if (!Array.isArray(inputs) || inputs.length === 0)
      throw new TypeError("onnx-cle: tune needs option 'inputs' (a list of samples, each mapping the model's input names to { data, dims }) or 'run'");
    inputs.forEach(checkInputs);
  } else if (inputs !== undefined) throw new TypeError("onnx-cle: give tune 'inputs' or 'run', not both");
  const eq = options.equalize ?? {};
  if (eq === null || typeof eq !== 'object') throw new TypeError("onnx-cle: option 'equalize' must be an object");
  for (const key of Object.keys(eq)) {
    if (!PASSED.includes(key))
      throw new TypeError(`onnx-cle: tune chooses '${key}' itself; its 'equalize' option takes ${PASSED.join(', ')}`);
  }
  return { target, channelSlack, roundings, budget, biasCorrection, onProgress, run, inputs, eq };
}

/** run(model, externalData) over the given samples: a session per model, every input named by every sample. */
function runnerFor(ort, samples) {
  return async (model, files) => {
    const session = await openSession(ort, model, files);
    const meta = session.inputMetadata ?? session.inputNames.map((name) => ({ name, type: 'float32' }));
    const k = samples.findIndex((sample) => meta.some(({ name }) => !sample[name]));
    if (k >= 0) {
      await session.release();
      const name = meta.find((m) => !samples[k][m.name]).name;
      throw new TypeError(`onnx-cle: tune's input sample ${k} does not give the model's input '${name}'`);
    }
    const feeds = samples.map((sample) => Object.fromEntries(meta.map(({ name, type = 'float32' }) =>
      [name, new ort.Tensor(type, typed(type, name, sample[name].data), sample[name].dims)])));
    const outs = [];
    await runAll(session, feeds, (i, o) => { outs[i] = o; });
    return outs;
  };
}

/** The regions an equalization moved, most promising first: those of the layers the estimate finds noisiest. */
function regionsOf(report) {
  const worst = new Map();
  for (const l of report.layers) {
    const noise = l.noise_db_before ?? l.sqnr_before_db ?? Infinity;
    for (const r of [l.output_region, l.input_region]) {
      if (r === null || r === undefined) continue;
      worst.set(r, Math.min(worst.get(r) ?? Infinity, noise));
    }
  }
  return [...worst.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([r]) => r);
}

/** --strength's list: every region at all, then the regions that differ. */
function strengthSpec(all, own) {
  return [String(all), ...[...own.entries()].filter(([, a]) => a !== all).map(([r, a]) => `${r}:${a}`)].join(',');
}

/**
 * tune(model, options) with equalize the package's equalize.  Returns {
 * model, externalData, report (null when the model as shipped won), choice
 * ({ objective, iterations (1 for one pass), strength, batchNorm }: the
 * equalize options that make the same model, or null), scores ({ shipped,
 * default, chosen }, each { tensor, channel }: output SQNR in dB of the
 * weight-quantized models over the inputs), tried (every candidate, scored;
 * the score the target does not need is null where that one could not win),
 * ms }.  See index.d.ts.
 */
export function makeTune(equalize) {
  return async function tune(bytes, options) {
    const o = checkOptions(options ?? {});
    if (!(bytes instanceof Uint8Array)) throw new TypeError('onnx-cle: the model must be a Uint8Array');
    const t0 = Date.now();
    let done = 0;
    const progress = (stage) => {
      if (o.onProgress && o.onProgress(stage, Math.min(done / (o.budget + 2 + o.biasCorrection), 1)) === false)
        throw new OnnxCleError('CLE_E_CANCELLED', 'tune was cancelled');
    };
    progress('runtime');
    const run = o.run ?? runnerFor(await runtime(options.ort), o.inputs);
    const ref = await run(bytes, options.externalData);
    if (!Array.isArray(ref) || ref.length === 0) throw new TypeError('onnx-cle: tune\'s run must return a list of output maps');

    // outputs of a run against the original's FP32 ones, added into sums ([signal, noise] power)
    const against = (sums, outs) => ref.forEach((r, i) => { for (const name of Object.keys(r)) addSquares(sums, r[name], outs[i][name]); });
    // a model's weight-quantized outputs against the original's FP32 ones: { tensor, channel } in
    // dB; with only, that one alone (the other null)
    const score = async (model, files, only = null) => {
      const db = { tensor: null, channel: null };
      for (const perChannel of [false, true]) {
        if (only !== null && only !== (perChannel ? 'channel' : 'tensor')) continue;
        const sums = [0, 0];
        for (let k = 1; k <= o.roundings; k++) {
          const q = quantizeWeights(model, { perChannel, externalData: files, jitter: k });
          against(sums, await run(q.model, files ? q.externalData : undefined));
        }
        db[perChannel ? 'channel' : 'tensor'] = sqnrDb(sums[0], sums[1]);
      }
      return db;
    };

    progress('shipped');
    const shipped = await score(bytes, options.externalData);
    done++;
    const floor = shipped.channel - o.channelSlack;
    const ok = (s) => o.target === 'channel' || (s.channel !== null && s.channel >= floor);
    const value = (s) => (o.target === 'channel' ? s.channel : s.tensor);
    // a beats b (the best so far, always within the floor: the model as shipped is): within the
    // per-channel floor, and better by the target's score
    const beats = (a, b) => ok(a) && value(a) > value(b) + MIN_GAIN_DB;

    progress('default');
    const first = await equalize(bytes, { ...o.eq, externalData: options.externalData });
    // later runs keep the batch-norm choice the default made, so that regions keep their numbers
    // (the default is the first candidate: the same model as this one)
    // (a BatchNormalization that cannot be folded is kept in either mode: folding any says fold)
    const { bn_folded: folded, bn_rescaled: kept } = first.report.totals;
    const batchNorm = folded === 0 && kept > 0 ? 'keep' : 'fold';
    const regions = regionsOf(first.report);
    const tried = [];
    let best = { choice: null, scores: shipped, made: { model: bytes, externalData: options.externalData, report: null }, all: 1, own: new Map() };
    const attempt = async (way, all, own) => {
      const strength = strengthSpec(all, own);
      const choice = { ...way, strength, batchNorm };
      const key = JSON.stringify(choice);
      const seen = tried.find((t) => t.key === key);
      if (seen) return seen;
      const made = tried.length === 0 ? first : await equalize(bytes, { ...o.eq, ...choice, externalData: options.externalData });
      // the target's score first; the other (per channel, for the floor) only where that could win,
      // and always for the default, which the result reports
      let scores = await score(made.model, made.externalData, tried.length === 0 ? null : o.target);
      if (o.target === 'tensor' && scores.channel === null && scores.tensor > best.scores.tensor + MIN_GAIN_DB)
        scores = { ...scores, channel: (await score(made.model, made.externalData, 'channel')).channel };
      done++;
      tried.push({ key, choice, ...scores });
      progress('search');
      if (beats(scores, best.scores)) best = { choice, scores, made, way, all, own: new Map(own) };
      return scores;
    };

    for (const { way, strengths } of WAYS) {
      for (const a of strengths) if (tried.length < o.budget) await attempt(way, a, new Map());
    }
    const defaultScores = tried[0];
    // sweeps over the regions from the best point: each region's strength
    // stepped one way while that wins, else the other; again while a sweep
    // wins.  A region whose step changes no score does not reach the outputs
    // on these inputs (a branch they never take): it keeps the common strength.
    if (best.choice) {
      const idle = new Set();
      const same = (a, b) => Math.abs(value(a) - value(b)) < 1e-9;
      for (let moved = true; moved && tried.length < o.budget;) {
        moved = false;
        for (const r of regions) {
          if (idle.has(r)) continue;
          for (const d of [-STEP, STEP]) {
            let won = false;
            for (let a = (best.own.get(r) ?? best.all) + d; a >= 0 && a <= MOST && tried.length < o.budget; a += d) {
              const before = best;
              const s = await attempt(best.way, best.all, new Map([...best.own, [r, a]]));
              if (same(s, before.scores)) idle.add(r);
              if (best === before) break;
              won = moved = true;
            }
            if (won || idle.has(r)) break;
          }
        }
      }
    }
    // the chosen model's other score, where the search did not need it
    for (const k of ['tensor', 'channel']) {
      if (best.scores[k] === null) best.scores = { ...best.scores, [k]: (await score(best.made.model, best.made.externalData, k))[k] };
    }
    let bias = null;
    if (o.biasCorrection) {
      // the chosen model's input means measured on the inputs, its biases corrected for the
      // target's grid; kept where the target's score rises (the per-channel floor does not hold
      // a model made for per-tensor weights: that is what asking for it says)
      progress('bias');
      const { model, externalData } = best.made;
      const probe = probeModel(model);
      const means = meansOf(await run(probe.model, externalData), probe.probes);
      const c = correctBias(model, means, { perChannel: o.target === 'channel', externalData });
      let scores = null;
      let fp32 = null;
      if (c.layers) {
        scores = await score(c.model, externalData);
        const sums = [0, 0];
        against(sums, await run(c.model, externalData));
        fp32 = sqnrDb(sums[0], sums[1]);
      }
      done++;
      const kept = scores !== null && value(scores) > value(best.scores) + MIN_GAIN_DB;
      bias = { target: o.target, layers: c.layers, notes: c.notes, scores, fp32, kept };
      if (kept) best = { ...best, scores, made: { ...best.made, model: c.model } };
    }
    progress('done');
    return {
      model: best.made.model, externalData: best.made.externalData, report: best.made.report, choice: best.choice, bias,
      scores: { shipped, default: { tensor: defaultScores.tensor, channel: defaultScores.channel }, chosen: best.scores },
      tried: tried.map(({ choice, tensor, channel }) => ({ ...choice, tensor, channel })), ms: Date.now() - t0,
    };
  };
}
