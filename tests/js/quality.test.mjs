// The quality targets of issue 14, on the small models: the equalized model
// (default options) must quantize at least as well as the model as shipped
// and as a one-pass AIMET-style equalization with ReLU6 kept exact, and keep
// the function. Output SQNR in dB against the shipped model's FP32 outputs,
// measured by bench/quant_lib.mjs exactly as `npm run bench:quant` measures it
// (same inputs, same fake quantization: bench/fake_quant.py), asserted as dB
// differences; no wall time. Every model × target is its own test, so a
// failure names the row and prints its numbers.
//
// The INT8 targets are held to the mean over DITHER roundings (each step
// widened by a random 0..1%), not to one: one rounding is a draw, and the
// draws of one model differ by several dB (bench/QUALITY.md: silero-legacy's
// aimet-exact scores 37.7 dB with the plain rounding, 29.5 over 8; PP-OCR
// cls's default 23.7 and 29.6).  A target a model does not meet yet is in
// KNOWN_MISSES with what stands in its way: it runs and prints, it does not
// count, and it says so when it starts to pass.
//
// The trained models are also tuned (tune(), wasm/tune.js: the equalization
// chosen by the measured outcome on calibration inputs that the scores are
// not taken on: other text, other voices) and the tuned model is held to
// every target, with no known misses.
//
// PP-OCR rec, which no equalization reaches (HardSwish after nearly every
// layer), is tuned with biasCorrection for per-tensor weights: the model it
// gives is for that grid alone, and is held to what it is for.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { evaluate, fmtDb, modelInfo, modelNames, root, sqnrDb, tunedVariant } from '../../bench/quant_lib.mjs';

// the fixtures (random weights) and the small trained models (a few seconds each)
const MODELS = [...modelNames().filter((m) => !modelInfo(m).trained), 'ppocr-cls', 'silero-v5', 'silero-v6', 'silero-legacy'];
const VARIANTS = [{ name: 'shipped' }, { name: 'aimet-exact', args: ['--reference', '--relu6=exact'] }, { name: 'default', args: [] }];
const MODES = ['fp32', 'w8_tensor_dither', 'w8_channel_dither'];
const DITHER = 8;

// model → target → why it is not met yet (issue 14's note has the numbers)
const KNOWN_MISSES = {
  'silero-v5': { channel: 'per channel the activations decide, and a data-free estimate does not know Silero\'s (its encoder\'s input energies correlate with nothing in the weights)' },
  'silero-v6': { channel: 'as silero-v5' },
  vgg_flatten_bn: { channel: 'the per-channel budget holds the estimate, which misses the Gemm head\'s rows by about 2 dB on these random weights' },
  vgg_flatten_folded: { channel: 'as vgg_flatten_bn' },
};

const work = mkdtempSync(path.join(tmpdir(), 'onnx-cle-quality-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('the fixtures are built', () => {
  assert.ok(MODELS.length > 10, `only ${MODELS.length} models; run scripts/build.sh (build/native/models)`);
});

test('SQNR: identical outputs are ∞, NaN is −∞, and 10 log10 of the power ratio otherwise', () => {
  assert.equal(sqnrDb(4, 0), Infinity);
  assert.equal(sqnrDb(4, NaN), -Infinity);
  assert.equal(sqnrDb(4, Infinity), -Infinity);
  assert.ok(Math.abs(sqnrDb(100, 1) - 20) < 1e-12);
});

