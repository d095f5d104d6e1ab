// graph.js — graph(): the model's main graph as something to draw, with a
// layered (Sugiyama-style) layout made here, top to bottom: ranks by
// longest path pulled down towards their readers, long edges cut by dummy
// points, order within a rank by barycentre sweeps, x by balanced
// placement.  Graphs of neural networks are long chains with skips, which
// this handles in milliseconds for thousands of nodes, where general layout
// libraries take seconds; it runs in the worker with the rest.  Also: known
// shapes, attributes, and each layer weight's per-output-channel range.
import { readModel, LAYER_OPS, ATTR, FLOAT, FLOAT16, storage, readValues, channelMap, channelOf, typeName } from './onnx-proto.js';

const NODE_H = 30;
const RANK_GAP = 36; // between the bottom of one rank and the top of the next
const GAP = 18; // between neighbours in a rank
const DUMMY_W = 6;
const SWEEPS = 8;
const MAX_LIST = 16; // attribute values shown per list

function summarize(a) {
  const v = a.value;
  const list = (xs, f = String) => `[${xs.slice(0, MAX_LIST).map(f).join(', ')}${xs.length > MAX_LIST ? `, … ${xs.length} in all` : ''}]`;
  const num = (x) => (Number.isInteger(x) ? String(x) : Number(x.toPrecision(6)).toString());
  switch (a.type) {
    case ATTR.FLOAT: return num(v);
    case ATTR.INT: return String(v);
    case ATTR.STRING: return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);
    case ATTR.TENSOR: return `tensor ${typeName(v.dataType)} [${v.dims.join(', ')}]`;
    case ATTR.GRAPH: return `subgraph of ${v.nodes.length} nodes`;
    case ATTR.FLOATS: return list(v, num);
    case ATTR.INTS: return list(v);
    case ATTR.STRINGS: return list(v, (s) => JSON.stringify(s));
    case ATTR.TENSORS: return `${v.length} tensors`;
    case ATTR.GRAPHS: return `${v.length} subgraphs`;
    default: return Array.isArray(v) ? list(v) : '?';
  }
}

/** Per output channel min and max of a layer weight, or null. */
function channelRanges(n, t, bytes, externalData) {
  if (t.dataType !== FLOAT && t.dataType !== FLOAT16) return null;
  const st = storage(t, bytes, externalData);
  if (st.why) return null;
  const w = readValues(st);
  const map = channelMap(n, t.dims);
  if (map && map.why) return null;
  const channels = map ? map.channels : 1;
  const min = new Float32Array(channels).fill(Infinity);
  const max = new Float32Array(channels).fill(-Infinity);
  const block = map ? map.block : w.length;
  if (block) {
    // channels one after another: the common case, without a division per weight
    for (let c = 0; c < channels; c++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = c * block, end = i + block; i < end; i++) {
        const x = w[i];
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      min[c] = lo;
      max[c] = hi;
    }
    return { min, max };
  }
  const of = channelOf(map);
  for (let i = 0; i < w.length; i++) {
    const c = of(i);
    if (w[i] < min[c]) min[c] = w[i];
    if (w[i] > max[c]) max[c] = w[i];
  }
  return { min, max };
}

/** Order of ids so that every edge goes forward where it can (Kahn, ties by file order). */
function topoOrder(n, preds, succs) {
  const indeg = preds.map((p) => p.length);
  const order = [];
  const ready = [];
  for (let i = n - 1; i >= 0; i--) if (indeg[i] === 0) ready.push(i);
  const placed = new Uint8Array(n);
  let next = 0;
  while (order.length < n) {
    if (ready.length === 0) {
      // a cycle (the model is invalid): go on with the first node left
      while (placed[next]) next++;
      ready.push(next);
    }
    const v = ready.pop();
    if (placed[v]) continue;
    placed[v] = 1;
    order.push(v);
    for (let k = succs[v].length - 1; k >= 0; k--) {
      const s = succs[v][k];
      if (--indeg[s] === 0 && !placed[s]) ready.push(s);
    }
  }
  return order;
}

/** Ranks: longest path from the sources, then each node pulled down to just above its first reader. */
function rank(order, preds, succs) {
  const pos = new Int32Array(order.length);
  order.forEach((v, i) => { pos[v] = i; });
  const r = new Int32Array(order.length);
  for (const v of order) for (const u of preds[v]) if (pos[u] < pos[v]) r[v] = Math.max(r[v], r[u] + 1);
  for (let i = order.length - 1; i >= 0; i--) {
    const v = order[i];
    let lo = Infinity;
    for (const s of succs[v]) if (pos[s] > pos[v]) lo = Math.min(lo, r[s] - 1);
    if (lo !== Infinity && lo > r[v]) r[v] = lo;
  }
  return { r, pos };
}

/**
 * Lays out boxes (widths w) joined by edges [u, v]: returns { x, y (box
 * centres), points per edge, width, height }.
 */
