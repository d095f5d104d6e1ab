// onnx-proto.js — a small reader of the ONNX protobuf for what JavaScript
// needs beside the C library: the graph's structure for the page's graph
// view (graph.js) and, for verify(), where each layer's weight is stored so
// that a copy of the file can be fake-quantized in place.  It never copies a
// tensor's bytes: a tensor is the byte range of its data in the file.  The C
// library has already checked the file (check and equalize refuse a bad one);
// this reader still checks every length against what is left and throws an
// Error with a sentence on anything it cannot read.

const MAX_DEPTH = 24;
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1; // typed arrays in the file's byte order // subgraph nesting, as graph_index.c allows
const utf8 = new TextDecoder('utf-8');

// TensorProto.DataType values this file cares about
export const FLOAT = 1;
export const FLOAT16 = 10;
export const DOUBLE = 11;
const TYPE_NAMES = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool',
  10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};
export const typeName = (t) => TYPE_NAMES[t] ?? `type ${t}`;

// AttributeProto.AttributeType
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 };

function fail(what, at) {
  throw new Error(`onnx-cle: cannot read the model's ${what} at byte ${at}`);
}

/** Reads a varint at b[p]; returns [value as a Number (int64 two's complement made negative), next p]. */
function varint(b, p, end) {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  for (let i = 0; i < 10; i++) {
    if (p >= end) fail('varint', p);
    const byte = b[p++];
    if (shift < 28) lo |= (byte & 0x7f) << shift;
    else if (shift === 28) {
      lo |= (byte & 0x0f) << 28;
      hi |= (byte & 0x70) >> 4;
    } else hi |= (byte & 0x7f) << (shift - 32);
    shift += 7;
    if ((byte & 0x80) === 0) {
      lo >>>= 0;
      return [hi < 0 || hi >= 2 ** 31 ? (hi | 0) * 2 ** 32 + lo : (hi >>> 0) * 2 ** 32 + lo, p];
    }
  }
  return fail('varint', p);
}

/**
 * Calls fn(field, wire, value, start, end, at) for each field of the message in
 * b[start:end]: value is the number (varint, fixed32/64 as raw offsets),
 * [start, end) the payload of a length-delimited field, at its key's first byte.
 */
function each(b, start, end, fn) {
  let p = start;
  while (p < end) {
    const at = p;
    let key;
    [key, p] = varint(b, p, end);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      let v;
      [v, p] = varint(b, p, end);
      fn(field, wire, v, p, p, at);
    } else if (wire === 2) {
      let n;
      [n, p] = varint(b, p, end);
      if (n < 0 || n > end - p) fail(`field ${field} (length ${n})`, p);
      fn(field, wire, 0, p, p + n, at);
      p += n;
    } else if (wire === 5) {
      if (end - p < 4) fail(`field ${field}`, p);
      fn(field, wire, 0, p, p + 4);
      p += 4;
    } else if (wire === 1) {
      if (end - p < 8) fail(`field ${field}`, p);
      fn(field, wire, 0, p, p + 8);
      p += 8;
    } else fail(`field ${field} (wire type ${wire})`, p);
  }
}

const text = (b, s, e) => utf8.decode(b.subarray(s, e));
const f32 = (b, s) => new DataView(b.buffer, b.byteOffset + s, 4).getFloat32(0, true);

/** Repeated int64 (packed or not) into arr. */
function ints(b, wire, v, s, e, arr) {
  if (wire === 0) arr.push(v);
  else if (wire === 2) for (let p = s; p < e;) { let x; [x, p] = varint(b, p, e); arr.push(x); }
}

/**
 * A TensorProto: { name, dims, dataType, raw: [s, e] | null, floatData:
 * { s, e, packed } | null, int32Data (float16 stored as ints), external:
 * { location, offset, length } | null }.  Byte offsets are into b.
 */
