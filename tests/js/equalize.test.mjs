// `onnx-cle equalize`: the function is kept (onnxruntime-web runs the model
// before and after), bit for bit with power-of-two scales; balancing
// (--objective=balance) leaves ranges balanced and spread less (checked
// from the weights by python3-onnx); the default never raises its estimate
// of the INT8 noise; real models survive, bad input gets a sentence and
// never a partial file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, wasm, fixture, realModels, run as runCmd, root, cleManifest } from './helpers.mjs';
import { run, randomFeeds, compare, textPage } from './ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-eq-'));
const manifest = cleManifest();
const models = Object.keys(manifest);

/** Equalizes a model with the native CLI; returns { out (path), report }. */
function equalize(file, ...flags) {
  const out = path.join(dir, `${path.basename(file, '.onnx')}.${flags.join('').replace(/[^a-z0-9]/gi, '')}.onnx`);
  const r = native('equalize', file, '-o', out, '--json', ...flags);
  assert.equal(r.status, 0, `${file}: ${r.stderr}`);
  return { out, report: JSON.parse(r.stdout) };
}

async function outputsDiffer(a, b, entry, seeds = [1, 2]) {
  let worst = { relErr: 0, maxAbsErr: 0 };
  for (const seed of seeds) {
    const feeds = randomFeeds(entry, seed);
    const c = compare(await run(readFileSync(a), feeds), await run(readFileSync(b), feeds));
    if (c.relErr > worst.relErr) worst = c;
  }
  return worst;
}

