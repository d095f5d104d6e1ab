// Beyond the reference: each feature on a model that needs it, the function
// kept (onnxruntime-web), and, balancing as the reference does
// (--objective=balance), ranges and INT8 weight SQNR better than the
// reference's scope on the same model, side by side; the default objective
// keeps the function on each too, and never raises its own estimate.  The reference scope is
// `--reference --relu6=skip`: AIMET's algorithm (Conv/ConvTranspose chains
// through Relu/PRelu, one pass, no fan-out) without its ReLU6 -> ReLU
// replacement, which changes the function; `--reference` alone does that too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, fixture, cleManifest, realModels } from './helpers.mjs';
import { run, randomFeeds, compare } from './ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-beyond-'));
const manifest = cleManifest();
let n = 0;

function equalize(name, ...flags) {
  const out = path.join(dir, `${n++}-${name}`);
  const r = native('equalize', fixture(name), '-o', out, '--json', '--objective=balance', ...flags);
  assert.equal(r.status, 0, `${name}: ${r.stderr}`);
  const { totals, layers } = JSON.parse(r.stdout);
  return { out, totals, layers };
}

async function maxError(name, out, feeds) {
  return compare(await run(readFileSync(fixture(name)), feeds), await run(readFileSync(out), feeds));
}

const features = [
  // [feature, a model that needs it]
  ['exact ReLU6 (Clip -> Relu + per-channel Min)', 'mobilenetv2_like_bn.onnx'],
  ['ReLU6 as Clip attributes (opset 10)', 'mobilenetv2_like_opset10_bn.onnx'],
  ['Gemm and MatMul with constant weights', 'mlp_bn.onnx'],
  ['pass-through MaxPool, GlobalAveragePool, Flatten into a Gemm head', 'vgg_like_bn.onnx'],
  ['a 2x2 map flattened into a Gemm (4 features per channel, the Gemm as a window)', 'vgg_flatten_bn.onnx'],
  ['residual regions scaled jointly', 'resnet_like_bn.onnx'],
  ['weights in Constant nodes', 'vgg_like_constants.onnx'],
];

test('each feature keeps the function and beats the reference scope on spread and SQNR', async () => {
  for (const [feature, name] of features) {
    const ours = equalize(name);
    const ref = equalize(name, '--reference', '--relu6=skip');
    const feeds = randomFeeds(manifest[name], 7);
    for (const [who, out] of [['ours', ours.out], ['reference', ref.out]]) {
      const c = await maxError(name, out, feeds);
      assert.ok(c.relErr <= 1e-4, `${feature}: ${who} moved the output by ${c.relErr}`);
    }
    const exact = equalize(name, '--pow2-scales');
    const foldOnly = equalize(name, '--max-scale=1');
    const c = compare(await run(readFileSync(foldOnly.out), feeds), await run(readFileSync(exact.out), feeds));
    assert.equal(c.maxAbsErr, 0, `${feature}: power-of-two scaling is not exact`);
    assert.ok(ours.totals.median_spread_after < ref.totals.median_spread_after,
      `${feature}: spread ${ours.totals.median_spread_after} vs reference ${ref.totals.median_spread_after}`);
    assert.ok(ours.totals.mean_sqnr_after_db > ref.totals.mean_sqnr_after_db,
      `${feature}: SQNR ${ours.totals.mean_sqnr_after_db} vs reference ${ref.totals.mean_sqnr_after_db}`);
  }
});

test('MobileNetV2-like: at least 10x lower median spread; the reference scope about 1x', () => {
  const ours = equalize('mobilenetv2_like_bn.onnx').totals;
  const ref = equalize('mobilenetv2_like_bn.onnx', '--reference', '--relu6=skip').totals;
  assert.ok(ours.median_spread_before / ours.median_spread_after >= 10, `${ours.median_spread_after}`);
  assert.ok(ref.median_spread_before / ref.median_spread_after < 1.5, `${ref.median_spread_after}`);
  assert.equal(ours.clips_rewritten, 12);
});

