// Bias correction (wasm/bias.js) and tune()'s biasCorrection: the means it
// measures, the biases it writes, and what that does to the quantized outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tune } from '../../wasm/index.node.js';
import { probeModel, meansOf, correctBias } from '../../wasm/bias.js';
import { readModel, extendGraph } from '../../wasm/onnx-proto.js';
import { quantizeWeights, mulberry32, normals } from '../../wasm/quant.js';
import { fixture, realModels } from './helpers.mjs';
import { ort } from './ort.mjs';

const model = (name) => new Uint8Array(readFileSync(fixture(name)));
const SHAPE = [1, 3, 32, 32];
// inputs with a mean per channel, as pictures have (what makes the error's mean matter)
const samples = (n, seed) => {
  const rand = mulberry32(seed);
  const size = SHAPE.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => ({ input: Float32Array.from(normals(rand, size), (x, i) => 0.5 * x + 1 + Math.floor(i / 1024) * 0.5) }));
};

async function run(bytes, inputs) {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  const outs = [];
  for (const x of inputs) {
    const r = await s.run({ input: new ort.Tensor('float32', x.input, SHAPE) });
    outs.push(Object.fromEntries(Object.entries(r).map(([k, t]) => [k, Float64Array.from(t.data)])));
  }
  await s.release();
  return outs;
}

// the quantized outputs' error against the original FP32 ones over 4 roundings: its mean per
// output element (the part bias correction is for), and the whole error's power
async function error(original, candidate, inputs, perChannel) {
  const ref = await run(original, inputs);
  let mean = null;
  let power = 0;
  let count = 0;
  for (let k = 1; k <= 4; k++) {
    const got = await run(quantizeWeights(candidate, { perChannel, jitter: k }).model, inputs);
    got.forEach((o, i) => {
      const d = o.output.map((x, j) => x - ref[i].output[j]);
      mean ??= new Float64Array(d.length);
      d.forEach((x, j) => { mean[j] += x; power += x * x; });
      count++;
    });
  }
  return { bias: Math.hypot(...mean.map((x) => x / count)), power: power / count };
}

test('extendGraph: no edit is the same bytes', () => {
  const bytes = model('mobilenetv2_like_folded.onnx');
  assert.deepEqual(Buffer.from(extendGraph(bytes, readModel(bytes), {})), Buffer.from(bytes));
});

test('bias correction: the means are the inputs\' own, every layer gets its bias, the quantized error loses its mean', async () => {
  const bytes = model('mobilenetv2_like_folded.onnx');
  const inputs = samples(4, 11);
  const probe = probeModel(bytes);
  const layers = readModel(bytes).graph.nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm');
  assert.equal(probe.probes.length, layers.length);
  const means = meansOf(await run(probe.model, inputs), probe.probes);
  // the first layer reads the model's input: its means are those of the samples, channel by channel
  const first = means.get(probe.probes[0].site);
  for (let c = 0; c < 3; c++) {
    let s = 0;
    for (const x of inputs) for (let i = 0; i < 1024; i++) s += x.input[c * 1024 + i];
    assert.ok(Math.abs(first[c] - s / 4096) < 1e-5, `channel ${c}: ${first[c]} vs ${s / 4096}`);
  }
  for (const perChannel of [false, true]) {
    const c = correctBias(bytes, means, { perChannel });
    assert.equal(c.layers, layers.length, c.notes.join('; '));
    // every layer has a bias now, and no weight changed: only biases and new bias initializers
    const m = readModel(c.model);
    for (const n of m.graph.nodes.filter((x) => x.op === 'Conv' || x.op === 'Gemm')) assert.equal(n.inputs.length, 3, n.name);
    const before = await error(bytes, bytes, inputs, perChannel);
    const after = await error(bytes, c.model, inputs, perChannel);
    // (per channel the error is smaller and less of it is its mean; 4 inputs by 4 roundings
    // leave some of the random part in the mean measured here)
    assert.ok(after.bias < (perChannel ? 0.8 : 0.5) * before.bias, `${perChannel ? 'per channel' : 'per tensor'}: mean error ${before.bias} -> ${after.bias}`);
    assert.ok(after.power < before.power, `error power ${before.power} -> ${after.power}`);
  }
  // from opset 18 ReduceMean takes its axes as an input: the same means (the model's opset import, 13, made 18)
  const at = Buffer.from(bytes).lastIndexOf(Buffer.from([0x42, 0x02, 0x10, 13]));
  assert.ok(at > 0, 'the fixture imports opset 13');
  const v18 = bytes.slice();
  v18[at + 3] = 18;
  const p18 = probeModel(v18);
  const m18 = meansOf(await run(p18.model, inputs), p18.probes);
  for (const [site, mu] of means) mu.forEach((x, i) => assert.ok(Math.abs(x - m18.get(site)[i]) <= 1e-6 * (1 + Math.abs(x)), `layer ${site}`));
  // a layer without its means is left, and said
  const none = correctBias(bytes, new Map());
  assert.equal(none.layers, 0);
  assert.equal(none.notes.length, layers.length);
  assert.match(none.notes[0], /channel means were not measured/);
  // layers it cannot reach are said: Silero v5's are all inside If branches
  const silero = new Uint8Array(readFileSync(realModels['silero-v5']));
  const sc = correctBias(silero, new Map());
  assert.equal(sc.layers, 0);
  assert.match(sc.notes.join('; '), /^\d+ layers inside subgraphs \(If, Loop, Scan\): not corrected$/);
});

test('tune with biasCorrection: the correction kept where it scores better, its scores and FP32 change said', async () => {
  const bytes = model('mobilenetv2_like_folded.onnx');
  const inputs = samples(4, 5).map((x) => ({ input: { data: x.input, dims: SHAPE } }));
  const plain = await tune(bytes, { ort, inputs, budget: 3, roundings: 2 });
  assert.equal(plain.bias, null);
  const r = await tune(bytes, { ort, inputs, budget: 3, roundings: 2, biasCorrection: true });
  assert.deepEqual(r.tried, plain.tried, 'the search is the same');
  assert.ok(r.bias.layers > 0 && r.bias.target === 'tensor', JSON.stringify(r.bias));
  assert.ok(r.bias.fp32 > 0 && r.bias.fp32 < 100, `FP32 outputs move: ${r.bias.fp32} dB`);
  assert.equal(r.bias.kept, r.bias.scores.tensor > plain.scores.chosen.tensor + 0.1);
  assert.deepEqual(r.scores.chosen, r.bias.kept ? r.bias.scores : plain.scores.chosen);
  assert.ok(r.bias.kept, `on inputs with a mean, the correction wins per tensor: ${JSON.stringify(r.bias.scores)} vs ${JSON.stringify(plain.scores.chosen)}`);
  await assert.rejects(tune(bytes, { ort, inputs, biasCorrection: 'yes' }), /'biasCorrection' must be true or false/);
});