function weightStats(file) {
  const r = runCmd('/usr/bin/python3', [path.join(root, 'tests/fixtures/weight_stats.py'), file]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const spread = (r) => {
  const live = r.filter((x) => x > 0);
  return Math.max(...live) / Math.min(...live);
};
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

test('the function is kept: HBF off, every test model, max error <= 1e-4 of the output', async () => {
  assert.ok(models.length >= 12);
  const outs = [];
  for (const name of models) {
    const { out, report } = equalize(fixture(name), '--no-hbf');
    assert.ok(report.totals.equalized >= 2, `${name}: ${report.totals.equalized} layers equalized`);
    const c = await outputsDiffer(fixture(name), out, manifest[name]);
    assert.ok(c.relErr <= 1e-4, `${name}: relative error ${c.relErr}`);
    outs.push(out);
  }
  // and every output is a valid model for onnx.checker, shape inference included
  const r = runCmd('/usr/bin/python3', [path.join(root, 'tests/fixtures/check_model.py'), ...outs]);
  assert.equal(r.status, 0, r.stdout.toString());
});

test('power-of-two scales are exact: outputs identical, bit for bit', async () => {
  for (const name of models) {
    // BatchNormalization kept: nothing rounds, the model computes what it did
    const kept = equalize(fixture(name), '--pow2-scales', '--batch-norm=keep').out;
    assert.equal((await outputsDiffer(fixture(name), kept, manifest[name])).maxAbsErr, 0, `${name}: kept`);
    // folded: folding rounds by itself; the scaling on top of it must not
    const { out } = equalize(fixture(name), '--pow2-scales', '--batch-norm=fold');
    const base = name.includes('_bn') || name.includes('constants')
      ? equalize(fixture(name), '--batch-norm=fold', '--max-scale=1').out
      : fixture(name);
    const c = await outputsDiffer(base, out, manifest[name]);
    assert.equal(c.maxAbsErr, 0, `${name}: ${c.maxAbsErr}`);
  }
});

test('the default: the estimate of the INT8 noise never rises, batch norm folded or kept by it', () => {
  let kept = 0, folded = 0;
  for (const name of models) {
    const { report } = equalize(fixture(name));
    const t = report.totals;
    assert.ok(t.estimated_sqnr_db_after >= t.estimated_sqnr_db_before, `${name}: ${JSON.stringify(t)}`);
    for (const l of report.layers) {
      if (l.noise_db_before === undefined) continue;
      assert.ok(Number.isFinite(l.noise_db_before) && Number.isFinite(l.noise_db_after), `${name} ${l.node}`);
    }
    folded += t.bn_folded > 0;
  }
  // the fixtures' random weights quantize better folded; PP-OCR's trained
  // classifier better kept (folding costs it about 17 dB: bench/QUALITY.md)
  assert.ok(folded > 0, 'some model folds batch norm');
  const { report } = equalize(realModels['ppocr-cls']);
  assert.ok(report.totals.bn_rescaled > 0 && report.totals.bn_folded === 0, JSON.stringify(report.totals));
  assert.ok(report.totals.estimated_sqnr_db_other_batch_norm < report.totals.estimated_sqnr_db_after);
});

test('--batch-norm=auto goes on from its chosen trial to the file that mode given alone writes', () => {
  // the trials make one round each; the chosen one's rounds go on from
  // there (cle_run_resume), after the trial's estimate put back what it moved
  let checked = 0;
  for (const file of [...models.filter((n) => n.includes('_bn')).map(fixture), realModels['ppocr-cls']]) {
    const auto = equalize(file);
    const t = auto.report.totals;
    if (t.bn_folded === 0 && t.bn_rescaled === 0) continue;
    const alone = equalize(file, t.bn_folded > 0 ? '--batch-norm=fold' : '--batch-norm=keep');
    assert.ok(readFileSync(auto.out).equals(readFileSync(alone.out)), `${file}: bn_folded ${t.bn_folded}`);
    assert.equal(t.rounds, alone.report.totals.rounds, file);
    assert.equal(t.estimated_sqnr_db_after, alone.report.totals.estimated_sqnr_db_after, file);
    checked++;
  }
  assert.ok(checked >= 5, `${checked} models with batch norm`);
});

test('high-bias absorption (--hbf): applied where exact enough, error within the documented bound', async () => {
  let absorbed = 0;
  for (const name of models) {
    const { out, report } = equalize(fixture(name), '--hbf', '--objective=balance');
    absorbed += report.totals.hbf_layers;
    const c = await outputsDiffer(fixture(name), out, manifest[name]);
    // README: HBF assumes a BN output stays above beta - 3|gamma|; below it
    // the output moves, by at most 2% of its range on these models
    assert.ok(c.relErr <= 0.02, `${name}: relative error ${c.relErr} with HBF`);
  }
  assert.ok(absorbed >= 2, `HBF applied to ${absorbed} layers`);
  // padding makes it inexact: skipped there, and said so
  const { report } = equalize(fixture('vgg_like_bn.onnx'), '--hbf', '--objective=balance');
  assert.ok(report.layers.some((l) => /high-bias absorption skipped: a consumer pads with zeros/.test(l.note)));
});

test('balanced: each pair of a chain has equal per-channel ranges, read back from the weights', () => {
  for (const name of ['vgg_like_folded.onnx', 'decoder_folded.onnx', 'mlp_folded.onnx']) {
    const { out } = equalize(fixture(name), '--objective=balance');
    const stats = weightStats(out);
    const layers = manifest[name].layers.map((l) => stats[l.name]);
    for (let i = 0; i + 1 < layers.length; i++) {
      const a = layers[i].out;
      const b = layers[i + 1].in;
      assert.equal(a.length, b.length, `${name}: pair ${i}`);
      for (let c = 0; c < a.length; c++) {
        if (a[c] === 0 || b[c] === 0) continue;
        assert.ok(Math.abs(Math.log(a[c] / b[c])) < 1e-3,
          `${name}: pair ${i} channel ${c}: ${a[c]} vs ${b[c]}`);
      }
    }
  }
});

test('VGG-like: median per-layer range spread drops at least 10x (weights read back)', () => {
  const name = 'vgg_like_folded.onnx';
  const before = weightStats(fixture(name));
  const { out, report } = equalize(fixture(name), '--objective=balance');
  const after = weightStats(out);
  const mb = median(Object.values(before).map((l) => spread(l.out)));
  const ma = median(Object.values(after).map((l) => spread(l.out)));
  assert.ok(mb / ma >= 10, `median spread ${mb} -> ${ma}`);
  // the report says the same
  assert.ok(Math.abs(report.totals.median_spread_before / mb - 1) < 1e-3);
  assert.ok(Math.abs(report.totals.median_spread_after / ma - 1) < 1e-3);
});

test('INT8 SQNR: the report agrees with python3-onnx, and equalizing raises it', () => {
  for (const name of ['vgg_like_folded.onnx', 'mobilenetv2_like_folded.onnx', 'decoder_folded.onnx',
    'mlp_folded.onnx']) {
    const before = weightStats(fixture(name));
    const { out, report } = equalize(fixture(name), '--objective=balance');
    const after = weightStats(out);
    for (const l of report.layers) {
      assert.ok(Math.abs(l.sqnr_before_db - before[l.node].sqnr_db) < 0.01, `${name} ${l.node} before`);
      assert.ok(Math.abs(l.sqnr_after_db - after[l.node].sqnr_db) < 0.01, `${name} ${l.node} after`);
    }
    assert.ok(report.totals.mean_sqnr_after_db > report.totals.mean_sqnr_before_db + 1, name);
  }
});

test('the report: per layer spread and INT8 SQNR before and after, and totals', () => {
  const { report } = equalize(fixture('mobilenetv2_like_bn.onnx'), '--objective=balance');
  for (const l of report.layers) {
    for (const k of ['node', 'op', 'group', 'changed', 'range_spread_before', 'range_spread_after',
      'sqnr_before_db', 'sqnr_after_db', 'hbf', 'note']) assert.ok(k in l, k);
    assert.equal(typeof l.range_spread_before, 'number');
  }
  const t = report.totals;
  assert.equal(t.layers, report.layers.length);
  assert.equal(t.bn_folded, 17);
  assert.equal(t.clips_rewritten, 12); // ReLU6 kept exact
  assert.ok(t.median_spread_before / t.median_spread_after > 10);
  assert.ok(t.max_imbalance_log2 < 1e-3);
});

// Every network-shaped fixture (batch norm kept or folded, float16) and two
// trained models: the statistics' Gaussian moments, the noise search and the
// kernels give the same bits on both (cle_stats.c has its own exp and erfc:
// the C libraries' differed in their last bits).
test('native and wasm write the same model and report', () => {
  const nets = readdirSync(path.dirname(fixture('vgg_like_bn.onnx')))
    .filter((f) => /_(bn|folded|f16|constants)\.onnx$/.test(f))
    .map((f) => [f, fixture(f)]);
  assert.ok(nets.length >= 18, `${nets.length} fixtures`);
  for (const [name, file] of [...nets, ['ppocr-cls', realModels['ppocr-cls']], ['silero-v6', realModels['silero-v6']]]) {
    const a = path.join(dir, `n-${name}`);
    const b = path.join(dir, `w-${name}`);
    const ra = native('equalize', file, '-o', a, '--json');
    const rb = wasm('equalize', file, '-o', b, '--json');
    assert.equal(ra.status, 0);
    assert.equal(rb.status, 0);
    assert.deepEqual(rb.stdout, ra.stdout);
    assert.ok(readFileSync(a).equals(readFileSync(b)), name);
  }
});

// A white page with dark text lines, normalized as PaddleOCR does, so the
// detector answers with probabilities that are not all zero.
function vadFeeds(legacy) {
  const input = new Float32Array(512).map((_, i) => Math.sin(i / 7) * 0.3);
  input.dims = [1, 512];
  const sr = new BigInt64Array([16000n]);
  sr.dims = [];
  if (legacy) {
    const h = new Float32Array(128);
    h.dims = [2, 1, 64];
    const c = new Float32Array(128);
    c.dims = [2, 1, 64];
    return { input, h, c, sr };
  }
  const state = new Float32Array(256);
  state.dims = [2, 1, 128];
  return { input, state, sr };
}

test('real models: PP-OCRv4 detection and recognition, Silero VAD (weights inside If)', async () => {
  const cases = [
    ['ppocr-det', () => ({ x: textPage(64, 64) })],
    ['ppocr-rec', () => {
      const x = textPage(48, 160);
      return { x };
    }],
    ['silero-v5', () => vadFeeds(false)],
    ['silero-legacy', () => vadFeeds(true)],
  ];
  for (const [key, feeds] of cases) {
    for (const flags of [[], ['--objective=balance']]) {
      const { out, report } = equalize(realModels[key], ...flags);
      assert.ok(report.totals.equalized > 0, `${key}: nothing equalized`);
      if (key === 'ppocr-det' && flags.length) {
        // balancing: two near-dead channels stop at the clamp: counted
        // there, and not reported as the imbalance left (which they keep, 2^62)
        assert.ok(report.totals.clamped_channels > 0 && report.totals.max_imbalance_log2 < 1e-3,
          JSON.stringify(report.totals));
      }
      const f = feeds();
      const c = compare(await run(readFileSync(realModels[key]), f), await run(readFileSync(out), f));
      assert.ok(c.relErr <= 1e-4, `${key} ${flags}: relative error ${c.relErr}`);
    }
  }
});

test('bad weights: NaN/Inf and contradicting shapes leave the layer untouched and say why', async () => {
  const cases = {
    'nan_weights.onnx': /its weights contain NaN or Inf values; left as is/,
    'inf_weights.onnx': /its weights contain NaN or Inf values; left as is/,
    'bias_mismatch.onnx': /its bias is not a constant with one value per output channel/,
    'group_mismatch.onnx': /its group attribute does not divide the weight's channels/,
  };
  for (const [name, why] of Object.entries(cases)) {
    const { out, report } = equalize(fixture(name));
    assert.match(report.layers[0].note, why, name);
    assert.equal(report.totals.equalized, 0, name);
    assert.ok(readFileSync(out).equals(readFileSync(fixture(name))), `${name}: the model is unchanged`);
  }
  // a dead channel keeps scale 1 and the rest is equalized
  const { out } = equalize(fixture('dead_channel.onnx'), '--no-hbf');
  const feeds = { x: Object.assign(new Float32Array(3 * 64).fill(0.5), { dims: [1, 3, 8, 8] }) };
  const c = compare(await run(readFileSync(fixture('dead_channel.onnx')), feeds), await run(readFileSync(out), feeds));
  assert.ok(c.relErr <= 1e-4);
  assert.equal(weightStats(out).conv1.out[3], 0);
});

test('a failure leaves no output file behind, temporary or final', () => {
  const det = readFileSync(realModels['ppocr-det']);
  const cut = path.join(dir, 'cut.onnx');
  writeFileSync(cut, det.subarray(0, 100000));
  for (const cli of [native, wasm]) {
    const out = path.join(dir, `never-${cli === native ? 'n' : 'w'}.onnx`);
    const r = cli('equalize', cut, '-o', out);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^onnx-cle: \S*\/cut\.onnx: the file is truncated/);
    assert.equal(r.stdout.length, 0);
    assert.ok(!existsSync(out));
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('never')), []);
  }
  const r = native('equalize', fixture('conv_relu.onnx'), '-o', path.join(dir, 'no/such/dir.onnx'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /cannot write .*no\/such\/dir\.onnx: No such file or directory/);
  assert.match(native('equalize', fixture('conv_relu.onnx')).stderr, /equalize needs an output file: -o OUT\.onnx/);
});

