// bias.js — bias correction for one kind of INT8 weights, measured: the
// error that rounding a layer's weights to the INT8 grid adds to its
// outputs has a mean, ΔW·E[x], the same on every input; subtracting it from
// the layer's bias (Nagel et al. 2019, "Data-Free Quantization", section 5)
// takes it away.  E[x], each input channel's mean, is measured on the
// user's inputs (a copy of the model whose extra outputs are those means);
// ΔW is the mean over 16 steps widened by 0..1% (as quant.js rounds), so
// that the correction holds for the grid's family, not for one rounding.
// The corrected model is made for that grid (symmetric max|W|/127, per
// tensor or per output channel): in FP32 and on the other grid it is worse
// than the model it was made from.  tune() uses it; see index.d.ts.
import {
  readModel, layers, localDefs, walk, storage, readValues, writeValues, channelMap, attrOf,
  extendGraph, encodeNode, encodeTensor, encodeValueInfo, numberToHalf, copyOf, FLOAT16,
} from './onnx-proto.js';
import { fakeQuantize, mulberry32 } from './quant.js';

const DRAWS = 16;
const OPS = ['Conv', 'ConvTranspose', 'Gemm']; // the layers with a bias input

/**
 * Of the layers (onnx-proto.js's layers()), those bias correction can reach:
 * Conv, ConvTranspose and Gemm (not transA) of the main graph.  [{ index,
 * node, weight (its tensor), inputs (channels of its data input) }].  Layers
 * in subgraphs and MatMul (no bias) are not among them.
 */
function sites(list) {
  const out = [];
  for (const { node, path, index, weight: { tensor: weight } } of list) {
    if (path !== '' || !OPS.includes(node.op) || !node.inputs[0] || weight.dims.length < 2) continue;
    if (node.op === 'Gemm' && attrOf(node, 'transA', 0)) continue;
    const d = weight.dims;
    const inputs = node.op === 'Conv' ? d[1] * attrOf(node, 'group', 1)
      : node.op === 'ConvTranspose' ? d[0] : attrOf(node, 'transB', 0) ? d[1] : d[0];
    out.push({ index, node, weight, inputs });
  }
  return out;
}

/** fresh(stem): a name no value of the main graph has, stem or stem_K. */
function namer(g) {
  const taken = new Set([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name), ...g.nodes.flatMap((n) => n.outputs)]);
  return (stem) => {
    let name = stem;
    for (let k = 1; taken.has(name); k++) name = `${stem}_${k}`;
    taken.add(name);
    return name;
  };
}

/**
 * A copy of the model whose extra outputs are the per-channel means of
 * each site's data input (ReduceMean over every axis but the channel's):
 * { model, probes: [{ site, output }] }.
 */
export function probeModel(bytes) {
  const model = readModel(bytes);
  const version = model.opset[''] ?? model.opset['ai.onnx'] ?? 1;
  const nodes = [];
  const initializers = [];
  const outputs = [];
  const probes = [];
  const fresh = namer(model.graph);
  for (const site of sites(layers(model))) {
    const rank = site.node.op === 'Gemm' ? 2 : site.weight.dims.length;
    const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
    const output = fresh(`onnx_cle_mean_${site.index}`);
    if (version >= 18) {
      const name = fresh(`${output}_axes`);
      initializers.push(encodeTensor({ name, dims: [axes.length], dataType: 7, raw: new Uint8Array(BigInt64Array.from(axes, BigInt).buffer) }));
      nodes.push(encodeNode({ op: 'ReduceMean', inputs: [site.node.inputs[0], name], outputs: [output], attrs: [{ name: 'keepdims', i: 0 }] }));
    } else {
      nodes.push(encodeNode({ op: 'ReduceMean', inputs: [site.node.inputs[0]], outputs: [output], attrs: [{ name: 'axes', ints: axes }, { name: 'keepdims', i: 0 }] }));
    }
    outputs.push(encodeValueInfo({ name: output, dataType: site.weight.dataType }));
    probes.push({ site: site.index, output });
  }
  return { model: extendGraph(bytes, model, { nodes, initializers, outputs }), probes };
}

/** Each probe's mean over the runs' outputs (each a { name: numbers } map): Map site → Float64Array. */
export function meansOf(outs, probes) {
  const means = new Map();
  for (const { site, output } of probes) {
    let sum = null;
    let n = 0;
    for (const o of outs) {
      const v = o[output];
      if (!v || !v.length) continue;
      sum ??= new Float64Array(v.length);
      if (v.length !== sum.length) continue;
      for (let i = 0; i < v.length; i++) sum[i] += v[i];
      n++;
    }
    if (sum && n) means.set(site, sum.map((x) => x / n));
  }
  return means;
}

/** The mean rounding error of w on its grid over DRAWS widened steps (float64). */
function meanError(w, map) {
  const rand = mulberry32(0x5eed);
  const err = new Float64Array(w.length);
  for (let k = 0; k < DRAWS; k++) {
    const q = fakeQuantize(Float64Array.from(w), map, rand);
    for (let i = 0; i < w.length; i++) err[i] += (q[i] - w[i]) / DRAWS;
  }
  return err;
}

