// sample.js — the page's sample model, made here rather than shipped as a
// binary: a small MobileNetV2-like network (a stem, an inverted residual
// block with ReLU6 and batch norm kept, pooling, a classifier), with seeded
// weights whose per-channel ranges spread as in trained networks, so that
// the check, the CLE map, equalization and the proof all have something to
// show.  About 30 kB; written as ONNX protobuf bytes, opset 13, with a
// dynamic batch dimension.

import { message } from './onnx-proto.js';

const FLOAT = 1;
const tensor = (name, dims, values) => message([
  ...dims.map((d) => [1, d]), [2, FLOAT], [8, name], [9, new Uint8Array(Float32Array.from(values).buffer)],
]);
const attrInt = (name, v) => message([[1, name], [3, v], [20, 2]]);
const attrInts = (name, vs) => message([[1, name], ...vs.map((v) => [8, v]), [20, 7]]);
const attrFloat = (name, v) => message([[1, name], [2, { f32: v }], [20, 1]]);
const node = (op, name, inputs, outputs, attrs = []) => message([
  ...inputs.map((i) => [1, i]), ...outputs.map((o) => [2, o]), [3, name], [4, op], ...attrs.map((a) => [5, a]),
]);
const dim = (d) => message([typeof d === 'string' ? [2, d] : [1, d]]);
const valueInfo = (name, dims) => message([[1, name], [2, message([[1, message([[1, FLOAT], [2, message(dims.map((d) => [1, dim(d)]))]])]])]]);

/** The sample model's bytes and a file name for it. */
export function sampleModel() {
  // seeded, so every visitor gets the same model
  let s = 0x5eed;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const init = [];
  const nodes = [];
  const weight = (name, out, perOut) => {
    // each output channel its own scale, over a decade and a half, as batch norm leaves trained weights
    const values = [];
    const std = Math.sqrt(2 / perOut);
    for (let o = 0; o < out; o++) {
      const k = std * 10 ** (1.5 * rand() - 0.75);
      for (let i = 0; i < perOut; i++) values.push(normal() * k);
    }
    return values;
  };
  const bn = (name, x, c) => {
    const gamma = [];
    const beta = [];
    const mean = [];
    const variance = [];
    for (let i = 0; i < c; i++) {
      gamma.push(i % 10 === 7 ? 0.001 + 0.01 * rand() : (rand() < 0.1 ? -1 : 1) * (0.1 + 2.9 * rand()));
      beta.push(0.5 + 0.5 * normal());
      mean.push(0.3 * normal());
      variance.push(10 ** (2 * rand() - 1.5));
    }
    init.push(tensor(`${name}.gamma`, [c], gamma), tensor(`${name}.beta`, [c], beta),
      tensor(`${name}.mean`, [c], mean), tensor(`${name}.var`, [c], variance));
    nodes.push(node('BatchNormalization', `${name}/BatchNormalization`,
      [x, `${name}.gamma`, `${name}.beta`, `${name}.mean`, `${name}.var`], [`${name}.bn`], [attrFloat('epsilon', 1e-5)]));
    return `${name}.bn`;
  };
  const conv = (name, x, cin, cout, k, { stride = 1, group = 1, act = true } = {}) => {
    const perOut = (cin / group) * k * k;
    init.push(tensor(`${name}.weight`, [cout, cin / group, k, k], weight(name, cout, perOut)));
    const pad = (k - 1) / 2;
    nodes.push(node('Conv', `${name}/Conv`, [x, `${name}.weight`], [`${name}.conv`], [
      attrInts('kernel_shape', [k, k]), attrInts('pads', [pad, pad, pad, pad]), attrInts('strides', [stride, stride]),
      attrInt('group', group),
    ]));
    const y = bn(name, `${name}.conv`, cout);
    if (!act) return y;
    nodes.push(node('Clip', `${name}/Relu6`, [y, 'relu6.min', 'relu6.max'], [`${name}.out`]));
    return `${name}.out`;
  };
  init.push(tensor('relu6.min', [], [0]), tensor('relu6.max', [], [6]));

  let x = conv('stem', 'image', 3, 16, 3, { stride: 2 });
  x = conv('block1.dw', x, 16, 16, 3, { group: 16 });
  const skip = conv('block1.project', x, 16, 24, 1, { act: false });
  x = conv('block2.expand', skip, 24, 96, 1);
  x = conv('block2.dw', x, 96, 96, 3, { group: 96 });
  x = conv('block2.project', x, 96, 24, 1, { act: false });
  nodes.push(node('Add', 'block2/Add', [skip, x], ['block2.out']));
  nodes.push(node('GlobalAveragePool', 'head/GlobalAveragePool', ['block2.out'], ['head.pool']));
  nodes.push(node('Flatten', 'head/Flatten', ['head.pool'], ['head.flat'], [attrInt('axis', 1)]));
  init.push(tensor('classifier.weight', [10, 24], weight('classifier', 10, 24)), tensor('classifier.bias', [10], Array(10).fill(0.1)));
  nodes.push(node('Gemm', 'classifier/Gemm', ['head.flat', 'classifier.weight', 'classifier.bias'], ['logits'], [attrInt('transB', 1)]));

  const graph = message([
    ...nodes.map((n) => [1, n]), [2, 'sample-mobilenet'], ...init.map((t) => [5, t]),
    [11, valueInfo('image', ['batch', 3, 32, 32])], [12, valueInfo('logits', ['batch', 10])],
  ]);
  const bytes = message([[1, 8], [2, 'onnx-cle sample'], [3, '1'], [7, graph], [8, message([[1, ''], [2, 13]])]]);
  return { name: 'sample-mobilenet.onnx', bytes };
}