function tensor(b, s, e) {
  const t = { name: '', dims: [], dataType: 0, raw: null, floatData: null, int32Data: false, external: null, segment: false };
  const ext = {};
  let floats = 0;
  each(b, s, e, (f, w, v, ps, pe) => {
    if (f === 1) ints(b, w, v, ps, pe, t.dims);
    else if (f === 2) t.dataType = v;
    else if (f === 3) t.segment = true;
    else if (f === 4) {
      // packed is one run; unpacked floats are one field each, which cannot be rewritten as one range
      if (w === 2) t.floatData = { s: ps, e: pe, packed: true };
      else { floats++; t.floatData = { packed: false, count: floats }; }
    } else if (f === 5) t.int32Data = true;
    else if (f === 8) t.name = text(b, ps, pe);
    else if (f === 9) t.raw = [ps, pe];
    else if (f === 13) {
      let key = '';
      let val = '';
      each(b, ps, pe, (ff, _w, _v, a, z) => {
        if (ff === 1) key = text(b, a, z);
        else if (ff === 2) val = text(b, a, z);
      });
      ext[key] = val;
    } else if (f === 14) t.dataLocation = v;
  });
  if (t.dataLocation === 1 && ext.location !== undefined) {
    t.external = {
      location: ext.location,
      offset: ext.offset === undefined ? 0 : Number(ext.offset),
      length: ext.length === undefined ? null : Number(ext.length),
    };
  }
  return t;
}

/** A ValueInfoProto: { name, type, shape } (shape: null when unknown; a dim is a number, a name or null). */
function valueInfo(b, s, e) {
  const vi = { name: '', type: null, shape: null };
  each(b, s, e, (f, _w, _v, ps, pe) => {
    if (f === 1) vi.name = text(b, ps, pe);
    else if (f === 2) {
      each(b, ps, pe, (tf, _tw, _tv, ts, te) => {
        if (tf !== 1) {
          vi.type ??= { 4: 'sequence', 5: 'map', 8: 'sparse tensor', 9: 'optional' }[tf] ?? null;
          return;
        }
        each(b, ts, te, (kf, _kw, kv, ks, ke) => {
          if (kf === 1) vi.type = typeName(kv);
          else if (kf === 2) {
            vi.shape = [];
            each(b, ks, ke, (df, _dw, _dv, ds, de) => {
              if (df !== 1) return;
              let dim = null;
              each(b, ds, de, (xf, _xw, xv, xs, xe) => {
                if (xf === 1) dim = xv;
                else if (xf === 2) dim = text(b, xs, xe) || null;
              });
              vi.shape.push(dim);
            });
          }
        });
      });
    }
  });
  return vi;
}

/** An attribute: { name, type, value } with subgraphs parsed, tensors as tensor(). */
function attribute(b, s, e, depth) {
  const a = { name: '', type: 0, value: undefined };
  const list = [];
  let f0;
  let i0;
  let s0;
  let t0;
  let g0;
  each(b, s, e, (f, w, v, ps, pe) => {
    if (f === 1) a.name = text(b, ps, pe);
    else if (f === 20) a.type = v;
    else if (f === 2) f0 = f32(b, ps);
    else if (f === 3) i0 = v;
    else if (f === 4) s0 = text(b, ps, pe);
    else if (f === 5) t0 = tensor(b, ps, pe);
    else if (f === 6) g0 = graph(b, ps, pe, depth + 1);
    else if (f === 7) {
      if (w === 5) list.push(f32(b, ps));
      else if (w === 2) for (let p = ps; p + 4 <= pe; p += 4) list.push(f32(b, p));
    } else if (f === 8) ints(b, w, v, ps, pe, list);
    else if (f === 9) list.push(text(b, ps, pe));
    else if (f === 10) list.push(tensor(b, ps, pe));
    else if (f === 11) list.push(graph(b, ps, pe, depth + 1));
  });
  // old writers leave out the type: infer it from the field that is set
  if (!a.type) {
    a.type = f0 !== undefined ? ATTR.FLOAT : i0 !== undefined ? ATTR.INT : s0 !== undefined ? ATTR.STRING
      : t0 ? ATTR.TENSOR : g0 ? ATTR.GRAPH : 0;
  }
  a.value = { [ATTR.FLOAT]: f0, [ATTR.INT]: i0, [ATTR.STRING]: s0, [ATTR.TENSOR]: t0, [ATTR.GRAPH]: g0 }[a.type] ?? list;
  return a;
}

/** A NodeProto: { name, op, domain, inputs, outputs, attrs }. */
function node(b, s, e, depth) {
  const n = { name: '', op: '', domain: '', inputs: [], outputs: [], attrs: [] };
  each(b, s, e, (f, _w, _v, ps, pe) => {
    if (f === 1) n.inputs.push(text(b, ps, pe));
    else if (f === 2) n.outputs.push(text(b, ps, pe));
    else if (f === 3) n.name = text(b, ps, pe);
    else if (f === 4) n.op = text(b, ps, pe);
    else if (f === 5) n.attrs.push(attribute(b, ps, pe, depth));
    else if (f === 7) n.domain = text(b, ps, pe);
  });
  return n;
}

