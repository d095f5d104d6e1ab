// verify() and the INT8 fake quantization it shares with the quality bench:
// quant.js must write, weight for weight, the bytes bench/fake_quant.py
// writes (one definition of "INT8" in two languages), and verify() must say
// what onnxruntime-web says about the models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { equalize, verify, OnnxCleError } from '../../wasm/index.node.js';
import { quantizeWeights, addSquares, sqnrDb } from '../../wasm/quant.js';
import { chooseSizes, openDims } from '../../wasm/verify.js';
import { root, fixture, realModels, run, PY_CONSTS } from './helpers.mjs';
import { sampleModel } from '../../wasm/sample.js';
import { run as ortRun, compare } from './ort.mjs';

// prints the names of the float constants whose values differ (PY_CONSTS)
const SAME_CONSTANTS = `${PY_CONSTS}
a, b = consts(onnx.load(sys.argv[1])), consts(onnx.load(sys.argv[2]))
assert a.keys() == b.keys(), (a.keys() ^ b.keys())
print(" ".join(k for k in a if a[k].dtype != b[k].dtype or not np.array_equal(a[k], b[k], equal_nan=True)))
`;

test('fake quantization writes the weights bench/fake_quant.py writes: per tensor and per channel, float16, Constant nodes, If branches, ConvTranspose, Gemm', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-fq-'));
  try {
    writeFileSync(path.join(dir, 'same.py'), SAME_CONSTANTS);
    const models = ['mobilenetv2_like_bn', 'mobilenetv2_like_f16', 'decoder_bn', 'mlp_bn', 'vgg_like_constants', 'if_conv'];
    const jobs = models.map((m) => ({
      job: 'weights', model: fixture(`${m}.onnx`), per_tensor: path.join(dir, `${m}.py.t.onnx`), per_channel: path.join(dir, `${m}.py.c.onnx`),
    }));
    writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(jobs));
    const py = run('/usr/bin/python3', [path.join(root, 'bench/fake_quant.py'), path.join(dir, 'jobs.json')]);
    assert.equal(py.status, 0, py.stderr);
    const told = JSON.parse(py.stdout);
    models.forEach((m, i) => {
      const bytes = new Uint8Array(readFileSync(fixture(`${m}.onnx`)));
      for (const [key, perChannel] of [['t', false], ['c', true]]) {
        const q = quantizeWeights(bytes, { perChannel });
        assert.equal(q.layers, told[i].per_tensor.layers, `${m}: layers`);
        assert.deepEqual(q.notes, [], m);
        const mine = path.join(dir, `${m}.js.${key}.onnx`);
        writeFileSync(mine, q.model);
        const diff = run('/usr/bin/python3', [path.join(dir, 'same.py'), path.join(dir, `${m}.py.${key}.onnx`), mine]);
        assert.equal(diff.status, 0, diff.stderr);
        assert.equal(diff.stdout.toString().trim(), '', `${m} (${key}): these constants differ from fake_quant.py's`);
        // and the quantization did something: the weights moved
        assert.notDeepEqual(Buffer.from(q.model), Buffer.from(bytes), m);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('external data is quantized in a copy of its file; the input bytes are never changed', () => {
  const model = new Uint8Array(readFileSync(fixture('vgg_like_external.onnx')));
  const data = new Uint8Array(readFileSync(fixture('vgg_like_external.weights')));
  const keep = [Buffer.from(model), Buffer.from(data)];
  const q = quantizeWeights(model, { externalData: { 'vgg_like_external.weights': data } });
  assert.deepEqual(q.notes, []);
  assert.deepEqual(Buffer.from(q.model), keep[0], 'the model file holds no weights to change');
  assert.notDeepEqual(Buffer.from(q.externalData['vgg_like_external.weights']), keep[1]);
  assert.deepEqual([Buffer.from(model), Buffer.from(data)], keep);
  // a Node Buffer (whose slice() shares memory) is copied too
  const buffer = readFileSync(fixture('mobilenetv2_like_bn.onnx'));
  const kept = Buffer.from(buffer);
  const fq = quantizeWeights(buffer, { perChannel: true });
  assert.deepEqual(buffer, kept);
  assert.notDeepEqual(Buffer.from(fq.model), kept);
  const none = quantizeWeights(model);
  assert.match(none.notes[0], /external data file 'vgg_like_external\.weights' was not given; left as is/);
});

test('verify: a MobileNetV2-like model equalized keeps its function and quantizes better per tensor', async () => {
  const bytes = new Uint8Array(readFileSync(fixture('mobilenetv2_like_folded.onnx')));
  const { model } = await equalize(bytes);
  const steps = [];
  const r = await verify(bytes, model, { onProgress: (stage, f) => steps.push([stage, f]) });
  assert.ok(r.maxRelErr <= 1e-4, `relative difference ${r.maxRelErr}`);
  assert.ok(r.sqnrDb.perTensor.after > r.sqnrDb.perTensor.before + 3, JSON.stringify(r.sqnrDb));
  assert.ok(Number.isFinite(r.sqnrDb.perChannel.before) && Number.isFinite(r.sqnrDb.perChannel.after));
  assert.equal(r.layers, 18);
  assert.deepEqual(r.inputs, [{ name: 'input', type: 'float32', shape: [1, 3, 32, 32] }]);
  assert.deepEqual(steps.map((s) => s[0]),
    ['runtime', 'original', 'equalized', 'before-tensor', 'after-tensor', 'before-channel', 'after-channel']);
  // what onnxruntime says directly, on verify's first input
  const same = await verify(bytes, bytes, { samples: 1 });
  assert.equal(same.maxRelErr, 0);
  assert.equal(same.sqnrDb.perTensor.before, same.sqnrDb.perTensor.after);
  const feeds = { input: Object.assign(new Float32Array(3 * 32 * 32), { dims: [1, 3, 32, 32] }) };
  const c = compare(await ortRun(bytes, feeds), await ortRun(model, feeds));
  assert.ok(c.relErr <= 1e-4);
});

// an image-like input: smooth, in [0, 1], as the page makes from a picture
function picture(c, h, w) {
  const data = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) data[(k * h + y) * w + x] = 0.5 + 0.5 * Math.sin((x + 1) * (k + 1) / 5) * Math.cos(y / 7);
    }
  }
  return data;
}

test('verify: inputs of your own run besides the seeded ones and are reported apart, as onnxruntime says directly', async () => {
  const bytes = new Uint8Array(readFileSync(fixture('mobilenetv2_like_folded.onnx')));
  const { model } = await equalize(bytes);
  const data = picture(3, 32, 32);
  const keep = data.slice();
  const r = await verify(bytes, model, { samples: 1, inputs: { input: { data, dims: [1, 3, 32, 32] } } });
  assert.deepEqual(data, keep, 'the given values are not changed');
  // the seeded numbers are those of a run without the given input
  const plain = await verify(bytes, model, { samples: 1 });
  assert.equal(r.maxRelErr, plain.maxRelErr);
  assert.deepEqual(r.sqnrDb, plain.sqnrDb);
  assert.equal(plain.given, undefined);
  assert.deepEqual(r.given.inputs, [{ name: 'input', type: 'float32', shape: [1, 3, 32, 32] }]);
  assert.deepEqual(r.given.names, ['input']);
  // the given numbers: each model run directly on the picture, the weights fake-quantized as verify does
  const feeds = { input: Object.assign(data.slice(), { dims: [1, 3, 32, 32] }) };
  const ref = await ortRun(bytes, feeds);
  const c = compare(ref, await ortRun(model, feeds));
  assert.equal(r.given.maxRelErr, c.relErr);
  assert.equal(r.given.maxAbsErr, c.maxAbsErr);
  assert.ok(c.relErr > 0 && c.relErr <= 1e-4, `relative difference ${c.relErr}`);
  assert.notEqual(r.given.maxRelErr, r.maxRelErr, 'the picture is not a seeded input');
  for (const [key, perChannel] of [['perTensor', false], ['perChannel', true]]) {
    for (const [which, m] of [['before', bytes], ['after', model]]) {
      const out = await ortRun(quantizeWeights(m, { perChannel }).model, feeds);
      const sums = [0, 0];
      for (const name of Object.keys(ref)) addSquares(sums, ref[name], out[name]);
      assert.equal(r.given.sqnrDb[key][which], sqnrDb(sums[0], sums[1]), `${key} ${which}`);
    }
  }
  assert.ok(r.given.sqnrDb.perTensor.after > r.given.sqnrDb.perTensor.before, JSON.stringify(r.given.sqnrDb));

  // a dynamic dimension (the page's sample: image [batch, 3, 32, 32]) takes the given size; the seeded inputs keep theirs
  const sample = sampleModel().bytes;
  const { model: sampleEq } = await equalize(sample);
  const both = new Float32Array(2 * data.length);
  both.set(data);
  both.set(data.map((v) => 1 - v), data.length);
  const d = await verify(sample, sampleEq, { samples: 1, inputs: { image: { data: both, dims: [2, 3, 32, 32] } } });
  assert.deepEqual(d.inputs[0].shape, [1, 3, 32, 32]);
  assert.deepEqual(d.given.inputs[0].shape, [2, 3, 32, 32]);
  assert.ok(d.given.maxRelErr <= 1e-4 && Number.isFinite(d.given.sqnrDb.perChannel.after), JSON.stringify(d.given));

  await assert.rejects(verify(bytes, model, { samples: 1, inputs: { input: { data: both, dims: [2, 3, 32, 32] } } }),
    { name: 'TypeError', message: /options\.inputs 'input' is 2 long on axis 0, where the model's input is 1/ });
  await assert.rejects(verify(bytes, model, { inputs: { image: { data, dims: [1, 3, 32, 32] } } }),
    { name: 'TypeError', message: /names 'image', which is not an input of the model \(it has input\)/ });
  await assert.rejects(verify(bytes, model, { inputs: { input: { data, dims: [1, 3, 32, 31] } } }),
    { name: 'TypeError', message: /holds 3072 values, and dims \[1, 3, 32, 31\] make 2976/ });
  await assert.rejects(verify(bytes, model, { inputs: { input: { data, dims: [3, 32, 32] } } }),
    { name: 'TypeError', message: /has 3 dimensions, the model's input 4/ });
  await assert.rejects(verify(bytes, model, { inputs: { input: data } }), { name: 'TypeError', message: /'input': data must be a typed array/ });
});

test('verify: dynamic dimensions get sizes (a batch 1, the rest 64, or as given), named ones shared', async () => {
  const inputs = [
    { name: 'x', shape: ['batch', 3, 'h', -1] },
    { name: 'y', shape: ['h', 4294967295] },
  ];
  assert.deepEqual(openDims(inputs).map((d) => d.key), ['batch', 'h', 'x:3', 'h', 'y:1']);
  assert.deepEqual(chooseSizes(inputs), { batch: 1, h: 64, 'x:3': 64, 'y:1': 64 });
  assert.deepEqual(chooseSizes(inputs, { h: 8 }), { batch: 1, h: 8, 'x:3': 64, 'y:1': 64 });
  assert.throws(() => chooseSizes(inputs, { h: 0 }), TypeError);

  const rec = new Uint8Array(readFileSync(realModels['ppocr-rec']));
  const { model } = await equalize(rec);
  const r = await verify(rec, model, { samples: 1, sizes: { 'p2o.DynamicDimension.1': 40 } });
  assert.deepEqual(r.inputs[0].shape, [1, 3, 48, 40]);
  assert.deepEqual(r.open.map((d) => d.key), ['p2o.DynamicDimension.0', 'p2o.DynamicDimension.1']);
  assert.ok(r.maxRelErr <= 1e-3, `relative difference ${r.maxRelErr}`);
});

test('verify: options are checked, cancelling is an OnnxCleError, a model onnxruntime cannot load is a sentence', async () => {
  const bytes = new Uint8Array(readFileSync(fixture('vgg_like_bn.onnx')));
  await assert.rejects(verify(bytes, bytes, { sampels: 2 }), { name: 'TypeError', message: /unknown option 'sampels'/ });
  await assert.rejects(verify(bytes, 'x'), { name: 'TypeError', message: /equalized model must be a Uint8Array/ });
  await assert.rejects(verify(bytes, bytes, { onProgress: (stage) => stage !== 'before-tensor' }),
    (e) => e instanceof OnnxCleError && e.code === 'CLE_E_CANCELLED');
  await assert.rejects(verify(new Uint8Array([1, 2, 3]), bytes), { code: 'CLE_E_UNSUPPORTED', message: /onnxruntime-web cannot load the model/ });
});

test('in the worker: graph() and verify() answer as the API does; the models move unless transfer: false', async () => {
  const { createWorker } = await import('../../wasm/worker.node.js');
  const w = createWorker();
  try {
    const bytes = new Uint8Array(readFileSync(fixture('mobilenetv2_like_bn.onnx')));
    const g = await w.graph(bytes.slice());
    const layers = g.nodes.filter((n) => n.op === 'Conv' || n.op === 'Gemm');
    assert.equal(layers.length, 18);
    for (const l of layers) assert.ok(g.weights[l.inputs[1]].min.length > 0, l.name);
    for (const e of g.edges) assert.ok(e.points.length >= 4 && e.points[1] < e.points.at(-1), `${e.tensor} goes down the page`);
    const { model } = await w.equalize(bytes.slice());
    const keep = bytes.slice();
    const data = picture(3, 32, 32);
    const r = await w.verify(bytes, model, { samples: 1, transfer: false, inputs: { input: { data, dims: [1, 3, 32, 32] } } });
    assert.ok(r.maxRelErr <= 1e-4 && r.sqnrDb.perTensor.after > r.sqnrDb.perTensor.before, JSON.stringify(r.sqnrDb));
    assert.ok(r.given.maxRelErr <= 1e-4 && r.given.maxRelErr !== r.maxRelErr, JSON.stringify(r.given));
    assert.equal(data.length, 3 * 32 * 32, 'the given input is copied, not moved');
    assert.deepEqual(bytes, keep);
    await w.verify(bytes, model, { samples: 1 });
    assert.equal(bytes.byteLength, 0);
    assert.equal(model.byteLength, 0);
    await assert.rejects(w.verify(keep, keep, { ort: {} }), { name: 'TypeError', message: /unknown option 'ort' for verify/ });
  } finally {
    w.terminate();
  }
});
