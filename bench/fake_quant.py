#!/usr/bin/python3
"""Fake quantization for the quality benchmark: the one place that says what
"INT8" means in bench/quant.mjs and tests/js/quality.test.mjs.

usage: /usr/bin/python3 bench/fake_quant.py JOBS.json
JOBS.json is a list of jobs; each is one of
  {"job": "weights", "model": IN, "per_tensor": OUT1, "per_channel": OUT2}
     (optional: "jitter": a seed, each step widened by a random 0..1%;
      "only": K, the K-th layer of the "layers" job's list alone)
  {"job": "layers",  "model": IN}
  {"job": "probe",   "model": IN, "out": OUT}
  {"job": "w8a8",    "model": IN, "ranges": {key: [min, max]}, "out": OUT}
  {"job": "verify",  "model": IN, "quantized": OUT1, "per_channel": false}
(per_tensor / per_channel may be left out). Prints a JSON list with one
result per job.  layers: {"layers": [{"path", "node", "op"}]}, the layers
below in the order "only" counts them (path: the graph, "" for the main one).

Layers: every Conv, ConvTranspose, Gemm and MatMul node, in the main graph
and in the subgraphs of If/Loop/Scan nodes, whose weight input (input 1: W of
Conv/ConvTranspose, B of Gemm/MatMul) is a constant: an initializer or a
Constant node's `value`, in the node's own graph or an enclosing one (ONNX
scoping), float32 or float16. Others (a MatMul of two activations, a weight
computed at run time) are not layers and stay float. Biases stay float.

weights: each layer's weight replaced by its symmetric INT8 fake-quantized
value, computed in float64 from the stored values and stored back in the
tensor's own type:
  scale = max|W| / 127 over the tensor (per tensor) or over each output
  channel (per channel); q = clamp(round_half_even(W / scale), -127, 127);
  W' = q * scale. A scale of 0 (all zeros) leaves the values as they are.
Output channels: Conv W[M, C/g, k...]: axis 0. ConvTranspose W[C, M/g, k...]
with group g: output channel gi*(M/g) + j is W[gi*C/g:(gi+1)*C/g, j, ...].
Gemm B: axis 1, or axis 0 when transB = 1. MatMul B[..., K, N]: the last
axis (every other axis reduced); a 1-D B has no output channel: per tensor.

probe: a copy of the model in which the data input of every layer (input 0;
the activation the layer multiplies) is also a graph output, through an
Identity node, so that running it gives the activation ranges. Inside If
branches the tensor leaves through new outputs of the If (the other branch
gives an empty tensor there); Loop and Scan bodies are not probed. Result:
{"probes": [{"output", "key", "dtype"}]}; key names the tensor and its graph.

w8a8: per-tensor weights as above, and in front of every layer whose input
has a range, per-tensor asymmetric UINT8 fake quantization of that input:
  lo = min(min, 0), hi = max(max, 0), s = (hi - lo) / 255,
  zp = clamp(round(-lo / s), 0, 255), x' = (clamp(floor(x / s + zp + 0.5), 0, 255) - zp) * s
computed in float32 (a float16 input is cast to float32 and back), written
with Div/Add/Floor/Max/Min/Sub/Mul so it runs in every opset the models use
(QuantizeLinear needs opset 10, PP-OCR rec/cls are opset 9). It is
QuantizeLinear + DequantizeLinear except that ties round up, not to even.
Layers sharing an input share one quantizer.
"""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYER_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16)
SUBGRAPH_OPS = ("If", "Loop", "Scan")


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


class Const:
    """Where a constant tensor lives: an initializer or a Constant node's value."""

    def __init__(self, holder, field, ident):
        self.holder, self.field = holder, field  # the TensorProto, or the Constant node and its attribute
        self.ident = ident  # (graph path, name): the same for every layer that shares it

    def tensor(self):
        return self.holder if self.field is None else self.field.t

    def get(self):
        return numpy_helper.to_array(self.tensor())

    def set(self, arr):
        t = self.tensor()
        new = numpy_helper.from_array(arr.astype(arr.dtype), t.name)
        t.CopyFrom(new)