export function layout(w, edges) {
  const n = w.length;
  const preds = Array.from({ length: n }, () => []);
  const succs = Array.from({ length: n }, () => []);
  const pairs = new Set();
  for (const [u, v] of edges) {
    const key = u * n + v;
    if (u === v || pairs.has(key)) continue;
    pairs.add(key);
    preds[v].push(u);
    succs[u].push(v);
  }
  const order = topoOrder(n, preds, succs);
  const { r, pos } = rank(order, preds, succs);

  // the layered graph: real nodes, then a dummy per rank an edge crosses
  const lw = [...w];
  const lr = [...r];
  const up = Array.from({ length: n }, () => []);
  const down = Array.from({ length: n }, () => []);
  const chains = new Map(); // u*n+v → [u, dummies..., v]
  for (const key of pairs) {
    let u = Math.floor(key / n);
    let v = key % n;
    const back = pos[u] > pos[v];
    if (back) [u, v] = [v, u];
    const chain = [u];
    let prev = u;
    for (let k = lr[u] + 1; k < lr[v]; k++) {
      const d = lw.length;
      lw.push(DUMMY_W);
      lr.push(k);
      up.push([prev]);
      down.push([]);
      down[prev].push(d);
      chain.push(d);
      prev = d;
    }
    if (lr[v] > lr[prev]) {
      down[prev].push(v);
      up[v].push(prev);
    }
    chain.push(v);
    chains.set(key, back ? chain.reverse() : chain);
  }
  const m = lw.length;
  const ranks = [];
  for (const v of order) (ranks[lr[v]] ??= []).push(v);
  for (let d = n; d < m; d++) (ranks[lr[d]] ??= []).push(d);
  for (let k = 0; k < ranks.length; k++) ranks[k] ??= [];

  // order within ranks: barycentre sweeps, down then up
  const at = new Float64Array(m);
  const index = () => ranks.forEach((row) => row.forEach((v, i) => { at[v] = i; }));
  index();
  const sweep = (row, nbrs) => {
    const key = new Map();
    row.forEach((v, i) => {
      const list = nbrs[v];
      key.set(v, list.length ? list.reduce((s, u) => s + at[u], 0) / list.length : i);
    });
    row.sort((a, b) => key.get(a) - key.get(b));
    row.forEach((v, i) => { at[v] = i; });
  };
  for (let s = 0; s < SWEEPS; s++) {
    if (s % 2 === 0) for (let k = 1; k < ranks.length; k++) sweep(ranks[k], up);
    else for (let k = ranks.length - 2; k >= 0; k--) sweep(ranks[k], down);
  }

  // x: each rank placed as near as its order allows to where its neighbours are
  const x = new Float64Array(m);
  for (const row of ranks) {
    let cur = 0;
    for (const v of row) {
      x[v] = cur + lw[v] / 2;
      cur += lw[v] + GAP;
    }
  }
  const place = (row, nbrs) => {
    const want = row.map((v) => {
      const list = nbrs[v];
      if (!list.length) return x[v];
      const xs = list.map((u) => x[u]).sort((a, b) => a - b);
      const h = xs.length >> 1;
      return xs.length % 2 ? xs[h] : (xs[h - 1] + xs[h]) / 2;
    });
    const left = new Float64Array(row.length);
    const right = new Float64Array(row.length);
    for (let i = 0; i < row.length; i++) {
      const min = i ? left[i - 1] + (lw[row[i - 1]] + lw[row[i]]) / 2 + GAP : -Infinity;
      left[i] = Math.max(want[i], min);
    }
    for (let i = row.length - 1; i >= 0; i--) {
      const max = i < row.length - 1 ? right[i + 1] - (lw[row[i + 1]] + lw[row[i]]) / 2 - GAP : Infinity;
      right[i] = Math.min(want[i], max);
    }
    // the average of two orderly placements is orderly too
    row.forEach((v, i) => { x[v] = (left[i] + right[i]) / 2; });
  };
  for (let s = 0; s < 4; s++) {
    for (let k = 1; k < ranks.length; k++) place(ranks[k], up);
    for (let k = ranks.length - 2; k >= 0; k--) place(ranks[k], down);
  }
  for (let k = 1; k < ranks.length; k++) place(ranks[k], up);

  let minX = Infinity;
  let maxX = -Infinity;
  for (let v = 0; v < m; v++) {
    minX = Math.min(minX, x[v] - lw[v] / 2);
    maxX = Math.max(maxX, x[v] + lw[v] / 2);
  }
  const pad = 20;
  const step = NODE_H + RANK_GAP;
  const X = (v) => Math.round((x[v] - minX + pad) * 10) / 10;
  const Y = (v) => pad + lr[v] * step + NODE_H / 2;
  const points = new Map();
  for (const [key, chain] of chains) {
    const pts = [];
    chain.forEach((v, i) => {
      if (i === 0) pts.push(X(v), Y(v) + (v < n ? NODE_H / 2 : 0));
      else if (i === chain.length - 1) pts.push(X(v), Y(v) - (v < n ? NODE_H / 2 : 0));
      else pts.push(X(v), Y(v) - NODE_H / 2, X(v), Y(v) + NODE_H / 2);
    });
    points.set(key, pts);
  }
  return {
    x: Array.from({ length: n }, (_, v) => X(v)),
    y: Array.from({ length: n }, (_, v) => Y(v)),
    rank: Array.from(r),
    points: (u, v) => points.get(u * n + v) ?? null,
    width: Math.ceil(maxX - minX + 2 * pad),
    height: Math.ceil(ranks.length * step - RANK_GAP + 2 * pad),
    dummies: m - n,
  };
}