test('fake quantization puts every weight on its INT8 grid (Gemm, ConvTranspose, float16; per tensor and per channel)', () => {
  const jobs = [];
  for (const model of ['mlp_bn', 'decoder_bn', 'vgg_like_f16']) {
    const src = modelInfo(model).path;
    const t = path.join(work, `${model}.verify.w8t.onnx`);
    const c = path.join(work, `${model}.verify.w8c.onnx`);
    jobs.push({ job: 'weights', model: src, per_tensor: t, per_channel: c });
    jobs.push({ job: 'verify', model: src, quantized: t, per_channel: false });
    jobs.push({ job: 'verify', model: src, quantized: c, per_channel: true });
    // a per-tensor file read as per channel is off its grid: the check can fail
    jobs.push({ job: 'verify', model: src, quantized: t, per_channel: true });
  }
  const file = path.join(work, 'verify.jobs.json');
  writeFileSync(file, JSON.stringify(jobs));
  const r = spawnSync('/usr/bin/python3', [path.join(root, 'bench/fake_quant.py'), file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  for (let i = 0; i < out.length; i += 4) {
    const [w, t, c, wrong] = out.slice(i, i + 4);
    const what = jobs[i].model;
    assert.ok(w.per_tensor.layers > 0 && w.per_tensor.notes.length === 0, `${what}: ${JSON.stringify(w)}`);
    for (const v of [t, c]) {
      assert.equal(v.layers, w.per_tensor.layers, what);
      assert.ok(v.max_level <= 127 + 1e-6, `${what}: level ${v.max_level}`);
      assert.ok(v.max_off_grid <= 1e-6, `${what}: ${v.max_off_grid} off the grid`);
      assert.ok(v.max_error_steps <= 0.56, `${what}: error ${v.max_error_steps} steps`);
      assert.equal(v.extreme_not_127, 0, what);
    }
    assert.ok(wrong.extreme_not_127 > 0, `${what}: the check does not see a per-tensor grid`);
  }
});

for (const model of MODELS) {
  // the trained models also tuned: tune() chooses on other inputs (calib:FAMILY), the targets hold on these
  const trained = modelInfo(model).trained;
  describe(model, () => {
    let r;
    before(async () => {
      const variants = trained ? [...VARIANTS, tunedVariant()] : VARIANTS;
      r = await evaluate({ model, variants, modes: MODES, dither: DITHER, workDir: path.join(work, model) });
    });
    const db = (variant, mode) => {
      const v = r.variants[variant];
      assert.ok(v && !v.error, `${model} ${variant}: ${v?.error}`);
      return v[mode].db;
    };
    const row = (variant, mode) => `${variant} ${mode} ${fmtDb(db(variant, mode))} dB`;

    // a target met, or a known miss that still misses
    const hold = (target, ok, message) => {
      const miss = KNOWN_MISSES[model]?.[target];
      if (!miss) return assert.ok(ok, message);
      if (ok) assert.fail(`${model} meets the ${target} target now (${message}): take it out of KNOWN_MISSES`);
      console.log(`# known miss, ${model} ${target}: ${message}; ${miss}`);
    };

    for (const v of trained ? ['default', 'tuned'] : ['default']) {
      // a known miss is the default's: the tuned model is held to every target
      const held = v === 'default' ? hold : (target, ok, message) => assert.ok(ok, message);
      test(`W8 per tensor: ${v} ≥ shipped − 0.2 dB`, () => {
        const d = db(v, 'w8_tensor_dither') - db('shipped', 'w8_tensor_dither');
        held('shipped', d >= -0.2, `${row(v, 'w8_tensor_dither')}, ${row('shipped', 'w8_tensor_dither')}: ${d.toFixed(2)} dB`);
      });
      test(`W8 per tensor: ${v} ≥ aimet-exact − 0.5 dB`, () => {
        const d = db(v, 'w8_tensor_dither') - db('aimet-exact', 'w8_tensor_dither');
        held('aimet', d >= -0.5, `${row(v, 'w8_tensor_dither')}, ${row('aimet-exact', 'w8_tensor_dither')}: ${d.toFixed(2)} dB`);
      });
      test(`W8 per channel: ${v} ≥ shipped − 1.5 dB`, () => {
        const d = db(v, 'w8_channel_dither') - db('shipped', 'w8_channel_dither');
        held('channel', d >= -1.5, `${row(v, 'w8_channel_dither')}, ${row('shipped', 'w8_channel_dither')}: ${d.toFixed(2)} dB`);
      });
      test(`FP32: ${v} ≥ 70 dB (the function is kept)`, () => {
        assert.ok(db(v, 'fp32') >= 70, row(v, 'fp32'));
      });
    }
  });
}

describe('ppocr-rec, bias-corrected for per-tensor weights', () => {
  let r;
  before(async () => {
    // budget 1: the model as shipped against the default (which pairs 6 of rec's 51 layers); the correction does the rest
    const variants = [VARIANTS[0], VARIANTS[1], tunedVariant({ budget: 1, target: 'tensor', biasCorrection: true })];
    r = await evaluate({ model: 'ppocr-rec', variants, modes: ['w8_tensor_dither'], dither: DITHER, workDir: path.join(work, 'ppocr-rec') });
  });
  test('W8 per tensor: ≥ shipped + 5 dB and ≥ aimet-exact + 5 dB, on inputs the means were not measured on', () => {
    const v = r.variants['tuned-bias-tensor'];
    assert.ok(v && !v.error, v?.error);
    assert.ok(v.tune.bias.kept && v.tune.bias.layers > 30, JSON.stringify(v.tune.bias));
    const got = v.w8_tensor_dither.db;
    for (const base of ['shipped', 'aimet-exact']) {
      const d = got - r.variants[base].w8_tensor_dither.db;
      assert.ok(d >= 5, `tuned-bias-tensor ${fmtDb(got)} dB, ${base} ${fmtDb(r.variants[base].w8_tensor_dither.db)} dB: ${d.toFixed(2)} dB`);
    }
  });
});