/**
 * A GraphProto: { name, nodes, initializers, inputs, outputs, valueInfo }; a
 * node's span: [its field's first byte, its payload's first, the end].
 */
function graph(b, s, e, depth) {
  if (depth > MAX_DEPTH) throw new Error(`onnx-cle: the model nests subgraphs deeper than ${MAX_DEPTH} levels`);
  const g = { name: '', nodes: [], initializers: [], inputs: [], outputs: [], valueInfo: [] };
  each(b, s, e, (f, _w, _v, ps, pe, at) => {
    if (f === 1) g.nodes.push({ ...node(b, ps, pe, depth), span: [at, ps, pe] });
    else if (f === 2) g.name = text(b, ps, pe);
    else if (f === 5) g.initializers.push(tensor(b, ps, pe));
    else if (f === 11) g.inputs.push(valueInfo(b, ps, pe));
    else if (f === 12) g.outputs.push(valueInfo(b, ps, pe));
    else if (f === 13) g.valueInfo.push(valueInfo(b, ps, pe));
  });
  return g;
}

/**
 * Reads a model: { irVersion, opset: { domain: version }, producer, graph }.
 * bytes: the .onnx file (any Uint8Array view).
 */
export function readModel(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('onnx-cle: the model must be a Uint8Array');
  const m = { irVersion: 0, opset: {}, producer: '', graph: null };
  each(bytes, 0, bytes.length, (f, _w, v, ps, pe, at) => {
    if (f === 1) m.irVersion = v;
    else if (f === 2) m.producer = text(bytes, ps, pe);
    else if (f === 7) m.graph = { ...graph(bytes, ps, pe, 0), span: [at, ps, pe] };
    else if (f === 8) {
      let domain = '';
      let version = 0;
      each(bytes, ps, pe, (ff, _ww, vv, a, z) => {
        if (ff === 1) domain = text(bytes, a, z);
        else if (ff === 2) version = vv;
      });
      m.opset[domain] = version;
    }
  });
  if (!m.graph) throw new Error('onnx-cle: the model has no graph');
  return m;
}

/** An attribute's value by name, or dflt. */
export function attrOf(n, name, dflt) {
  const a = n.attrs.find((x) => x.name === name);
  return a === undefined || a.value === undefined ? dflt : a.value;
}

export { ATTR };

// ---------------------------------------------------------------- layers

export const LAYER_OPS = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'];

/**
 * name → { tensor, ident } for constants (initializers, Constant nodes'
 * `value`), null for other values defined in this graph: the scoping of
 * bench/fake_quant.py's local_defs (node outputs shadow initializers).
 */
export function localDefs(g, path = '') {
  const defs = new Map();
  for (const v of g.inputs) defs.set(v.name, null);
  for (const t of g.initializers) defs.set(t.name, { tensor: t, ident: `${path}|${t.name}` });
  for (const n of g.nodes) {
    for (const o of n.outputs) defs.set(o, null);
    if (n.op === 'Constant' && n.outputs.length) {
      for (const a of n.attrs) {
        if (a.name === 'value' && a.type === ATTR.TENSOR) defs.set(n.outputs[0], { tensor: a.value, ident: `${path}|${n.outputs[0]}` });
      }
    }
  }
  return defs;
}

/** Every node depth first into GRAPH attributes: fn(node, path, scopes, index). */
export function walk(g, fn, scopes = [], path = '') {
  const inner = [...scopes, localDefs(g, path)];
  g.nodes.forEach((n, i) => {
    fn(n, path, inner, i);
    for (const a of n.attrs) if (a.type === ATTR.GRAPH && a.value) walk(a.value, fn, inner, `${path}/${i}.${a.name}`);
  });
}

function resolve(name, scopes) {
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].has(name)) return scopes[i].get(name);
  return null;
}

/**
 * The layers bench/fake_quant.py quantizes: every Conv, ConvTranspose, Gemm
 * and MatMul (subgraphs too) whose weight (input 1) is a float32 or float16
 * constant.  [{ node, path, index (in its graph's nodes), weight: { tensor, ident } }].
 */
export function layers(model) {
  const out = [];
  walk(model.graph, (n, path, scopes, index) => {
    if (!LAYER_OPS.includes(n.op) || n.inputs.length < 2) return;
    const c = resolve(n.inputs[1], scopes);
    if (!c || (c.tensor.dataType !== FLOAT && c.tensor.dataType !== FLOAT16)) return;
    out.push({ node: n, path, index, weight: c });
  });
  return out;
}

// ---------------------------------------------------------------- tensor data

