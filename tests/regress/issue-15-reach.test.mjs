// Issue 15: the planner reaches through what exporters put between layers
// (tests/fixtures/make_plan_models.py, make_reach_models.py; the planner's
// rows in tests/c/test_plan.c). Each model, equalized, must compute what it
// computed (onnxruntime-web on seeded inputs; relative error 1e-4 for float32
// models, 1e-2 for float16 ones), under the default, --objective=balance and
// --batch-norm=keep; and the real and exporter-shaped models pair as many
// layers as the issue asks:
//  - constant operands: Add, Sub, Max, Min (c / s per channel), Mul and Div
//    (as they are), in either slot, scalar or per channel; tf2onnx's
//    LeakyRelu then Max(x, c);
//  - Mul/Add/Sub/Div by constants right after a layer, folded into it
//    (PaddlePaddle's learnable affine), also after a batch norm, a MatMul's
//    bias Add, a Gemm;
//  - Cast between float types; Resize by constant sizes and by sizes from the
//    input's own shape; Concat of counts that follow from the layers; Size and
//    Shape readers; a float16 U2-Net block and a whole float16 U2-NetP, whose
//    scales must keep every float16 weight exact, also one already in the
//    subnormals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, fixture, realModels, run as runCmd } from '../js/helpers.mjs';
import { ort, run, compare, randomFeeds } from '../js/ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-reach-'));
const OPTIONS = [[], ['--objective=balance'], ['--batch-norm=keep']];

const float32 = [
  'add_const', 'add_const_scalar', 'add_const_first', 'sub_const', 'sub_const_first', 'max_const',
  'max_const_first', 'min_const_channel', 'mul_const', 'mul_const_spatial', 'div_const', 'clip_m1_3',
  'tf_leaky_max', 'flat_mul', 'matmul_shared_bias', 'affine_scalar', 'affine_channel', 'affine_bn',
  'affine_div', 'affine_spatial', 'affine_hardswish', 'hardsigmoid_swish', 'matmul_affine',
  'matmul_affine_nobias', 'gemm_affine', 'cast_float', 'resize_sizes', 'resize_sizes_shape',
  'concat_inferred', 'size_reader', 'tf_audio_embedding',
  // blocked, each with its sentence: nothing around them may change the function either (the
  // other blocked ones do not run as they are: Max-6 without broadcasting, 2 / relu(x), an input
  // of no shape)
  'add_const_spatial', 'add_const_wide', 'mul_activations', 'flat_add', 'cast_int',
  'resize_sizes_channels', 'resize_sizes_other',
];
const float16 = ['f16_resize_block', 'u2netp_f16', 'f16_subnormal'];

async function inputsOf(bytes) {
  const s = await ort.InferenceSession.create(bytes);
  const meta = s.inputNames.map((n) => s.inputMetadata.find((m) => m.name === n));
  await s.release();
  return meta.map((m) => ({ name: m.name, shape: m.shape, dtype: m.type }));
}

/** Equalizes model under each option set; the largest relative error over three seeds (or the
 * feeds given), and the reports. */
async function keeps(model, { feeds: given } = {}) {
  const original = readFileSync(model);
  const spec = await inputsOf(original);
  const out = path.join(dir, path.basename(model));
  let worst = 0;
  const reports = [];
  for (const opts of OPTIONS) {
    const r = native('equalize', model, '-o', out, '--json', ...opts);
    assert.equal(r.status, 0, `${path.basename(model)} ${opts}: ${r.stderr}`);
    reports.push(JSON.parse(r.stdout));
    const equalized = readFileSync(out);
    for (const feeds of given ?? [1, 2, 3].map((seed) => randomFeeds(spec, seed))) {
      const c = compare(await run(original, feeds), await run(equalized, feeds));
      worst = Math.max(worst, c.relErr);
    }
  }
  return { worst, reports, out };
}

for (const name of float32) {
  test(`${name}: equalized, the function is kept (float32, 1e-4)`, async () => {
    const { worst } = await keeps(fixture(`plan/${name}.onnx`));
    assert.ok(worst <= 1e-4, `relative error ${worst}`);
  });
}

for (const name of float16) {
  test(`${name}: equalized, the function is kept (float16, 1e-2)`, async () => {
    const { worst } = await keeps(fixture(`plan/${name}.onnx`));
    assert.ok(worst <= 1e-2, `relative error ${worst}`);
  });
}

function checkJson(model) {
  const r = native('check', model, '--json');
  assert.ok(r.status === 0 || r.status === 1, r.stderr);
  return JSON.parse(r.stdout);
}

const AFFINES = `
import json, sys, onnx
from onnx import numpy_helper
g = onnx.load(sys.argv[1]).graph
const = {i.name: numpy_helper.to_array(i) for i in g.initializer}
const.update({n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node if n.op_type == 'Constant'})
users = {}
for n in g.node:
    for i in n.input:
        users.setdefault(i, []).append(n)
def scalar_op(v, op):
    u = users.get(v, [])
    if len(u) != 1 or u[0].op_type != op: return None
    k = [i for i in u[0].input if i in const]
    return u[0].output[0] if len(k) == 1 and const[k[0]].size == 1 else None
convs = [n for n in g.node if n.op_type in ('Conv', 'ConvTranspose')]
n = 0
for c in convs:
    m = scalar_op(c.output[0], 'Mul')
    n += m is not None and scalar_op(m, 'Add') is not None
print(json.dumps({'convs': len(convs), 'affine': n}))
`;

const sides = (report) => report.cle.layers.flatMap((l) => [l.input?.blocked, l.output?.blocked]).filter(Boolean);