def local_defs(graph, path):
    """name -> Const for constants, None for other values defined in this graph."""
    defs = {}
    for v in graph.input:
        defs[v.name] = None
    for t in graph.initializer:
        defs[t.name] = Const(t, None, (path, t.name))
    for n in graph.node:
        for o in n.output:
            defs[o] = None
        if n.op_type == "Constant" and n.output:
            for a in n.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    defs[n.output[0]] = Const(n, a, (path, n.output[0]))
    return defs


def walk(graph, scopes=(), path=""):
    """Yields (graph, path, node, index, scopes) for every node, depth first into subgraphs."""
    scopes = scopes + (local_defs(graph, path),)
    for i, n in enumerate(graph.node):
        yield graph, path, n, i, scopes
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from walk(a.g, scopes, f"{path}/{i}.{a.name}")


def resolve(name, scopes):
    for defs in reversed(scopes):
        if name in defs:
            return defs[name]
    return None


def layers(model):
    """[(graph, path, node, const, index in its graph)] for every layer with a constant float weight."""
    out = []
    for graph, path, n, i, scopes in walk(model.graph):
        if n.op_type not in LAYER_OPS or len(n.input) < 2:
            continue
        c = resolve(n.input[1], scopes)
        if c is None or c.tensor().data_type not in FLOATS:
            continue
        out.append((graph, path, n, c, i))
    return out