/** Float16 bits → number, exactly. */
export function halfToNumber(h) {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const s = h & 0x8000 ? -1 : 1;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function roundHalfEven(v) {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** A number → float16 bits, rounded once to nearest even (as numpy's astype(float16)). */
export function numberToHalf(x) {
  if (Number.isNaN(x)) return 0x7e00;
  const s = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return s | 0x7c00;
  if (a < 2 ** -14) return s | roundHalfEven(a * 2 ** 24); // subnormal (1024 carries into the exponent)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  if (e > 15) return s | 0x7c00;
  return s | ((e + 15) << 10) | m;
}

/**
 * Where a float tensor's values are: { bytes, at, count, half } (bytes: the
 * model's or an external data file's), or { why } when they cannot be read
 * or written in place.
 */
export function storage(t, bytes, externalData) {
  const count = t.dims.reduce((a, d) => a * d, 1);
  const half = t.dataType === FLOAT16;
  const size = half ? 2 : 4;
  if (t.segment) return { why: 'stored in segments' };
  if (t.external) {
    const file = externalData?.[t.external.location];
    if (!file) return { why: `its external data file '${t.external.location}' was not given` };
    const length = t.external.length ?? count * size;
    if (length !== count * size || t.external.offset + length > file.length) return { why: 'its external data does not match its size' };
    return { bytes: file, at: t.external.offset, count, half, file: t.external.location };
  }
  if (t.raw) {
    if (t.raw[1] - t.raw[0] !== count * size) return { why: 'its raw data does not match its size' };
    return { bytes, at: t.raw[0], count, half };
  }
  if (!half && t.floatData?.packed) {
    if (t.floatData.e - t.floatData.s !== count * 4) return { why: 'its float data does not match its size' };
    return { bytes, at: t.floatData.s, count, half };
  }
  if (count === 0) return { why: 'empty' };
  return { why: half ? 'float16 values kept in int32_data cannot be rewritten in place' : 'its floats are not packed' };
}

/** A copy of b[start:end] in a new buffer (a Node Buffer's slice() would share its memory). */
export const copyOf = (b, start = 0, end = b.length) => Uint8Array.prototype.slice.call(b, start, end);

/** The values of a storage(): a Float32Array (float32) or Float64Array (float16), a copy. */
export function readValues(st) {
  const n = st.count * (st.half ? 2 : 4);
  const copy = copyOf(st.bytes, st.at, st.at + n); // aligned, whatever the offset in the file
  if (!st.half) return LITTLE ? new Float32Array(copy.buffer) : Float32Array.from({ length: st.count }, (_, i) => new DataView(copy.buffer).getFloat32(4 * i, true));
  const dv = new DataView(copy.buffer);
  const v = new Float64Array(st.count);
  for (let i = 0; i < st.count; i++) v[i] = halfToNumber(dv.getUint16(2 * i, true));
  return v;
}

/** Writes values back into a storage(), each rounded once to its type. */
export function writeValues(st, v) {
  if (!st.half && LITTLE) {
    const f = v instanceof Float32Array ? v : Float32Array.from(v);
    st.bytes.set(new Uint8Array(f.buffer, f.byteOffset, f.byteLength), st.at);
    return;
  }
  const dv = new DataView(st.bytes.buffer, st.bytes.byteOffset + st.at, st.count * (st.half ? 2 : 4));
  if (st.half) for (let i = 0; i < st.count; i++) dv.setUint16(2 * i, numberToHalf(v[i]), true);
  else for (let i = 0; i < st.count; i++) dv.setFloat32(4 * i, v[i], true);
}

/**
 * The output channel of each weight element, as bench/fake_quant.py's
 * channel_view: { channels, of(i), and block (elements per channel, one
 * after another) or cycle (channels interleaved) where that holds } or null when the tensor has no output
 * channel axis (a 1-D MatMul weight) — or { why } when it cannot be split.
 */
export function channelMap(n, dims) {
  const total = dims.reduce((a, d) => a * d, 1);
  if (n.op === 'Conv') {
    const per = total / (dims[0] || 1);
    return { channels: dims[0], of: (i) => Math.floor(i / per), block: per };
  }
  if (n.op === 'ConvTranspose') {
    const g = attrOf(n, 'group', 1);
    if (dims[0] % g) return { why: 'group does not divide the weight' };
    const k = dims.slice(2).reduce((a, d) => a * d, 1);
    const mg = dims[1];
    const cg = dims[0] / g;
    return { channels: g * mg, of: (i) => Math.floor(Math.floor(i / (mg * k)) / cg) * mg + (Math.floor(i / k) % mg) };
  }
  if (n.op === 'Gemm') {
    if (attrOf(n, 'transB', 0)) return { channels: dims[0], of: (i) => Math.floor(i / dims[1]), block: dims[1] };
    return { channels: dims[1], of: (i) => i % dims[1], cycle: dims[1] };
  }
  if (dims.length < 2) return null;
  const last = dims[dims.length - 1];
  return { channels: last, of: (i) => i % last, cycle: last };
}


/** A function giving element i's channel (0 for one channel), fast for the common forms. */
export function channelOf(map) {
  if (!map) return () => 0;
  const { block, cycle } = map;
  if (block) return (i) => Math.floor(i / block);
  if (cycle) return (i) => i % cycle;
  return map.of;
}

// ---------------------------------------------------------------- writing

const utf8out = new TextEncoder();

/** A varint's bytes; n a Number (negative: ten bytes, two's complement) or a BigInt. */
function varintBytes(n) {
  let x = BigInt.asUintN(64, BigInt(n));
  const out = [];
  do {
    const byte = Number(x & 0x7fn);
    x >>= 7n;
    out.push(x ? byte | 0x80 : byte);
  } while (x);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A protobuf message from [field, value] pairs: numbers are varints,
 * { f32 } a fixed32 float, strings and bytes length-delimited; undefined
 * and null are left out.
 */
export function message(fields) {
  const parts = [];
  for (const [f, v] of fields) {
    if (v === undefined || v === null) continue;
    if (v.f32 !== undefined) {
      parts.push(Uint8Array.from(varintBytes(f * 8 + 5)), new Uint8Array(Float32Array.of(v.f32).buffer));
    } else if (typeof v === 'number' || typeof v === 'bigint') {
      parts.push(Uint8Array.from([...varintBytes(f * 8), ...varintBytes(v)]));
    } else {
      const bytes = typeof v === 'string' ? utf8out.encode(v) : v;
      parts.push(Uint8Array.from([...varintBytes(f * 8 + 2), ...varintBytes(bytes.length)]), bytes);
    }
  }
  return concat(parts);
}

/** NodeProto: { op, inputs, outputs, name?, attrs? } (an attribute: { name, i } or { name, ints }). */
export function encodeNode(n) {
  const attr = (a) => message(a.ints ? [[1, a.name], ...a.ints.map((x) => [8, x]), [20, ATTR.INTS]] : [[1, a.name], [3, a.i], [20, ATTR.INT]]);
  return message([
    ...n.inputs.map((x) => [1, x]), ...n.outputs.map((x) => [2, x]), [3, n.name || undefined], [4, n.op],
    ...(n.attrs ?? []).map((a) => [5, attr(a)]),
  ]);
}

/** TensorProto: { name, dims, dataType, raw (bytes, little-endian) }. */
export function encodeTensor(t) {
  return message([...t.dims.map((d) => [1, d]), [2, t.dataType], [8, t.name], [9, t.raw]]);
}

/** ValueInfoProto of a tensor whose shape is not said: { name, dataType }. */
export function encodeValueInfo(v) {
  return message([[1, v.name], [2, message([[1, message([[1, v.dataType]])]])]]);
}

/**
 * A copy of the model with its main graph extended (model: readModel's of
 * the same bytes): inputs appended to nodes (edit.inputs: Map of the node's
 * index in model.graph.nodes to names; a node's repeated `input` field may
 * continue after its other fields), and nodes, initializers and outputs
 * appended (encoded by the functions above).  Everything else is copied
 * byte for byte.
 */
export function extendGraph(bytes, model, edit) {
  const [at, ps, pe] = model.graph.span;
  const parts = [];
  let p = ps;
  model.graph.nodes.forEach((n, i) => {
    const more = edit.inputs?.get(i);
    if (!more) return;
    const [from, body, end] = n.span;
    parts.push(bytes.subarray(p, from));
    parts.push(message([[1, concat([bytes.subarray(body, end), ...more.map((x) => message([[1, x]]))])]]));
    p = end;
  });
  parts.push(bytes.subarray(p, pe));
  for (const n of edit.nodes ?? []) parts.push(message([[1, n]]));
  for (const t of edit.initializers ?? []) parts.push(message([[5, t]]));
  for (const v of edit.outputs ?? []) parts.push(message([[12, v]]));
  return concat([bytes.subarray(0, at), message([[7, concat(parts)]]), bytes.subarray(pe)]);
}