test('tf2onnx audio embedding: 20 of 20 layers paired through LeakyRelu then Max(x, c)', () => {
  const report = checkJson(fixture('plan/tf_audio_embedding.onnx'));
  assert.equal(report.summary.layers, 20);
  assert.ok(report.summary.paired >= 18, `${report.summary.paired} paired`);
  assert.ok(!sides(report).some((s) => /Max node/.test(s)), sides(report).join('\n'));
});

test('float16 U2-NetP: at least 90 of 119 layers paired, none held by a Shape reader, a Cast, a Resize or unknown counts', async () => {
  const report = checkJson(fixture('plan/u2netp_f16.onnx'));
  assert.equal(report.summary.layers, 119);
  assert.ok(report.summary.paired >= 90, `${report.summary.paired} paired`);
  for (const s of sides(report)) {
    assert.doesNotMatch(s, /Shape node|Size node|Cast node|Resize node|channel counts are not known/);
  }
  // every float16 weight rescaled exactly (powers of two, none into the subnormals): bit-equal outputs
  const { worst } = await keeps(fixture('plan/u2netp_f16.onnx'));
  assert.equal(worst, 0);
});

// per output channel of c1 (weights and bias) and per input channel of c2: the one factor the
// equalized model's float16 values are the model's times, or null where they are not all one power
// of two times the model's (a bit lost)
const FACTORS = `
import json, sys, onnx, numpy as np
from onnx import numpy_helper
def load(f): return {i.name: numpy_helper.to_array(i).astype(np.float64) for i in onnx.load(f).graph.initializer}
a, b = load(sys.argv[1]), load(sys.argv[2])
out = {}
for name, axis in (('c1_w', 0), ('c1_b', 0), ('c2_w', 1)):
    x, y = np.moveaxis(a[name], axis, 0), np.moveaxis(b[name], axis, 0)
    out[name] = []
    for r0, r1 in zip(x.reshape(len(x), -1), y.reshape(len(y), -1)):
        nz = r0 != 0
        f = np.unique(r1[nz] / r0[nz])
        ok = len(f) == 1 and np.log2(f[0]) % 1 == 0 and not np.any(r1[~nz])
        out[name].append(float(f[0]) if ok else None)
print(json.dumps(out))
`;

test('float16 weight already in the subnormals: no scale takes a bit of it, the other channels move', async () => {
  const model = fixture('plan/f16_subnormal.onnx');
  const out = path.join(dir, 'f16_subnormal_factors.onnx');
  for (const opts of OPTIONS) {
    const r = native('equalize', model, '-o', out, '--json', ...opts);
    assert.equal(r.status, 0, r.stderr);
    const f = runCmd('/usr/bin/python3', ['-c', FACTORS, model, out]);
    assert.equal(f.status, 0, f.stderr);
    const { c1_w: w1, c1_b: b1, c2_w: w2 } = JSON.parse(f.stdout);
    const why = `${opts}: ${f.stdout}`;
    assert.ok(w1.every((x) => x !== null) && w2.every((x) => x !== null), why);
    assert.deepEqual(b1, w1, why);
    assert.deepEqual(w2, w1.map((x) => 1 / x), why);
    assert.ok(w1[2] >= 1, why); // the channel holding 3 * 2^-24 is not divided
    assert.ok(w1.some((x) => x !== 1), `${why}: nothing moved`);
  }
  const { worst } = await keeps(model);
  assert.equal(worst, 0);
});

test('PP-OCRv4 det: every Conv followed by a scalar affine folds it; HardSwish blocks in plain words; function kept', async () => {
  const model = realModels['ppocr-det'];
  // on noise its probability map is ~1e-6 everywhere (float32 rounding is all there is to compare):
  // a page of dark strokes on white, normalized as PaddleOCR does, lights it up
  const H = 96, W = 160, x = new Float32Array(3 * H * W);
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const line = Math.floor(i / 24), inLine = i % 24 >= 6 && i % 24 < 18;
        const stroke = inLine && ((j * 7 + line * 13) % 11 < 3 || (i + j * 3) % 9 === 0) && j > 8 && j < W - 8;
        x[(c * H + i) * W + j] = ((stroke ? 0.1 : 0.95) - mean[c]) / std[c];
      }
    }
  }
  x.dims = [1, 3, H, W];
  const { worst, reports, out } = await keeps(model, { feeds: [{ x }] });
  assert.ok(worst <= 1e-4, `relative error ${worst}`);
  // Conv -> Mul(scalar constant) -> Add(scalar constant), counted by python3-onnx
  const affines = (file) => {
    const r = runCmd('/usr/bin/python3', ['-c', AFFINES, file]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const was = affines(model), now = affines(out);
  assert.ok(was.convs === 64 && was.affine === 28, JSON.stringify(was));
  assert.equal(now.affine, 0, 'every scalar affine after a Conv folded');
  assert.equal(now.convs, was.convs);
  const before = checkJson(model), after = checkJson(out);
  assert.ok(after.summary.paired >= before.summary.paired);
  assert.equal(reports.length, OPTIONS.length);
  const plain = sides(before).filter((s) => /part of a HardSwish, x \* clip\(x \+ 3, 0, 6\) \/ 6/.test(s));
  assert.ok(plain.length > 10, 'HardSwish named in the sentences');
  assert.ok(sides(before).every((s) => !/read by Mul node \S+, which does not commute/.test(s)));
  assert.ok(before.summary.paired >= 39, `${before.summary.paired} paired`);
});
