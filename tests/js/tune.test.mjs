// tune(): equalization chosen by the outcome on the caller's inputs
// (wasm/tune.js), and --strength, the option its choices are made of.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { equalize, tune, OnnxCleError } from '../../wasm/index.node.js';
import { quantizeWeights, addSquares, sqnrDb, mulberry32, normals } from '../../wasm/quant.js';
import { fixture, native, realModels } from './helpers.mjs';
import { ort } from './ort.mjs';

const model = (name) => new Uint8Array(readFileSync(fixture(name)));
// seeded samples of an input of this shape, the kind of data the fixtures' BN statistics expect
const samples = (shape, n, seed) => {
  const rand = mulberry32(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => ({ input: { data: Float32Array.from(normals(rand, size)), dims: shape } }));
};

// the output SQNR of a model's weight-quantized versions over samples, computed here apart from tune.js
async function outcome(original, candidate, inputs, roundings) {
  const outs = async (bytes) => {
    const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    const all = [];
    for (const x of inputs) all.push((await s.run({ input: new ort.Tensor('float32', x.input.data, x.input.dims) })).output.data);
    await s.release();
    return all;
  };
  const ref = await outs(original);
  const db = {};
  for (const perChannel of [false, true]) {
    const sums = [0, 0];
    for (let k = 1; k <= roundings; k++) {
      const got = await outs(quantizeWeights(candidate, { perChannel, jitter: k }).model);
      got.forEach((o, i) => addSquares(sums, ref[i], o));
    }
    db[perChannel ? 'channel' : 'tensor'] = sqnrDb(sums[0], sums[1]);
  }
  return db;
}

test('tune: the choice scores as it says, is at least the model as shipped and the default on its inputs, and equalize remakes it', async () => {
  const bytes = model('mobilenetv2_like_folded.onnx');
  const inputs = samples([1, 3, 32, 32], 6, 7);
  const stages = new Set();
  const r = await tune(bytes, { ort, inputs, budget: 10, roundings: 2, onProgress: (s) => { stages.add(s); } });
  assert.ok(r.choice, 'equalization beats the model as shipped here');
  assert.ok(r.tried.length <= 10 && r.tried.length >= 6, `${r.tried.length} candidates`);
  assert.deepEqual([...stages], ['runtime', 'shipped', 'default', 'search', 'done']);
  // the scores are the outcome, measured again here
  const again = await outcome(bytes, r.model, inputs, 2);
  assert.ok(Math.abs(again.tensor - r.scores.chosen.tensor) < 1e-6, `${again.tensor} vs ${r.scores.chosen.tensor}`);
  assert.ok(Math.abs(again.channel - r.scores.chosen.channel) < 1e-6);
  const shipped = await outcome(bytes, bytes, inputs, 2);
  assert.ok(Math.abs(shipped.tensor - r.scores.shipped.tensor) < 1e-6);
  // never below the model as shipped per tensor, nor more than the slack below it per channel; the default is a candidate
  assert.ok(r.scores.chosen.tensor >= r.scores.shipped.tensor, JSON.stringify(r.scores));
  assert.ok(r.scores.chosen.channel >= r.scores.shipped.channel - 1.5, JSON.stringify(r.scores));
  const def = r.tried.find((t) => t.objective === 'noise' && t.strength === '1');
  assert.deepEqual({ tensor: def.tensor, channel: def.channel }, r.scores.default);
  if (r.scores.default.channel >= r.scores.shipped.channel - 1.5) assert.ok(r.scores.chosen.tensor >= r.scores.default.tensor);
  for (const t of r.tried) {
    if (t.channel !== null && t.channel >= r.scores.shipped.channel - 1.5) assert.ok(t.tensor <= r.scores.chosen.tensor + 0.1, JSON.stringify(t));
    // per channel is measured only where per tensor could win: not where it is no better than the choice
    if (t.channel === null) assert.ok(t.tensor <= r.scores.chosen.tensor + 0.1, JSON.stringify(t));
  }
  // the choice is a set of equalize options: they make the same bytes
  const remade = await equalize(bytes, r.choice);
  assert.deepEqual(Buffer.from(remade.model), Buffer.from(r.model));
  assert.equal(JSON.stringify(remade.report.totals), JSON.stringify(r.report.totals));
});