def channel_view(op, node, w):
    """w reshaped so that output channels are one axis; returns (view, reduce_axes)."""
    if op == "Conv":
        return w, tuple(range(1, w.ndim))
    if op == "ConvTranspose":
        g = attr(node, "group", 1)
        v = w.reshape((g, w.shape[0] // g) + w.shape[1:])
        return v, (1,) + tuple(range(3, v.ndim))
    if op == "Gemm":
        return w, (1,) if attr(node, "transB", 0) else (0,)
    if op == "MatMul":
        return (w, None) if w.ndim < 2 else (w, tuple(range(w.ndim - 1)))
    raise ValueError(op)


def quantize(w, axes, jitter=None):
    """Symmetric INT8 fake quantization of w (float64) over the given reduce axes (None: whole tensor).
    jitter: a numpy Generator that widens each step by a random 0..1%, so that
    the rounding falls differently while the noise stays the same size."""
    amax = np.max(np.abs(w), axis=axes, keepdims=axes is not None)
    scale = amax / 127.0
    if jitter is not None:
        scale = scale * (1 + 0.01 * jitter.random(np.shape(scale)))
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(w / safe), -127, 127) * safe
    return np.where(scale > 0, q, w)


def fake_quant_weight(layer, per_channel, jitter=None):
    graph, path, node, c, _ = layer
    w = c.get()
    if not np.all(np.isfinite(w)):
        return "weights not finite; left as is"
    w64 = w.astype(np.float64)
    if per_channel:
        if node.op_type == "ConvTranspose" and w.shape[0] % attr(node, "group", 1):
            return "group does not divide the weight; left as is"
        v, axes = channel_view(node.op_type, node, w64)
        q = quantize(v, axes, jitter).reshape(w.shape)
    else:
        q = quantize(w64, None, jitter)
    c.set(q.astype(w.dtype))
    return None


def job_weights(job):
    res = {}
    for key, per_channel in (("per_tensor", False), ("per_channel", True)):
        if not job.get(key):
            continue
        m = onnx.load(job["model"])
        ls = layers(m)
        seen, notes = set(), []
        jitter = np.random.default_rng(job["jitter"]) if job.get("jitter") else None
        for k, layer in enumerate(ls):
            if job.get("only") is not None and k != job["only"]:
                continue
            if layer[3].ident in seen:  # a weight shared by layers is quantized once
                continue
            seen.add(layer[3].ident)
            why = fake_quant_weight(layer, per_channel, jitter)
            if why:
                notes.append(f"{layer[2].name or layer[2].op_type}: {why}")
        onnx.save(m, job[key])
        res[key] = {"layers": len(ls), "notes": notes}
    return res


def job_layers(job):
    return {"layers": [{"path": path, "node": node.name, "op": node.op_type}
                       for _, path, node, _, _ in layers(onnx.load(job["model"]))]}


# ---------------------------------------------------------------- activations


def activation_sites(model):
    """{graph path: [(node, key, dtype, index)]}: each layer's data input, keyed by graph path and name."""
    sites = {}
    for graph, path, node, c, i in layers(model):
        x = node.input[0]
        if not x:
            continue
        sites.setdefault(path, []).append((node, f"{path}|{x}", c.tensor().data_type, i))
    return sites


def job_probe(job):
    m = onnx.load(job["model"])
    sites = activation_sites(m)
    counter = [0]
    probes = []

    def fresh(stem):
        counter[0] += 1
        return f"__probe{counter[0]}_{stem}"

    def expose(graph, path):
        """Adds Identity nodes for this graph's sites and its subgraphs' probes;
        returns [(value name in this graph, key, dtype)]."""
        found = []
        done = {}
        for node, key, dtype, _ in sites.get(path, []):
            if key in done:
                continue
            name = fresh("x")
            graph.node.append(helper.make_node("Identity", [node.input[0]], [name]))
            done[key] = name
            found.append((name, key, dtype))
        for i, n in enumerate(list(graph.node)):
            if n.op_type != "If":
                continue
            branches = [a for a in n.attribute if a.type == onnx.AttributeProto.GRAPH]
            inner = [(a, expose(a.g, f"{path}/{i}.{a.name}")) for a in branches]
            everything = [(a.name, item) for a, items in inner for item in items]
            for a, items in inner:
                mine = {key for _, key, _ in items}
                by_key = {key: name for name, key, _ in items}
                for owner, (name, key, dtype) in everything:
                    if key in mine:
                        out = by_key[key]
                    else:
                        out = fresh("empty")
                        a.g.node.append(helper.make_node(
                            "Constant", [], [out],
                            value=helper.make_tensor(out, dtype, [0], [])))
                    a.g.output.append(helper.make_tensor_value_info(out, dtype, None))
            for owner, (name, key, dtype) in everything:
                out = fresh("if")
                n.output.append(out)
                found.append((out, key, dtype))
        return found

    for name, key, dtype in expose(m.graph, ""):
        m.graph.output.append(helper.make_tensor_value_info(name, dtype, None))
        probes.append({"output": name, "key": key, "dtype": "float16" if dtype == TensorProto.FLOAT16 else "float32"})
    onnx.save(m, job["out"])
    return {"probes": probes}


def fq_nodes(graph, x, lo, hi, dtype, tag):
    """Nodes and initializers computing x's UINT8 fake quantization; returns (nodes, name)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    s = np.float32((hi - lo) / 255.0)
    zp = float(np.clip(np.rint(-lo / s), 0, 255))
    consts = {"s": s, "zph": np.float32(zp + 0.5), "zero": np.float32(0), "top": np.float32(255), "zp": np.float32(zp)}
    for k, v in consts.items():
        graph.initializer.append(numpy_helper.from_array(np.array(v, np.float32), f"{tag}_{k}"))
    nodes, cur = [], x
    if dtype == TensorProto.FLOAT16:
        nodes.append(helper.make_node("Cast", [cur], [f"{tag}_f32"], to=TensorProto.FLOAT))
        cur = f"{tag}_f32"
    for op, other, out in (("Div", "s", "d"), ("Add", "zph", "a"), ("Floor", None, "r"), ("Max", "zero", "lo"),
                           ("Min", "top", "hi"), ("Sub", "zp", "c"), ("Mul", "s", "y")):
        nodes.append(helper.make_node(op, [cur] + ([f"{tag}_{other}"] if other else []), [f"{tag}_{out}"]))
        cur = f"{tag}_{out}"
    if dtype == TensorProto.FLOAT16:
        nodes.append(helper.make_node("Cast", [cur], [f"{tag}_f16"], to=TensorProto.FLOAT16))
        cur = f"{tag}_f16"
    return nodes, cur


def job_w8a8(job):
    m = onnx.load(job["model"])
    ranges = job["ranges"]
    ls = layers(m)
    seen, notes = set(), []
    for layer in ls:
        if layer[3].ident not in seen:
            seen.add(layer[3].ident)
            why = fake_quant_weight(layer, False)
            if why:
                notes.append(f"{layer[2].name or layer[2].op_type}: {why}")
    sites = activation_sites(m)
    graphs = {path: graph for graph, path, _, _, _ in walk(m.graph)}  # every graph that has a node
    graphs[""] = m.graph
    quantized, unranged, count = 0, 0, 0
    for path, items in sites.items():
        graph = graphs[path]
        made, before = {}, {}
        for node, key, dtype, i in items:
            r = ranges.get(key)
            if r is None or not (np.isfinite(r[0]) and np.isfinite(r[1])) or r[1] - r[0] <= 0:
                unranged += 1
                continue
            if key not in made:
                count += 1
                nodes, name = fq_nodes(graph, node.input[0], r[0], r[1], dtype, f"__fq{count}")
                before.setdefault(i, []).extend(nodes)
                made[key] = name
            node.input[0] = made[key]
            quantized += 1
        if before:
            old = [type(n)() for n in graph.node]
            for i, n in enumerate(graph.node):
                old[i].CopyFrom(n)
            del graph.node[:]
            for i, n in enumerate(old):
                graph.node.extend(before.get(i, []))
                graph.node.append(n)
    onnx.save(m, job["out"])
    return {"layers": len(ls), "activations_quantized": quantized, "activations_unranged": unranged, "notes": notes}


def job_verify(job):
    """Checks a weights job's output against its input: every layer's weight on
    the INT8 grid of its own scale (levels within +-127, at most half a step
    away; float16 tensors within their own rounding), the largest magnitude on
    +-127. Returns the worst figures; tests assert on them."""
    orig, quant = layers(onnx.load(job["model"])), layers(onnx.load(job["quantized"]))
    if len(orig) != len(quant):
        return {"error": f"{len(orig)} layers before, {len(quant)} after"}
    worst = {"layers": len(orig), "max_level": 0.0, "max_off_grid": 0.0, "max_error_steps": 0.0, "extreme_not_127": 0}
    for a, b in zip(orig, quant):
        w = a[3].get().astype(np.float64)
        q = b[3].get().astype(np.float64).reshape(w.shape)
        if job["per_channel"]:
            w, axes = channel_view(a[2].op_type, a[2], w)
            q = q.reshape(w.shape)
        else:
            axes = None
        amax = np.max(np.abs(w), axis=axes, keepdims=axes is not None)
        step = np.where(amax > 0, amax / 127.0, 1.0)
        k = q / step
        tol = 2.0 ** -10 * 127 if b[3].tensor().data_type == TensorProto.FLOAT16 else 1e-6 * 127
        worst["max_level"] = max(worst["max_level"], float(np.max(np.abs(k))))
        worst["max_off_grid"] = max(worst["max_off_grid"], float(np.max(np.abs(k - np.rint(k)))) - tol)
        worst["max_error_steps"] = max(worst["max_error_steps"], float(np.max(np.abs(q - w) / step)))
        top = np.max(np.abs(k), axis=axes)
        worst["extreme_not_127"] += int(np.sum((np.max(np.abs(w), axis=axes) > 0) & (np.abs(top - 127) > 127 * tol + 1e-9)))
    return worst


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    run = {"weights": job_weights, "layers": job_layers, "probe": job_probe, "w8a8": job_w8a8, "verify": job_verify}
    print(json.dumps([run[j["job"]](j) for j in jobs]))


if __name__ == "__main__":
    main()