test('ResNet-like with bottleneck blocks (ResNet-50 shape): at least 10x lower median spread, above the reference', () => {
  const ours = equalize('resnet_bottleneck_like_bn.onnx').totals;
  const ref = equalize('resnet_bottleneck_like_bn.onnx', '--reference', '--relu6=skip').totals;
  const drop = ours.median_spread_before / ours.median_spread_after;
  const refDrop = ref.median_spread_before / ref.median_spread_after;
  assert.ok(drop >= 10, `median spread drop ${drop}`);
  assert.ok(drop > refDrop, `ours ${drop}, reference ${refDrop}`);
  assert.ok(ours.mean_sqnr_after_db > ref.mean_sqnr_after_db);
});

test('ResNet-like with basic blocks (ResNet-18 shape): joint residual regions do better than the reference scope', () => {
  // Every residual producer (the stem, each block's second conv, the 1x1
  // shortcut) writes into a stream that shares one scale per channel, and
  // their BN statistics are independent, so no per-channel scaling can
  // flatten them all: for two writers with independent ranges r1, r2 the
  // best shared scale leaves each with the spread of sqrt(r1/r2) times
  // itself.  Here they are 5 of 9 layers, so the median is a writer's, and
  // the drop is ~4x; with bottleneck blocks (above) the pairs inside the
  // blocks are the majority and the median drops past 10x.
  const ours = equalize('resnet_like_bn.onnx').totals;
  const ref = equalize('resnet_like_bn.onnx', '--reference', '--relu6=skip').totals;
  const drop = ours.median_spread_before / ours.median_spread_after;
  const refDrop = ref.median_spread_before / ref.median_spread_after;
  assert.ok(drop >= 4, `median spread drop ${drop}`);
  assert.ok(drop >= 2 * refDrop, `ours ${drop}, reference ${refDrop}`);
});

test('iterating beats one pass: ranges end balanced', () => {
  const once = equalize('vgg_like_folded.onnx', '--iterations=1').totals;
  const many = equalize('vgg_like_folded.onnx').totals;
  assert.equal(once.rounds, 1);
  assert.ok(many.rounds > 1 && many.max_imbalance_log2 < 1e-3);
  assert.ok(many.max_imbalance_log2 < once.max_imbalance_log2 / 100);
  assert.ok(many.median_spread_after < once.median_spread_after);
});

// A chain of bottleneck blocks converges like diffusion under region-by-region
// rounds: 50 leave it 0.013 log2 apart; balancing's own limit (1000) lets it
// run to the tolerance, and the report says what the rounds read.
test('balancing runs until its scales settle, not for a fixed 50 rounds, and says what it read', () => {
  const capped = equalize('resnet_bottleneck_like_folded.onnx', '--iterations=50').totals;
  const free = equalize('resnet_bottleneck_like_folded.onnx').totals;
  assert.equal(capped.rounds, 50);
  assert.equal(capped.max_rounds, 50);
  assert.ok(capped.max_imbalance_log2 > 1e-3, `${capped.max_imbalance_log2}`);
  assert.equal(free.max_rounds, 1000);
  assert.ok(free.rounds > 50 && free.rounds < 1000, `${free.rounds} rounds`);
  assert.ok(free.max_imbalance_log2 < 1e-3, `${free.max_imbalance_log2}`);
  // the first 50 rounds read the same in both runs; the rounds after them add reads
  assert.ok(free.passes > capped.passes && capped.passes > 0, `${capped.passes} -> ${free.passes}`);
  // the noise objective keeps its 50
  const r = native('equalize', fixture('resnet_bottleneck_like_folded.onnx'), '-o', path.join(dir, 'noise.onnx'), '--json');
  assert.equal(JSON.parse(r.stdout).totals.max_rounds, 50);
});