test('tune: per channel as the target; a run function in place of inputs; the original when nothing beats it', async () => {
  const bytes = model('mlp_folded.onnx');
  const inputs = samples([4, 32], 4, 3);
  let runs = 0; // a run of the caller's own, counted
  const run = async (m) => {
    runs++;
    const s = await ort.InferenceSession.create(m, { graphOptimizationLevel: 'disabled' });
    const outs = [];
    for (const x of inputs) outs.push({ output: (await s.run({ input: new ort.Tensor('float32', x.input.data, x.input.dims) })).output.data });
    await s.release();
    return outs;
  };
  const r = await tune(bytes, { run, target: 'channel', budget: 4, roundings: 1 });
  assert.equal(r.tried.length, 4);
  // the reference, per tensor and per channel for the original and the default, then per channel
  // alone for the others, and per tensor for the chosen one when it is not the default
  assert.equal(runs, 1 + 2 + 2 + (r.tried.length - 1) + (r.choice && r.tried.findIndex((t) => t.strength === r.choice.strength && t.objective === r.choice.objective && t.iterations === r.choice.iterations) > 0 ? 1 : 0));
  for (const t of r.tried.slice(1)) assert.equal(t.tensor, null, 'per tensor is not measured where per channel decides');
  if (r.choice) assert.ok(Number.isFinite(r.scores.chosen.tensor));
  const best = Math.max(r.scores.shipped.channel, ...r.tried.map((t) => t.channel));
  assert.ok(r.scores.chosen.channel >= best - 0.1, JSON.stringify(r.scores));
  // a budget of one: the default alone; where it does not win, the original comes back as it was
  const one = await tune(bytes, { run, budget: 1, roundings: 1, channelSlack: 0 });
  assert.equal(one.tried.length, 1);
  if (one.choice === null) {
    assert.equal(one.model, bytes);
    assert.equal(one.report, null);
    assert.deepEqual(one.scores.chosen, one.scores.shipped);
  } else assert.ok(one.scores.chosen.tensor > one.scores.shipped.tensor && one.scores.chosen.channel >= one.scores.shipped.channel);
});

test('tune: a model with external data: every candidate reads it, the chosen one comes with its own files', async () => {
  const bytes = model('vgg_like_external.onnx');
  const externalData = { 'vgg_like_external.weights': new Uint8Array(readFileSync(fixture('vgg_like_external.weights'))) };
  const r = await tune(bytes, { ort, inputs: samples([1, 3, 32, 32], 2, 9), externalData, budget: 3, roundings: 1, channelSlack: 100 });
  assert.equal(r.tried.length, 3);
  for (const t of r.tried) assert.ok(Number.isFinite(t.tensor) && (t.channel === null || Number.isFinite(t.channel)), JSON.stringify(t));
  if (r.choice) {
    const again = await equalize(bytes, { ...r.choice, externalData });
    assert.deepEqual(Buffer.from(r.model), Buffer.from(again.model));
    assert.deepEqual(Object.keys(r.externalData), Object.keys(again.externalData));
  } else {
    assert.equal(r.model, bytes);
    assert.equal(r.externalData, externalData);
  }
});

test('tune: its first candidate is the default, named by options that remake it (PP-OCR det folds two batch norms and keeps one)', async () => {
  const bytes = new Uint8Array(readFileSync(realModels['ppocr-det']));
  // det takes any multiple of 32: one small input is enough to run it
  const r = await tune(bytes, { ort, inputs: samples([1, 3, 32, 32], 1, 4).map(({ input }) => ({ x: input })), budget: 1, roundings: 1 });
  const [first] = r.tried;
  const def = await equalize(bytes);
  assert.ok(def.report.totals.bn_folded > 0 && def.report.totals.bn_rescaled > 0, JSON.stringify(def.report.totals));
  const { tensor, channel, ...choice } = first;
  assert.deepEqual(choice, { objective: 'noise', strength: '1', batchNorm: 'fold' });
  assert.deepEqual(Buffer.from((await equalize(bytes, choice)).model), Buffer.from(def.model));
  assert.deepEqual(r.scores.default, { tensor, channel });
});

