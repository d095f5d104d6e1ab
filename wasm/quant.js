// quant.js — what "INT8" and "the outputs agree" mean, in one place for
// verify(), the page, the tests (tests/js/ort.mjs) and the quality bench
// (bench/quant_lib.mjs): symmetric INT8 weight fake quantization as
// bench/fake_quant.py defines it (tests/js/verify.test.mjs holds the two to
// the same bytes), seeded inputs, the relative output difference and SQNR.
import { readModel, layers, storage, readValues, writeValues, channelMap, channelOf, copyOf } from './onnx-proto.js';

/** A small seeded PRNG (mulberry32): the same seed gives the same stream everywhere. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values (Box-Muller) from a seeded stream. */
export function normals(rand, n) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const phi = 2 * Math.PI * rand();
    out[i] = r * Math.cos(phi);
    if (i + 1 < n) out[i + 1] = r * Math.sin(phi);
  }
  return out;
}

/**
 * Compares outputs a (the reference) and b: { name: TypedArray } maps with
 * the same names and sizes, or two typed arrays. Returns { maxAbsErr, maxAbs
 * (of a), relErr = maxAbsErr / maxAbs } over all outputs; a NaN anywhere
 * makes relErr Infinity.
 */
export function compare(a, b) {
  if (ArrayBuffer.isView(a)) return compare({ out: a }, { out: b });
  const names = Object.keys(a);
  if (names.join() !== Object.keys(b).join()) {
    throw new Error(`outputs differ: [${names}] vs [${Object.keys(b)}]`);
  }
  let maxAbsErr = 0;
  let maxAbs = 0;
  let nan = false;
  for (const name of names) {
    const x = a[name];
    const y = b[name];
    if (x.length !== y.length) throw new Error(`output '${name}': ${x.length} vs ${y.length} values`);
    for (let i = 0; i < x.length; i++) {
      const u = Number(x[i]);
      const v = Number(y[i]);
      if (Number.isNaN(u) || Number.isNaN(v)) nan = true;
      const e = Math.abs(u - v);
      if (e > maxAbsErr) maxAbsErr = e;
      if (Math.abs(u) > maxAbs) maxAbs = Math.abs(u);
    }
  }
  let relErr = maxAbs > 0 ? maxAbsErr / maxAbs : maxAbsErr === 0 ? 0 : Infinity;
  if (nan || !Number.isFinite(relErr)) relErr = Infinity;
  return { maxAbsErr, maxAbs, relErr };
}

/** 10 log10(Σ ref² / Σ err²): Infinity when equal, -Infinity when anything is NaN or infinite. */
export function sqnrDb(sumRef2, sumErr2) {
  if (!Number.isFinite(sumErr2) || Number.isNaN(sumRef2)) return -Infinity;
  if (sumErr2 === 0) return Infinity;
  return 10 * Math.log10(sumRef2 / sumErr2);
}

/** Adds Σ ref² and Σ (out − ref)² of one output to sums ([r2, e2]); returns sums. */
export function addSquares(sums, ref, out) {
  if (ref.length !== out.length) throw new Error(`${out.length} values, want ${ref.length}`);
  let r2 = 0;
  let e2 = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Number(ref[i]);
    const d = Number(out[i]) - r;
    r2 += r * r;
    e2 += Number.isFinite(d) ? d * d : Infinity;
  }
  sums[0] += r2;
  sums[1] += e2;
  return sums;
}

// ---------------------------------------------------------------- fake quantization

/**
 * Symmetric INT8 fake quantization of w (float64, in place) over groups:
 * of(i) gives element i's channel (null: one scale for the tensor).
 * scale = max|W| / 127 per group; q = clamp(round_half_even(W / scale),
 * -127, 127); W' = q · scale; a zero scale leaves the group as it is.
 * rand (optional): each group's step widened by a random 0..1% (one
 * rounding of many, as bench/fake_quant.py's "jitter": one rounding is one
 * draw, and a choice between models should not be made by a single one).
 */
export function fakeQuantize(w, map, rand) {
  const channels = map ? map.channels : 1;
  const of = channelOf(map);
  const amax = new Float64Array(channels);
  for (let i = 0; i < w.length; i++) {
    const a = Math.abs(w[i]);
    const c = of(i);
    if (a > amax[c]) amax[c] = a;
  }
  const scales = amax.map((a) => (a / 127) * (rand ? 1 + 0.01 * rand() : 1));
  for (let i = 0; i < w.length; i++) {
    const scale = scales[of(i)];
    if (!(scale > 0)) continue;
    let q = w[i] / scale;
    const f = Math.floor(q);
    const d = q - f;
    q = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
    w[i] = Math.min(127, Math.max(-127, q)) * scale;
  }
  return w;
}

/**
 * Copies of a model (and of its external data files) whose layer weights
 * are fake-quantized to INT8, as bench/fake_quant.py's "weights" job:
 * perChannel false, one scale per tensor; true, one per output channel;
 * jitter (a seed, optional): steps widened as fakeQuantize's rand does.
 * Returns { model, externalData, layers, notes } (notes: the layers left as
 * they are, and why).
 */
export function quantizeWeights(bytes, { perChannel = false, externalData, jitter } = {}) {
  const rand = jitter ? mulberry32(jitter) : undefined;
  const model = readModel(bytes);
  const copy = copyOf(bytes);
  const files = {};
  for (const [name, data] of Object.entries(externalData ?? {})) files[name] = copyOf(data);
  const list = layers(model);
  const seen = new Set();
  const notes = [];
  for (const { node, weight } of list) {
    if (seen.has(weight.ident)) continue; // a weight shared by layers is quantized once
    seen.add(weight.ident);
    const label = node.name || node.op;
    const st = storage(weight.tensor, copy, files);
    if (st.why) {
      notes.push(`${label}: ${st.why}; left as is`);
      continue;
    }
    const w = readValues(st);
    if (!w.every(Number.isFinite)) {
      notes.push(`${label}: weights not finite; left as is`);
      continue;
    }
    const map = perChannel ? channelMap(node, weight.tensor.dims) : null;
    if (map && map.why) {
      notes.push(`${label}: ${map.why}; left as is`);
      continue;
    }
    writeValues(st, fakeQuantize(w, map, rand));
  }
  return { model: copy, externalData: files, layers: list.length, notes };
}