const labelWidth = (text) => Math.max(54, Math.min(220, 14 + 7.2 * text.length));

/**
 * The model as a graph to draw.  bytes: the .onnx file (any Uint8Array
 * view); externalData: its data files by name (for the weights' ranges).
 * See index.d.ts (ModelGraph).
 */
export async function graph(bytes, options) {
  const o = options ?? {};
  if (typeof o !== 'object') throw new TypeError('onnx-cle: graph options must be an object');
  for (const key of Object.keys(o)) {
    if (key !== 'externalData') throw new TypeError(`onnx-cle: unknown option '${key}' for graph (it takes externalData)`);
  }
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  return readGraph(bytes, o);
}

/** graph(), synchronously. */
export function readGraph(bytes, { externalData } = {}) {
  const t0 = Date.now();
  const model = readModel(bytes);
  const g = model.graph;
  const tensors = {};
  const initNames = new Set(g.initializers.map((t) => t.name));
  for (const t of g.initializers) tensors[t.name] = { kind: 'weight', type: typeName(t.dataType), shape: t.dims };
  for (const v of g.valueInfo) tensors[v.name] ??= { kind: 'value', type: v.type, shape: v.shape };
  for (const v of g.inputs) if (!initNames.has(v.name)) tensors[v.name] = { kind: 'input', type: v.type, shape: v.shape };
  for (const v of g.outputs) tensors[v.name] = { kind: 'output', type: v.type, shape: v.shape };

  // Constant nodes are weights, drawn inside their readers as initializers are
  const consts = new Map();
  g.nodes.forEach((nd) => {
    if (nd.op !== 'Constant' || nd.outputs.length !== 1) return;
    const a = nd.attrs.find((x) => x.type === ATTR.TENSOR && x.name === 'value');
    consts.set(nd.outputs[0], a ? a.value : null);
    tensors[nd.outputs[0]] = a
      ? { kind: 'weight', type: typeName(a.value.dataType), shape: a.value.dims }
      : { kind: 'weight', type: null, shape: null };
  });

  const nodes = [];
  const producer = new Map();
  for (const v of g.inputs) {
    if (initNames.has(v.name)) continue;
    producer.set(v.name, nodes.length);
    nodes.push({ kind: 'input', name: v.name, op: 'Input', inputs: [], outputs: [v.name], attrs: [], index: -1 });
  }
  g.nodes.forEach((nd, index) => {
    if (nd.op === 'Constant' && consts.has(nd.outputs[0])) return;
    const id = nodes.length;
    for (const o of nd.outputs) if (o) producer.set(o, id);
    const subgraphs = nd.attrs.filter((a) => a.type === ATTR.GRAPH || a.type === ATTR.GRAPHS).length;
    nodes.push({
      kind: 'op', name: nd.name || `#${index}`, op: nd.op, domain: nd.domain, index,
      inputs: nd.inputs, outputs: nd.outputs, subgraphs,
      attrs: nd.attrs.filter((a) => !(nd.op === 'Constant' && a.type === ATTR.TENSOR)).map((a) => ({ name: a.name, value: summarize(a) })),
    });
  });
  for (const v of g.outputs) nodes.push({ kind: 'output', name: v.name, op: 'Output', inputs: [v.name], outputs: [], attrs: [], index: -1 });

  const edges = [];
  nodes.forEach((nd, id) => {
    for (const t of nd.inputs) {
      const from = producer.get(t);
      if (from !== undefined && from !== id) edges.push({ from, to: id, tensor: t });
    }
  });

  const t1 = Date.now();
  // the weights' per-channel ranges, for the layers
  const weights = {};
  const byName = new Map(g.initializers.map((t) => [t.name, t]));
  for (const nd of g.nodes) {
    if (!LAYER_OPS.includes(nd.op) || nd.inputs.length < 2 || weights[nd.inputs[1]]) continue;
    const t = byName.get(nd.inputs[1]) ?? consts.get(nd.inputs[1]);
    const ranges = t ? channelRanges(nd, t, bytes, externalData) : null;
    if (ranges) weights[nd.inputs[1]] = ranges;
  }

  const t2 = Date.now();
  const widths = nodes.map((nd) => labelWidth(nd.kind === 'op' ? nd.op : nd.name));
  const lay = layout(widths, edges.map((e) => [e.from, e.to]));
  nodes.forEach((nd, i) => {
    nd.x = lay.x[i];
    nd.y = lay.y[i];
    nd.w = widths[i];
    nd.h = NODE_H;
    nd.rank = lay.rank[i];
  });
  for (const e of edges) e.points = lay.points(e.from, e.to);
  return {
    nodes, edges, tensors, weights, width: lay.width, height: lay.height,
    opset: model.opset, constants: consts.size, dummies: lay.dummies,
    ms: { read: t1 - t0, ranges: t2 - t1, layout: Date.now() - t2 },
  };
}