test('tune: options are checked; cancelling is an OnnxCleError', async () => {
  const bytes = model('mlp_folded.onnx');
  const inputs = samples([4, 32], 1, 1);
  await assert.rejects(tune(bytes, {}), /needs option 'inputs'/);
  await assert.rejects(tune(bytes, { inputs, run: async () => [] }), /'inputs' or 'run', not both/);
  await assert.rejects(tune(bytes, { inputs, colour: 1 }), /unknown option 'colour' for tune/);
  await assert.rejects(tune(bytes, { inputs, target: 'layer' }), /'target' must be 'tensor' or 'channel'/);
  await assert.rejects(tune(bytes, { inputs, equalize: { objective: 'balance' } }), /tune chooses 'objective' itself/);
  await assert.rejects(tune(bytes, { inputs: [{ nope: inputs[0].input }], ort }), /does not give the model's input 'input'/);
  await assert.rejects(tune(bytes, { inputs, ort, onProgress: (s) => s !== 'default' }),
    (e) => e instanceof OnnxCleError && e.code === 'CLE_E_CANCELLED');
});

test('tune in the worker answers as the API does; the chosen model comes back', async () => {
  const { createWorker } = await import('../../wasm/worker.node.js');
  const w = createWorker();
  try {
    const bytes = model('mlp_folded.onnx');
    const inputs = samples([4, 32], 3, 5);
    const options = { inputs, budget: 3, roundings: 1 };
    const direct = await tune(bytes, options);
    const stages = [];
    const r = await w.tune(bytes.slice(), { ...options, onProgress: (s) => { stages.push(s); } });
    assert.deepEqual(r.tried, direct.tried);
    assert.deepEqual(r.choice, direct.choice);
    assert.deepEqual(Buffer.from(r.model), Buffer.from(direct.model));
    assert.ok(stages.includes('search') && stages.at(-1) === 'done', stages.join());
    assert.equal(inputs[0].input.data.length, 4 * 32, 'the inputs are copied, not moved');
    await assert.rejects(w.tune(bytes, { ...options, run: async () => [] }), { name: 'TypeError', message: /unknown option 'run' for tune/ });
  } finally {
    w.terminate();
  }
});

test('--strength: 1 writes what the default writes, 0 moves no scale, a region of its own, numbered as the report numbers it; bad lists refused', (t) => {
  const f = fixture('vgg_like_folded.onnx');
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-strength-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const eq = (args) => {
    const r = native('equalize', f, '-o', path.join(dir, 'out.onnx'), '--json', ...args);
    assert.equal(r.status, 0, r.stderr);
    return { report: JSON.parse(r.stdout), bytes: readFileSync(path.join(dir, 'out.onnx')) };
  };
  const def = eq([]);
  assert.deepEqual(eq(['--strength=1']).bytes, def.bytes);
  const none = eq(['--strength=0']);
  assert.equal(none.report.totals.equalized, 0);
  // the regions: a layer's output region is the input region of the next
  const regions = def.report.layers.map((l) => [l.output_region, l.input_region]);
  const open = [...new Set(regions.flat().filter((r) => r !== null))];
  assert.ok(open.length >= 2, JSON.stringify(regions));
  for (const r of open) {
    assert.ok(regions.some(([o]) => o === r) && regions.some(([, i]) => i === r), `region ${r} has a producer and a consumer`);
  }
  // one region all the way, the rest left: only the layers around it change
  const r0 = open.find((r) => def.report.layers.some((l) => l.output_region === r && l.output_scaling !== 'held'));
  const one = eq([`--strength=0,${r0}:1`]);
  one.report.layers.forEach((l, i) => {
    const touches = l.output_region === r0 || l.input_region === r0;
    if (!touches) assert.equal(l.changed, false, `layer ${i} is not next to region ${r0}`);
  });
  assert.ok(one.report.layers.some((l) => l.changed));
  // half-way lies between, per layer, in the estimate
  const half = eq(['--strength=0.5']).report.totals;
  assert.ok(half.estimated_sqnr_db_after > none.report.totals.estimated_sqnr_db_after - 1e-9);
  // a region the model has not: said, nothing written
  const stray = native('equalize', f, '-o', path.join(dir, 'stray.onnx'), '--strength=1,99:0.5');
  assert.equal(stray.status, 2);
  assert.match(stray.stderr, /--strength names region 99, which this model has not among the regions it can scale/);
  assert.equal(existsSync(path.join(dir, 'stray.onnx')), false);
  for (const bad of ['x', '1,', '3:', '2.5', '-1', ':1', '1,,2', 'a:1']) {
    const r = native('equalize', f, '-o', path.join(dir, 'bad.onnx'), `--strength=${bad}`);
    assert.equal(r.status, 2, bad);
    assert.match(r.stderr, /--strength takes numbers from 0 to 2, each alone or after a region and ':'/);
  }
});