/** Σ over inputs and taps of the mean error times the input's mean, per output channel. */
function shiftOf(site, err, mu) {
  const { node, weight } = site;
  const d = weight.dims;
  const taps = d.slice(2).reduce((a, x) => a * x, 1);
  if (node.op === 'Conv') {
    const g = attrOf(node, 'group', 1);
    const [m, cg] = d;
    const shift = new Float64Array(m);
    for (let o = 0; o < m; o++) {
      const base = Math.floor(o / (m / g)) * cg;
      for (let c = 0; c < cg; c++) for (let k = 0; k < taps; k++) shift[o] += err[(o * cg + c) * taps + k] * mu[base + c];
    }
    return shift;
  }
  if (node.op === 'ConvTranspose') {
    // an output pixel hears about taps / stride of each input channel's taps
    const g = attrOf(node, 'group', 1);
    const [c0, mg] = d;
    const stride = attrOf(node, 'strides', []).reduce((a, x) => a * x, 1);
    const shift = new Float64Array(g * mg);
    for (let c = 0; c < c0; c++) {
      const o0 = Math.floor(c / (c0 / g)) * mg;
      for (let j = 0; j < mg; j++) for (let k = 0; k < taps; k++) shift[o0 + j] += (err[(c * mg + j) * taps + k] * mu[c]) / stride;
    }
    return shift;
  }
  const transB = attrOf(node, 'transB', 0);
  const [kk, n] = transB ? [d[1], d[0]] : d;
  const alpha = attrOf(node, 'alpha', 1);
  const shift = new Float64Array(n);
  for (let o = 0; o < n; o++) for (let k = 0; k < kk; k++) shift[o] += alpha * err[transB ? o * kk + k : k * n + o] * mu[k];
  return shift;
}

/**
 * The model with each reachable layer's bias lowered by its weights' mean
 * rounding error on the grid (perChannel: one step per output channel)
 * times the measured means.  A layer with no bias gets one (a new
 * initializer); a bias shared with another node, or stored where it cannot
 * be rewritten (in external data), leaves its layer as it is; weights are
 * read from externalData where they are kept there.  Returns { model,
 * layers (how many were corrected), notes (the layers left, and why) }.
 */
export function correctBias(bytes, means, { perChannel = false, externalData } = {}) {
  const model = readModel(bytes);
  const copy = copyOf(bytes);
  const uses = new Map(); // by every node, subgraphs' too (they may read the main graph's values)
  walk(model.graph, (n) => { for (const x of n.inputs) uses.set(x, (uses.get(x) ?? 0) + 1); });
  const defs = localDefs(model.graph);
  const inputs = new Map();
  const initializers = [];
  const fresh = namer(model.graph);
  // the layers bench/fake_quant.py quantizes that no bias can reach here, said once per kind
  const all = layers(model);
  const inner = all.filter((l) => l.path !== '').length;
  const matmul = all.filter((l) => l.path === '' && l.node.op === 'MatMul').length;
  const notes = [
    ...(inner ? [`${inner} layer${inner > 1 ? 's' : ''} inside subgraphs (If, Loop, Scan): not corrected`] : []),
    ...(matmul ? [`${matmul} MatMul layer${matmul > 1 ? 's' : ''}: no bias input to correct`] : []),
  ];
  let corrected = 0;
  for (const site of sites(all)) {
    const label = site.node.name || site.node.op;
    const mu = means.get(site.index);
    if (!mu || mu.length !== site.inputs || !mu.every(Number.isFinite)) {
      notes.push(`${label}: its input's channel means were not measured`);
      continue;
    }
    const st = storage(site.weight, bytes, externalData);
    if (st.why) {
      notes.push(`${label}: its weight is ${st.why}`);
      continue;
    }
    const map = perChannel ? channelMap(site.node, site.weight.dims) : null;
    if (map?.why) {
      notes.push(`${label}: ${map.why}`);
      continue;
    }
    // Gemm's bias is multiplied by beta
    const beta = site.node.op === 'Gemm' ? attrOf(site.node, 'beta', 1) : 1;
    if (beta === 0 || site.node.inputs[2] === '') {
      notes.push(`${label}: its bias ${beta === 0 ? 'is multiplied by 0' : 'is left out by name'}`);
      continue;
    }
    const shift = shiftOf(site, meanError(readValues(st), map), mu).map((x) => x / beta);
    const half = site.weight.dataType === FLOAT16;
    const biasName = site.node.inputs[2];
    if (biasName) {
      const t = defs.get(biasName)?.tensor;
      const bs = t && uses.get(biasName) === 1 ? storage(t, copy) : { why: 'shared or computed' };
      if (bs.why || bs.count !== shift.length) {
        notes.push(`${label}: its bias is ${bs.why ?? 'not one value per output channel'}`);
        continue;
      }
      const b = readValues(bs);
      writeValues(bs, Float64Array.from(b, (x, i) => x - shift[i]));
    } else {
      const name = fresh(`${label}_bias_correction`);
      const raw = half ? new Uint8Array(Uint16Array.from(shift, (x) => numberToHalf(-x)).buffer)
        : new Uint8Array(Float32Array.from(shift, (x) => -x).buffer);
      initializers.push(encodeTensor({ name, dims: [shift.length], dataType: site.weight.dataType, raw }));
      inputs.set(site.index, [name]);
    }
    corrected++;
  }
  // the copy's biases were rewritten in place: its fields lie where the original's do
  return { model: extendGraph(copy, model, { inputs, initializers }), layers: corrected, notes };
}