// On a trained model whose layers are big enough for candidate lists
// (cle_balance.c), the rounds after the first few read only the entries that
// can still hold a maximum: many rounds for less than two passes over the
// weights (without the lists every round reads each layer twice, once for
// its output ranges, once for its input ranges).
test('balancing\'s later rounds read a fraction of the weights (PP-OCR cls)', () => {
  const r = native('equalize', realModels['ppocr-cls'], '-o', path.join(dir, `cls-${n++}.onnx`), '--json',
    '--objective=balance');
  assert.equal(r.status, 0, r.stderr);
  const t = JSON.parse(r.stdout).totals;
  assert.ok(t.rounds >= 20, `${t.rounds} rounds`);
  assert.ok(t.passes > 0 && t.passes < 2, `${t.rounds} rounds, ${t.passes} passes`);
});

// Silero legacy's 36 small layers (16-64 channels) in If branches take
// balancing 130 plain rounds: a chain of regions converges like diffusion,
// and a round reads about one entry per maximum however good the lists are.
// Over-relaxed once the rounds converge slowly (cle_balance.c OVER_FROM),
// it is balanced within issue 16's 8 passes over the weights.
test('balancing converges in fewer rounds once over-relaxed: Silero legacy within 8 passes', () => {
  const r = native('equalize', realModels['silero-legacy'], '-o', path.join(dir, `legacy-${n++}.onnx`), '--json',
    '--objective=balance', '--batch-norm=fold', '--hbf');
  assert.equal(r.status, 0, r.stderr);
  const t = JSON.parse(r.stdout).totals;
  assert.ok(t.max_imbalance_log2 < 1e-3, `${t.max_imbalance_log2}`);
  assert.ok(t.rounds > 20 && t.rounds < 100, `${t.rounds} rounds`);
  assert.ok(t.passes < 8, `${t.rounds} rounds, ${t.passes} passes`);
});

test('scales are clamped, and the report counts the clamped channels, in all and per layer', () => {
  const free = equalize('vgg_like_folded.onnx');
  const tight = equalize('vgg_like_folded.onnx', '--max-scale=4');
  assert.equal(free.totals.clamped_channels, 0);
  assert.ok(free.layers.every((l) => l.clamped_channels === 0));
  assert.ok(tight.totals.clamped_channels > 0);
  assert.ok(tight.totals.median_spread_after > free.totals.median_spread_after);
  // a chain: each channel is one layer's output, so the layers' counts add up to the total
  const per = tight.layers.map((l) => l.clamped_channels);
  assert.equal(per.reduce((a, b) => a + b, 0), tight.totals.clamped_channels);
  assert.ok(per.filter((c) => c > 0).length >= 1);
  const text = native('equalize', fixture('vgg_like_folded.onnx'), '-o', path.join(dir, 'clamped.onnx'),
    '--objective=balance', '--max-scale=4');
  const said = [...String(text.stdout).matchAll(/ (\d+) output channels? at the scale limit/g)].map((m) => Number(m[1]));
  assert.deepEqual(said, per.filter((c) => c > 0));
});

test('weights inside If subgraphs, their own or the main graph\'s', async () => {
  const { out, totals } = equalize('if_conv.onnx');
  assert.equal(totals.equalized, 4);
  assert.ok(totals.median_spread_before / totals.median_spread_after > 10);
  for (const sign of [1, -1]) { // both branches
    const x = Object.assign(new Float32Array(192).map((_, i) => sign * (1 + Math.sin(i))), { dims: [1, 3, 8, 8] });
    const c = await maxError('if_conv.onnx', out, { x });
    assert.ok(c.relErr <= 1e-4, `branch ${sign}: ${c.relErr}`);
  }
});

test('the default objective (least estimated noise): the function kept on each feature, its estimate never worse', async () => {
  for (const [feature, name] of features) {
    const out = path.join(dir, `${n++}-${name}`);
    const r = native('equalize', fixture(name), '-o', out, '--json');
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    const t = JSON.parse(r.stdout).totals;
    assert.ok(t.estimated_sqnr_db_after >= t.estimated_sqnr_db_before,
      `${feature}: estimate ${t.estimated_sqnr_db_before} -> ${t.estimated_sqnr_db_after}`);
    const c = await maxError(name, out, randomFeeds(manifest[name], 7));
    assert.ok(c.relErr <= 1e-4, `${feature}: moved the output by ${c.relErr}`);
  }
});