test('external data: one new data file beside the output, or inlined; inputs untouched', async () => {
  const src = fixture('vgg_like_external.onnx');
  const weights = fixture('vgg_like_external.weights');
  const before = [readFileSync(src), readFileSync(weights)];
  const feeds = randomFeeds(manifest['vgg_like_folded.onnx'], 3);
  const reference = await run(readFileSync(fixture('vgg_like_folded.onnx')), feeds);
  // a separate file: OUT.data, named in the model, 64-byte aligned tensors
  const out = path.join(dir, 'ext.onnx');
  // the same weights inline: the same layers equalized
  const inline = native('equalize', fixture('vgg_like_folded.onnx'), '-o', path.join(dir, 'ext-inline.onnx'), '--no-hbf', '--json');
  const equalized = JSON.parse(inline.stdout).totals.equalized;
  assert.ok(equalized >= 4, `${equalized} layers equalized`);
  for (const cli of [native, wasm]) {
    const r = cli('equalize', src, '-o', out, '--no-hbf', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).totals.equalized, equalized);
    assert.ok(readFileSync(out).length < 10000, 'the weights are not in the model');
    const data = readFileSync(`${out}.data`);
    const c = compare(reference, await run(readFileSync(out), feeds, { externalData: { 'ext.onnx.data': data } }));
    assert.ok(c.relErr <= 1e-4, `relative error ${c.relErr}`);
  }
  const nativeData = readFileSync(`${out}.data`);
  // inlined: one model, the same weights
  const inl = path.join(dir, 'inl.onnx');
  assert.equal(native('equalize', src, '-o', inl, '--no-hbf', '--inline-external').status, 0);
  assert.ok(!existsSync(`${inl}.data`));
  const c = compare(reference, await run(readFileSync(inl), feeds));
  assert.ok(c.relErr <= 1e-4);
  const a = weightStats(inl);
  const r = runCmd('/usr/bin/python3', [path.join(root, 'tests/fixtures/weight_stats.py'), out]);
  assert.deepEqual(JSON.parse(r.stdout), a, 'the data file holds exactly the inlined weights');
  // the input model and its data file are as they were
  assert.ok(readFileSync(src).equals(before[0]) && readFileSync(weights).equals(before[1]));
  assert.ok(runCmd('/usr/bin/python3', [path.join(root, 'tests/fixtures/check_model.py'), out, inl]).status === 0);
  assert.ok(nativeData.length > 200000);
});

test('external data that is missing: a sentence, and no output at all', () => {
  const lonely = path.join(dir, 'lonely.onnx');
  writeFileSync(lonely, readFileSync(fixture('vgg_like_external.onnx')));
  const out = path.join(dir, 'lonely-out.onnx');
  for (const cli of [native, wasm]) {
    const r = cli('equalize', lonely, '-o', out);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /is stored in external data 'vgg_like_external\.weights', which is needed to write the model but was not supplied/);
    assert.ok(!existsSync(out) && !existsSync(`${out}.data`));
  }
});

test('float16 weights: computed in float, stored in half; powers of two by default, exact', async () => {
  for (const name of ['vgg_like_f16.onnx', 'mobilenetv2_like_f16.onnx']) {
    const entry = { inputs: [{ ...manifest[name.replace('_f16', '_folded')].inputs[0], dtype: 'float16' }] };
    // balancing too: powers of two that keep every float16 weight exact
    // (issue 15: none below 2^-24 times its lowest set bit), which bounds
    // each channel's scale by its rows' least bits (spread 3.5x smaller on
    // vgg_like_f16, 26x on mobilenetv2_like_f16), so nothing rounds
    const { out: bal, report } = equalize(fixture(name), '--objective=balance', '--max-scale=1e4');
    assert.ok(report.totals.median_spread_before / report.totals.median_spread_after > 3, name);
    const c = await outputsDiffer(fixture(name), bal, entry);
    assert.equal(c.maxAbsErr, 0, `${name}: relative error ${c.relErr}`);
    // the default: powers of two for half weights, so nothing rounds
    const { out } = equalize(fixture(name));
    assert.equal((await outputsDiffer(fixture(name), out, entry)).maxAbsErr, 0, name);
    // the Clip bounds of a rewritten ReLU6 are half too, as its activations
    assert.equal(runCmd('/usr/bin/python3', [path.join(root, 'tests/fixtures/check_model.py'), out]).status, 0);
  }
});
