#!/usr/bin/python3
"""The equalizer of src/cle.c written plainly in Python with onnx + numpy,
for bench/run.mjs: the speed ratio, and a check that both give the same
weights.

usage: /usr/bin/python3 bench/ref_cle.py IN.onnx OUT.onnx [--reference] [--tolerance=X] [--json]
       /usr/bin/python3 bench/ref_cle.py --compare A.onnx B.onnx

What it does is what `onnx-cle equalize --objective=balance --batch-norm=fold
--hbf` does (range balancing; the default objective, noise, is not here),
(a function that mirrors one of ours names it in its docstring or comment):
BatchNormalization folded into the Conv/ConvTranspose/Gemm before it (not
one that names its running statistics), and the constant Mul/Div/Add/Sub
nodes after that (PaddlePaddle's learnable affine; scalars or one value per
channel, at most four) folded in too; a BatchNormalization elsewhere in a
region kept, its mean and bias divided by the scales;
regions (a layer's output, the channel-preserving ops after it, the tensors
Add/Concat join to it) found with a union-find over tensors, channel counts
carried through them (a Resize's constant sizes set its count; a Concat
input's unknown count taken from value_info); passing through: Relu, PRelu,
LeakyRelu, Clip, pools, Dropout, Identity, float Casts, Pad by zeros,
Resize/Upsample that keep N and C (scales, constant sizes, or sizes taken
from the input's own shape), an inference BatchNormalization, and
Add/Sub/Max/Min/Mul/Div with one constant operand (Mul/Div as they are, the
others' constant rewritten per channel, c / s); Shape/Size readers leave a
region alone; blocked as ours blocks: broadcasting joins, a MatMul's
last-axis channels meeting a convolution's, a tensor read in a subgraph, a
Clip or Max/Min bound before opset 8, a crop filled with a constant;
every open region balanced with s_c = sqrt(producer range / consumer
range), ranges taken as per-channel abs-max over the other layer's weights
(max aggregation, float32), a depthwise layer balanced with both
neighbours (the triplet rule), rounds in region order until no scale moves
by more than the tolerance (1e-4, in |log|) or 1000 rounds (balancing's own
limit in src/cle.c cle_round_limit), over-relaxed from round 20 on while the
rounds converge slowly (a move at least 0.8 of the round before's) until
round 200 (each scale moved as t sqrt(t) for the rule's step t: resnet-100m
60 rounds, vgg16 86), the
ranges of later rounds taken over each layer's entries near their row's or
column's maximum alone (class Maxima: the same float32 maxima, far fewer
reads, as src/cle_balance.c's candidate lists); scales clamped to [1e-4, 1e4]; ReLU6
kept exact (Clip -> Relu + Min with per-channel bounds); high-bias
absorption (not in a region with a rewritten node), its sums in the C
loop's order; weights rewritten once with their factors in double.
--reference: the reference's scope (Conv/ConvTranspose pairs through
Relu/PRelu/Clip only, one round, no clamp, ReLU6 replaced by Relu, HBF even
next to padding).

Weights may be initializers or Constant nodes.  Not covered (ours does
them; here the layer is left alone, and --json says "covers": false with
the reason): float16 weights (and float16's window on the scales), layers
inside If/Loop/Scan subgraphs, tensors in external data.  --compare
compares layers' weights and biases and Clip bounds, not the other
rewritten constants (a kept BatchNormalization's, a constant operand's).

The timing printed (--json) runs from the model's bytes to the output's
bytes (onnx.load_from_string .. SerializeToString), as run.mjs times ours
from bytes in to bytes out; file reads and writes are outside both.
"""
import json
import math
import sys
import time

import numpy as np
import onnx
from onnx import helper, numpy_helper

PASS_OPS = {"Relu", "PRelu", "LeakyRelu", "Identity", "GlobalAveragePool", "GlobalMaxPool"}
HBF_OPS = {"Relu", "MaxPool", "GlobalAveragePool", "GlobalMaxPool", "Identity", "Dropout"}
LAYER_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
# over-relaxed balancing rounds (cle_balance.c OVER_FROM, OVER_SLOW, OVER_UNTIL)
OVER_FROM, OVER_SLOW, OVER_UNTIL = 20, 0.8, 200


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


class Layer:
    why = None
    bn = bias_add = b_name = None
    affine = ()  # constant Mul/Div/Add/Sub nodes folded after it, in the order they run
    bnk = None  # the batch norm's factor alone (kf: with the affines' too)
    in_region = out_region = None
    in_off = out_off = 0
    in_rep = 1
    active = False
    kf = None
    bias = None

    def __init__(self, node):
        self.node = node
        self.kind = node.op_type


class Maxima:
    """One side of a layer's ranges: for each row of mat (shape [groups][n][k],
    float32 |w|), max_j mat[g][i][j] * vec[g k + j], the products in float32.

    The full computation reads every entry.  The shortcut (after src/cle_balance.c's
    candidate lists; the same products and maxima, bit for bit): an entry below
    its row's maximum / SPREAD under the weights vec0 of a full pass cannot
    overtake that maximum while the weights move by less than SPREAD overall
    (max over min of vec / vec0), so while they do, the maxima are taken over
    the entries kept by that pass alone (a few per cent of them).  A list is
    built on a full pass only when the weights moved by less than SPREAD since
    the pass before (early rounds move them too far for a list to serve),
    or when the list it replaces had served."""

    SPREAD = 1.5
    MIN_ENTRIES = 1 << 14  # smaller layers: a full computation costs next to nothing
    TINY = 1e-30  # a row whose maximum is below: every entry kept (subnormal products round differently)

    def __init__(self, mat):
        self.mat = mat
        self.vec0 = None  # the weights of the last full computation
        self.kept = None  # (entries' |w|, their weights' index, each row's first entry) or None
        self.served = False  # the list gave maxima at least once
        self.last = None  # (weights, maxima) of the last call: same weights, same maxima

    def near(self, vec):
        """vec moved by less than SPREAD from vec0 overall; the margin covers
        the float rounding of the products and the thresholds."""
        both0 = (vec == 0) & (self.vec0 == 0)  # their products are 0 either way
        x, x0 = vec[~both0].astype(np.float64), self.vec0[~both0].astype(np.float64)
        if not (np.isfinite(x).all() and np.isfinite(x0).all() and (x > 0).all() and (x0 > 0).all()):
            return False
        if x.size == 0:
            return True
        r = x / x0
        return r.max() <= r.min() * (self.SPREAD * (1 - 1e-6))

    def maxima(self, vec):
        if self.last is not None and np.array_equal(vec, self.last[0]):
            return self.last[1]
        g, n, k = self.mat.shape
        near = self.vec0 is not None and self.mat.size >= self.MIN_ENTRIES and self.near(vec)
        if near and self.kept is not None:
            w, at, first = self.kept
            mx = np.maximum.reduceat(w * vec[at], first)
            self.served = True
        else:
            p = self.mat * vec.reshape(g, 1, k)
            mx = p.max(axis=2)
            if (near or self.served) and np.isfinite(mx).all():
                # keep the entries within SPREAD of their row's maximum
                thr = np.where(mx >= self.TINY, mx / np.float32(self.SPREAD), np.float32(0))
                gi, i, j = np.nonzero(p >= thr[:, :, None])  # in row order, every row has one
                first = np.flatnonzero(np.diff(gi * n + i, prepend=-1))
                self.kept = (self.mat[gi, i, j], gi * k + j, first)
            else:
                self.kept = None
            self.served = False
            self.vec0 = vec
            mx = mx.reshape(-1)
        self.last = (vec, mx)
        return mx


class Ref:
    def __init__(self, model, reference=False):
        self.m = model
        self.g = model.graph
        self.reference = reference
        self.max_rounds = 1 if reference else 1000
        self.tolerance = 1e-4
        self.over_on = False  # this round over-relaxes (equalize)
        self.max_scale = None if reference else 1e4  # cle.c eq_max_scale: the reference has no clamp
        g = self.g
        self.inits = {t.name: t for t in g.initializer}
        self.arr = {}  # constants read so far (views of raw_data where possible)
        self.producer = {}
        self.uses = {}
        for n in g.node:
            for i, x in enumerate(n.input):
                if x:
                    self.uses.setdefault(x, []).append((n, i))
            for x in n.output:
                if x:
                    self.producer[x] = n
        self.outputs = {o.name for o in g.output}
        self.inputs = {i.name for i in g.input} - set(self.inits)
        self.subgraph_reads = set()  # names a subgraph (If, Loop, Scan) reads from outside
        for n in g.node:
            for a in n.attribute:
                for sg in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    self.subgraph_reads |= subgraph_reads(sg)
        self.consts, self.const_node = {}, {}
        for n in g.node:
            if n.op_type == "Constant" and attr(n, "value") is not None:
                self.consts[n.output[0]] = attr(n, "value")
                self.const_node[n.output[0]] = n

    # ---- constants --------------------------------------------------------

    def const(self, name):
        if not name:
            return None
        if name in self.arr:
            return self.arr[name]
        t = self.inits.get(name) or self.consts.get(name)
        if t is None or t.data_location == onnx.TensorProto.EXTERNAL:
            return None
        a = numpy_helper.to_array(t)
        self.arr[name] = a
        return a

    def is_float_const(self, name):
        a = self.const(name)
        return a is not None and a.dtype in (np.float32, np.float16)

    def used_elsewhere(self, name, node):
        return name in self.outputs or any(u is not node for u, _ in self.uses.get(name, []))

    # ---- planning ---------------------------------------------------------

    def plan_layer(self, n):
        l = Layer(n)
        w = self.const(n.input[1]) if len(n.input) > 1 else None
        if w is None:
            l.why = "weight not a constant"
            return l
        if w.dtype != np.float32:
            l.why = "not float32"
            return l
        if self.used_elsewhere(n.input[1], n):
            l.why = "shared weight"
            return l
        l.w_name = n.input[1]
        l.w = w
        if l.kind in ("Conv", "ConvTranspose"):
            if w.ndim < 3:
                l.why = "weight rank"
                return l
            groups = attr(n, "group", 1)
            if groups < 1 or w.shape[0] % groups:
                l.why = "group"
                return l
            l.d0, l.d1, l.k, l.groups = w.shape[0], w.shape[1], int(np.prod(w.shape[2:])), groups
            l.lead_out = l.kind == "Conv"
            if l.lead_out:
                l.c_out, l.c_in = l.d0, l.d1 * groups
            else:
                l.c_in, l.c_out = l.d0, l.d1 * groups
            l.ref_ok = groups == 1 or (l.d1 == 1 and l.c_in == l.c_out)
            if len(n.input) > 2 and n.input[2]:
                b = self.const(n.input[2])
                if not self.is_float_const(n.input[2]) or b.size != l.c_out:
                    l.why = "bias"
                    return l
                l.b_name = n.input[2]
        elif l.kind == "Gemm":
            if attr(n, "transA", 0) or w.ndim != 2:
                l.why = "transA / rank"
                return l
            l.d0, l.d1 = w.shape
            l.k = l.groups = 1
            l.lead_out = attr(n, "transB", 0) != 0
            l.c_out, l.c_in = (l.d0, l.d1) if l.lead_out else (l.d1, l.d0)
            l.ref_ok = False
            if len(n.input) > 2 and n.input[2]:
                b = self.const(n.input[2])
                if not self.is_float_const(n.input[2]) or b.size not in (1, l.c_out) or \
                        (b.ndim and b.shape[-1] not in (1, l.c_out)) or \
                        (b.size == l.c_out and b.ndim == 2 and b.shape[0] != 1):
                    l.why = "bias"
                    return l
                l.b_name = n.input[2]
        else:  # MatMul
            if w.ndim != 2:
                l.why = "rank"
                return l
            l.d0, l.d1 = w.shape
            l.c_in, l.c_out = w.shape
            l.k = l.groups = 1
            l.lead_out = False
            l.ref_ok = False
        l.out = n.output[0]
        if l.b_name and self.used_elsewhere(l.b_name, n):
            l.why = "shared bias"
            return l
        if l.out in self.outputs:
            return l
        self.find_folded(l)
        if not self.reference:  # the reference folds batch norm alone
            self.find_affine(l, w)
        return l

    def find_folded(self, l):
        """The bias Add after a MatMul, or the BatchNormalization after the others."""
        us = self.uses.get(l.out, [])
        if len(us) != 1:
            return
        u, slot = us[0]
        if l.kind == "MatMul":
            other = 1 - slot
            if u.op_type == "Add" and len(u.input) == 2 and len(u.output) == 1:
                c = self.const(u.input[other])
                if c is not None and c.dtype == np.float32 and c.size == l.c_out and c.ndim and \
                        c.shape[-1] == l.c_out and all(d == 1 for d in c.shape[:-1]) and \
                        not self.used_elsewhere(u.input[other], u):
                    l.bias_add, l.b_name, l.out = u, u.input[other], u.output[0]
        elif u.op_type == "BatchNormalization" and slot == 0 and len(u.input) >= 5 and \
                not attr(u, "training_mode", 0) and not any(u.output[1:]):
            # cle_layer.c find_bn: running statistics named, even unread, mean training
            ps = [self.const(x) for x in u.input[1:5]]
            if all(p is not None and p.size == l.c_out for p in ps):
                l.bn, l.out = u, u.output[0]

    def const_slot(self, n):
        """ops_const_slot: the one constant input of a two-input node, else None."""
        if len(n.input) != 2 or not n.input[0] or not n.input[1]:
            return None
        c0, c1 = self.const(n.input[0]) is not None, self.const(n.input[1]) is not None
        return None if c0 == c1 else (0 if c0 else 1)

    @staticmethod
    def channel_fit(c, n_ch, rank):
        """ops_channel_fit: 'scalar', 'channel' (one value per channel on the
        channel axis of a rank-`rank` output; rank 0: the last axis), or None."""
        if rank > 0 and c.ndim > rank:
            return None
        if c.size == 1:
            return "scalar"
        at = c.ndim - (rank - 1) if rank > 0 else c.ndim - 1
        cdim = c.shape[at] if 0 <= at < c.ndim else 1
        rest_one = all(d == 1 for i, d in enumerate(c.shape) if i != at)
        if cdim not in (1, n_ch):
            return None
        return "channel" if cdim == n_ch and rest_one else "other"

    def find_affine(self, l, w):
        """cle_layer.c find_affine: the Mul, Div, Add and Sub nodes by constants
        right after the layer (after its batch norm or bias Add), at most 4:
        scalars or one value per output channel, folded into its weights and
        bias."""
        rank = w.ndim if l.kind in ("Conv", "ConvTranspose") else 2 if l.kind == "Gemm" else 0
        beta = np.float32(attr(l.node, "beta", 1.0)) if l.kind == "Gemm" else np.float32(1.0)
        if self.opset() < 7:
            return
        affine = []
        while len(affine) < 4:
            us = self.uses.get(l.out, [])
            if l.out in self.outputs or len(us) != 1:
                break
            n, slot = us[0]
            add = n.op_type in ("Add", "Sub")
            if n.op_type not in ("Add", "Sub", "Mul", "Div") or n.domain not in ("", "ai.onnx") or \
                    len(n.output) != 1 or not n.output[0] or self.producer.get(n.output[0]) is not n or \
                    n.output[0] == l.out:
                break
            cs = self.const_slot(n)
            if cs is None or cs == slot or (n.op_type == "Div" and cs != 1):
                break
            c = self.const(n.input[cs])
            if c is None or c.dtype not in (np.float32, np.float16):
                break
            c64 = c.astype(np.float64)
            if not np.isfinite(c64).all() or (n.op_type == "Div" and (c64 == 0).any()):
                break
            fit = self.channel_fit(c, l.c_out, rank)
            if fit not in ("scalar", "channel") or \
                    (add and ((l.kind == "MatMul" and l.bias_add is None) or beta == 0)):
                break
            affine.append(n)
            l.out = n.output[0]
        l.affine = tuple(affine)

    def opset(self):
        """graph_opset(gm, ""): the default domain's version."""
        return max([o.version for o in self.m.opset_import if o.domain in ("", "ai.onnx")] or [1])

    def affine_kt(self, l):
        """cle_bias.c bias_affine: the affines as y -> k y + t per output channel."""
        k, t = np.ones(l.c_out), np.zeros(l.c_out)
        for n in l.affine:
            cs = self.const_slot(n)
            c = self.const(n.input[cs]).astype(np.float64).reshape(-1)
            v = np.broadcast_to(c, (l.c_out,)) if c.size == 1 else c[:l.c_out]
            if n.op_type == "Mul":
                k, t = k * v, t * v
            elif n.op_type == "Div":
                k, t = k / v, t / v
            elif n.op_type == "Add":
                t = t + v
            elif cs == 1:  # Sub(y, c)
                t = t - v
            else:  # Sub(c, y)
                k, t = -k, v - t
        return k, t

    def clip_bounds(self, n):
        def bound(slot, name, absent):
            # an input (opset >= 11) must be a one-element constant; else the attribute
            if len(n.input) > slot and n.input[slot]:
                c = self.const(n.input[slot])
                return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None
            v = attr(n, name)
            return absent if v is None else float(v)
        lo, hi = bound(1, "min", -math.inf), bound(2, "max", math.inf)
        return None if lo is None or hi is None else (lo, hi)

    def only_first_output(self, n):
        return all(not x or (x not in self.outputs and not self.uses.get(x)) for x in n.output[1:])

    def role(self, n):
        """'pass', 'join', 'concat', 'flatten' or 'block'."""
        op = n.op_type
        if n.domain not in ("", "ai.onnx"):
            return "block"
        if op in ("Relu", "PRelu"):
            return "pass"
        if op == "Clip":
            b = self.clip_bounds(n)
            if b is None or (self.reference and b != (0.0, 6.0)):
                return "block"  # --reference only replaces ReLU6 by Relu
            lo, hi = b
            if not self.reference and self.opset() < 8 and (math.isfinite(hi) or (math.isfinite(lo) and lo != 0)):
                return "block"  # cle_roles.c bound_role: Max and Min broadcast [C, 1, 1] from opset 8
            return "pass"
        if self.reference:
            return "block"
        if op in PASS_OPS:
            return "pass"
        if op == "BatchNormalization":  # kept in a region: its mean and bias scale (cle_write.c write_bn)
            return "pass" if self.bn_inference(n) else "block"
        if op in ("MaxPool", "AveragePool", "Dropout"):
            return "pass" if self.only_first_output(n) else "block"
        if op == "Pad":
            return "pass" if self.pad_keeps_channels(n) else "block"
        if op in ("Resize", "Upsample"):
            return "pass" if self.resize_keeps_channels(n) else "block"
        if op in ("Add", "Sub", "Max", "Min", "Mul", "Div") and self.const_slot(n) is not None:
            return self.const_role(n)
        if op in ("Add", "Sub", "Sum", "Max", "Min"):  # ops.c all_activations
            ok = len(n.input) >= 1 and all(x and self.const(x) is None for x in n.input)
            return "join" if ok else "block"
        if op == "Cast":  # ops.c float_cast
            return "pass" if attr(n, "to") in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                                               onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16) else "block"
        if op in ("Shape", "Size"):  # reads the shape only, which stays
            return "shape"
        if op == "Concat":
            ok = attr(n, "axis") == 1 and len(n.input) >= 1 and all(x and self.const(x) is None for x in n.input)
            return "concat" if ok else "block"
        if op == "Flatten":
            return "flatten" if attr(n, "axis", 1) == 1 else "block"
        if op == "Reshape":
            return "flatten" if self.reshape_is_flatten(n) else "block"
        return "block"

    def const_role(self, n):
        """cle_roles.c const_role: Add, Sub, Max, Min, Mul or Div with one
        constant operand passes the channels from its other input; Mul and
        Div as they are (a gain), the others' constant becomes c / s per
        channel when written (write_operand)."""
        cs = self.const_slot(n)
        bound = n.op_type in ("Max", "Min")
        gain = n.op_type in ("Mul", "Div")
        if self.opset() < (8 if bound else 7):
            return "block"
        if n.op_type == "Div" and cs == 0:
            return "block"  # c / x does not scale with x
        c = self.const(n.input[cs])
        if c is None or c.dtype not in (np.float32, np.float16, np.float64) or \
                not np.isfinite(c.astype(np.float64)).all():
            return "block"
        self.dslot[id(n)] = 1 - cs
        self.rescale[id(n)] = "gain" if gain else "bound" if bound else "shift"
        return "pass"

    def data_in(self, n):
        """The input a pass-through node carries channels from (ops_data_slot)."""
        d = self.dslot.get(id(n), 0)
        return n.input[d] if len(n.input) > d else ""

    def bn_inference(self, n):
        """ops.c bn_inference: constant float parameters, one per channel, no
        training mode, no running statistics written."""
        if len(n.input) < 5 or attr(n, "training_mode", 0) != 0 or attr(n, "spatial", 1) == 0 or \
                any(x for x in n.output[1:]):
            return False
        ps = [self.const(x) for x in n.input[1:5]]
        return all(c is not None and c.dtype in (np.float32, np.float16, np.float64) and c.size == ps[0].size
                   for c in ps)

    def pad_keeps_channels(self, n):
        if attr(n, "mode", b"constant") not in (b"constant", b"reflect", b"edge"):
            return False
        if len(n.input) >= 2 and n.input[1]:
            p = self.const(n.input[1])
            if p is None or p.size % 2 or p.size < 4:
                return False
            p = p.reshape(-1)
            r = p.size // 2
            if p[0] or p[1] or p[r] or p[r + 1] or (len(n.input) >= 4 and n.input[3]):
                return False
            if len(n.input) >= 3 and n.input[2]:
                v = self.const(n.input[2])
                return v is not None and v.size == 1 and float(v.reshape(-1)[0]) == 0
            return True
        p = attr(n, "pads")
        if p is None or len(p) % 2 or len(p) < 4:
            return False
        r = len(p) // 2
        return not (p[0] or p[1] or p[r] or p[r + 1]) and float(attr(n, "value", 0.0)) == 0.0

    @staticmethod
    def resize_channel_entry(n):
        """ops.c resize_channel_entry: where axis 1 is among the Resize's axes
        (1 without axes; -1 not among them; -2 for negative axes)."""
        ax = attr(n, "axes")
        if ax is None:
            return 1
        if any(a < 0 for a in ax):
            return -2
        return list(ax).index(1) if 1 in ax else -1

    def resize_sizes(self, n):
        """ops.c ops_resize_sizes: a Resize's constant sizes' channel entry
        (-1 when the channel axis is not resized), else None."""
        if n.op_type != "Resize" or len(n.input) < 4 or not n.input[3]:
            return None
        k, at = self.const(n.input[3]), self.resize_channel_entry(n)
        if k is None or at == -2:
            return None
        return -1 if at == -1 else int(k.reshape(-1)[at]) if at < k.size else None

    def value_root(self, v):
        """ops.c value_root: back through Cast and Identity (at most 16)."""
        for _ in range(16):
            p = self.producer.get(v)
            if not v or p is None or p.op_type not in ("Cast", "Identity") or p.domain not in ("", "ai.onnx") or \
                    not p.input:
                break
            v = p.input[0]
        return v

    def trace_const(self, v):
        """ops.c ops_trace_const: a constant, perhaps behind Cast or Identity."""
        for _ in range(16):
            if not v:
                return None
            c = self.const(v)
            if c is not None:
                return c
            p = self.producer.get(v)
            if p is None or p.op_type not in ("Cast", "Identity") or p.domain not in ("", "ai.onnx") or \
                    not p.input or not p.input[0]:
                return None
            v = p.input[0]
        return None

    def sizes_from_shape(self, v, data):
        """ops.c sizes_from_shape: v holds data's own N and C first,
        Shape(data)[0:k] with k >= 2 ahead of other entries in a Concat
        (PyTorch's F.interpolate(x, size=...))."""
        def one(x, ok):
            c = self.trace_const(x)
            return c is not None and c.size == 1 and ok(float(c.reshape(-1)[0]))
        p = self.producer.get(self.value_root(v)) if v else None
        if p is not None and p.op_type == "Concat":
            p = self.producer.get(self.value_root(p.input[0])) if p.input else None
        if p is None:
            return False
        sh = p
        if p.op_type == "Slice":
            if len(p.input) >= 3:  # opset 10: starts, ends, axes, steps as inputs
                if not one(p.input[1], lambda a: a == 0) or not one(p.input[2], lambda b: b >= 2):
                    return False
                if len(p.input) >= 5 and p.input[4] and not one(p.input[4], lambda a: a == 1):
                    return False
            else:
                st, en = attr(p, "starts"), attr(p, "ends")
                if st is None or en is None or len(st) != 1 or len(en) != 1 or st[0] != 0 or en[0] < 2:
                    return False
            sh = self.producer.get(p.input[0])
            if sh is None:
                return False
        if sh.op_type != "Shape" or not sh.input or attr(sh, "start", 0) != 0 or \
                (sh is p and not (attr(sh, "end") is not None and attr(sh, "end") >= 2)):
            return False
        return self.value_root(sh.input[0]) == self.value_root(data)

    def resize_keeps_channels(self, n):
        """ops.c resize_keeps_channels."""
        if n.op_type == "Upsample" and len(n.input) < 2:
            s = attr(n, "scales")
            return s is not None and len(s) >= 2 and s[0] == 1 and s[1] == 1
        if attr(n, "coordinate_transformation_mode") == b"tf_crop_and_resize" and \
                np.float32(attr(n, "extrapolation_value", 0.0)) != 0:
            return False  # a crop filled with a constant
        at = self.resize_channel_entry(n)
        if at == -2:
            return False
        if n.op_type == "Upsample" or len(n.input) == 2:
            slot = 1
        else:
            slot = 3 if len(n.input) >= 4 and n.input[3] else 2
        if slot == 3:
            if at >= 0 and attr(n, "keep_aspect_ratio_policy") not in (None, b"stretch"):
                return False
            if self.const(n.input[3]) is not None:
                return True  # the planner compares sizes[C] with the count
            return at == 1 and self.sizes_from_shape(n.input[3], n.input[0])
        c = self.const(n.input[slot]) if len(n.input) > slot and n.input[slot] else None
        if at == -1:
            return c is not None
        c = c.reshape(-1).astype(np.float64) if c is not None else None
        if c is None or c.size <= at:
            return False
        if at != 1:
            return c[at] == 1.0
        return c[0] == 1.0 and c[1] == 1.0

    def reshape_is_flatten(self, n):
        if len(n.input) < 2 or not n.input[1]:
            return False
        c = self.const(n.input[1])
        if c is not None:
            c = c.reshape(-1)
            return c.size == 2 and c[0] in (0, 1) and c[1] == -1
        p = self.producer.get(n.input[1])
        if p is None or p.op_type != "Concat" or len(p.input) != 2:
            return False
        c = self.const(p.input[1])
        if c is None or c.size != 1 or c.reshape(-1)[0] != -1:
            return False
        p = self.producer.get(p.input[0])
        if p is None or p.op_type != "Unsqueeze":
            return False
        p = self.producer.get(p.input[0])
        if p is None or p.op_type != "Gather":
            return False
        c = self.const(p.input[1])
        if c is None or c.size != 1 or c.reshape(-1)[0] != 0:
            return False
        p = self.producer.get(p.input[0])
        return p is not None and p.op_type == "Shape" and p.input[0] == n.input[0]

    def plan(self):
        g = self.g
        self.layers = [self.plan_layer(n) for n in g.node if n.op_type in LAYER_OPS and n.domain in ("", "ai.onnx")]
        layer_of = {id(l.node): l for l in self.layers}
        folded = set()
        for l in self.layers:
            if l.why is None:
                if l.bn is not None:
                    folded.add(id(l.bn))
                if l.bias_add is not None:
                    folded.add(id(l.bias_add))
                folded.update(id(a) for a in l.affine)
        role = {}
        self.dslot, self.rescale = {}, {}  # of the constant-operand pass-throughs
        for n in g.node:
            role[id(n)] = "layer" if id(n) in layer_of or id(n) in folded else self.role(n)
        out_layer = {l.out: l for l in self.layers if l.why is None}
        nch, flat = self.count_channels(role)
        # union-find with channel offsets: channel c of v is channel c + delta[v] of parent[v]
        parent, delta = {}, {}

        def find(v):
            d = 0
            r = v
            while parent.get(r, r) != r:
                d += delta[r]
                r = parent[r]
            return r, d

        def join(a, b, shift):
            ra, da = find(a)
            rb, db = find(b)
            if ra == rb:
                return da == db + shift
            parent[ra] = rb
            delta[ra] = db + shift - da
            return True

        for n in g.node:
            if not n.output or not n.output[0]:
                continue
            r, y, ok = role[id(n)], n.output[0], True
            sz = self.resize_sizes(n) if r == "pass" else None
            if sz is not None and sz > 0 and nch.get(self.data_in(n), 0) != sz:
                role[id(n)] = "block"  # cle_plan.c join_tensors: sizes that change the channel count
                continue
            if r in ("pass", "flatten") and self.data_in(n):
                ok = join(self.data_in(n), y, 0)
            elif r == "join":
                # cle_plan.c join_tensors: a broadcast (one channel against many) shares none
                known = {nch[x] for x in n.input if nch.get(x)}
                if len(known) > 1:
                    role[id(n)] = "block"
                    continue
                for x in n.input:
                    ok = join(x, y, 0) and ok
            elif r == "concat":
                off = 0
                for x in n.input:
                    if not nch.get(x):
                        role[id(n)] = "block"
                        break
                    ok = join(x, y, off) and ok
                    off += nch[x]
            if not ok:
                role[id(n)] = "block"
        regions, index = [], {}

        def region(v):
            root = find(v)[0]
            if root not in index:
                index[root] = len(regions)
                regions.append({"producers": [], "consumers": [], "clips": [], "bns": [], "operands": [],
                                "blocked": None, "only_relu": True, "hbf_path": True, "lo": None, "hi": None,
                                "relu": None})
            return index[root]

        for l in self.layers:
            if l.why is None:
                l.out_region = region(l.out)
                l.in_region = region(l.node.input[0])
        for l in self.layers:
            if l.why is None:
                regions[l.out_region]["producers"].append(l)
                regions[l.in_region]["consumers"].append(l)
        values = set(self.producer) | set(self.uses) | self.inputs
        for v in sorted(values, key=self.value_order()):
            root, off = find(v)
            if root not in index:
                continue
            R = regions[index[root]]
            if nch.get(v, 0) > 0:
                R["lo"] = off if R["lo"] is None else min(R["lo"], off)
                R["hi"] = off + nch[v] if R["hi"] is None else max(R["hi"], off + nch[v])
            if v in self.outputs:
                R["blocked"] = R["blocked"] or "graph output"
            if v in self.subgraph_reads:  # cle_plan.c scan_use
                R["blocked"] = R["blocked"] or "read inside a subgraph"
            us = self.uses.get(v, [])
            if len(us) > 1:
                R["only_relu"] = False
            p = self.producer.get(v)
            if v in out_layer:
                pass
            elif p is None:
                R["blocked"] = R["blocked"] or "input or constant"
            elif role[id(p)] in ("block", "layer"):
                R["blocked"] = R["blocked"] or "produced by " + p.op_type
            for u, slot in us:
                r = role[id(u)]
                if r == "block":
                    R["blocked"] = R["blocked"] or "read by " + u.op_type
                elif r == "layer":
                    lu = layer_of.get(id(u))
                    if lu is None or slot != 0 or lu.why is not None:
                        R["blocked"] = R["blocked"] or "read by a layer as a parameter"
                elif r == "pass":
                    if u.op_type not in ("Relu", "PRelu", "Clip"):
                        R["only_relu"] = False
                    if u.op_type not in HBF_OPS or id(u) in self.rescale:
                        R["hbf_path"] = False
                    if u.op_type == "Clip" and slot == 0:
                        R["clips"].append(u)
                    if u.op_type == "BatchNormalization" and slot == 0:
                        R["bns"].append(u)
                    if slot != self.dslot.get(id(u), 0):
                        R["blocked"] = R["blocked"] or "parameter of a pass-through op"
                    elif id(u) in self.rescale and u.output and u.output[0]:
                        R["operands"].append(u)
                elif r == "flatten":
                    R["only_relu"] = False
                    if slot != 0:
                        R["blocked"] = R["blocked"] or "shape of a Flatten"
                elif r != "shape":  # Shape and Size read the shape, which stays
                    R["only_relu"] = False
                    R["hbf_path"] = False
        for R in regions:
            lo = R["lo"] if R["lo"] is not None else 0
            R["n_ch"] = (R["hi"] - lo) if R["hi"] is not None else 0
            for l in R["producers"]:
                l.out_off = find(l.out)[1] - lo
            for l in R["consumers"]:
                x = l.node.input[0]
                c = nch.get(x, 0)
                l.in_off = find(x)[1] - lo
                if c <= 0 or l.c_in % c:
                    R["blocked"] = R["blocked"] or "features do not match channels"
                    continue
                l.in_rep = l.c_in // c
                if l.in_rep > 1 and x not in flat:
                    R["blocked"] = R["blocked"] or "features without a Flatten"
            self.settle_layouts(R, flat)
            clips = []
            for c in R["clips"]:
                x = c.input[0]
                rank = 0
                if R["producers"] and x not in flat and R["producers"][0].kind in ("Conv", "ConvTranspose"):
                    rank = R["producers"][0].w.ndim
                clips.append((c, find(x)[1] - lo, nch.get(x, 0), rank))
                if not nch.get(x, 0):
                    R["blocked"] = R["blocked"] or "Clip with unknown channels"
            R["clips"] = clips
            bns = []
            for bn in R["bns"]:
                x = bn.input[0]
                bns.append((bn, find(x)[1] - lo, nch.get(x, 0)))
                if not nch.get(x, 0) or self.const(bn.input[3]).size != nch.get(x, 0):
                    R["blocked"] = R["blocked"] or "BatchNormalization parameters do not match the channels"
            R["bns"] = bns
            self.settle_operands(R, lo, find, nch, flat)
            if not R["producers"]:
                R["blocked"] = R["blocked"] or "no producer"
            if not R["consumers"]:
                R["blocked"] = R["blocked"] or "no consumer"
            in_scope = R["only_relu"] and len(R["producers"]) == 1 and len(R["consumers"]) == 1 and \
                R["producers"][0].ref_ok and R["consumers"][0].ref_ok
            if self.reference and not in_scope:
                R["blocked"] = R["blocked"] or "outside the reference's scope"
            if len(R["producers"]) == 1:
                us = self.uses.get(R["producers"][0].out, [])
                if len(us) == 1 and us[0][0].op_type == "Relu":
                    R["relu"] = us[0][0]
        self.regions = regions

    def settle_operands(self, R, lo, find, nch, flat):
        """cle_plan.c settle_rescaled and settle_flat_rescaled for the constant
        operands: their channels in the region's frame, and what blocks."""
        ops = []
        rep = max([l.in_rep for l in R["consumers"]] + [1])
        for n in R["operands"]:
            x = self.data_in(n)
            rank = 0
            if R["producers"] and x not in flat and R["producers"][0].kind in ("Conv", "ConvTranspose"):
                rank = R["producers"][0].w.ndim
            c_n = nch.get(x, 0)
            ops.append((n, find(x)[1] - lo, c_n, rank))
            if not c_n:
                R["blocked"] = R["blocked"] or "constant operand with unknown channels"
                continue
            k = self.const(n.input[1 - self.dslot[id(n)]])
            fit = None if x in flat and k.size != 1 else self.channel_fit(k, c_n, rank)
            if fit is None or (fit == "other" and self.rescale[id(n)] != "gain"):
                R["blocked"] = R["blocked"] or "constant operand not per channel"
            if rep > 1 and x in flat and not (self.rescale[id(n)] == "gain" and k.size == 1):
                R["blocked"] = R["blocked"] or "constant operand after a spreading Flatten"
        R["operands"] = ops
        if rep > 1 and any(c.input[0] in flat for c, *_ in R["clips"]) or \
                any(bn.input[0] in flat for bn, *_ in R["bns"]):
            R["blocked"] = R["blocked"] or "rewritten node after a spreading Flatten"

    @staticmethod
    def settle_layouts(R, flat):
        """cle_plan.c settle_layouts: a MatMul keeps channels on the last axis,
        a convolution on axis 1; a region may not hand one's to the other
        unless a Flatten made the tensor [N, features]."""
        mm = next((l for l in R["producers"][::-1] if l.kind == "MatMul"), None)
        conv = next((l for l in R["producers"][::-1] if l.kind in ("Conv", "ConvTranspose")), None)
        for l in R["consumers"]:
            if mm is not None and (l.in_rep > 1 or l.kind in ("Conv", "ConvTranspose")):
                R["blocked"] = R["blocked"] or "MatMul channels on the last axis read otherwise"
            if conv is not None and l.kind == "MatMul" and l.node.input[0] not in flat:
                R["blocked"] = R["blocked"] or "MatMul reading the last axis of channels-first"

    def value_order(self):
        # ours visits values in its graph index order: graph inputs, initializers,
        # then node outputs in node order; only the first blocking reason differs
        order = {}
        for x in [i.name for i in self.g.input] + [t.name for t in self.g.initializer]:
            order.setdefault(x, len(order))
        for n in self.g.node:
            for x in list(n.input) + list(n.output):
                if x:
                    order.setdefault(x, len(order))
        return lambda v: order.get(v, len(order))

    def count_channels(self, role):
        """cle_plan.c count_channels: the channel count of each tensor (layers'
        outputs, carried through the roles until nothing changes) and the
        tensors after a Flatten."""
        g = self.g
        nch = {l.out: l.c_out for l in self.layers if l.why is None}
        flat = set()

        def carry():  # cle_plan.c carry_channels
            changed = True
            while changed:
                changed = False
                for n in g.node:
                    if not n.output or not n.output[0]:
                        continue
                    r, y = role[id(n)], n.output[0]
                    if (r == "flatten" or (r == "pass" and self.data_in(n) in flat)) and y not in flat:
                        flat.add(y)
                        changed = True
                    if y in nch:
                        continue
                    c = 0
                    if r in ("pass", "flatten") and self.data_in(n):  # cle_plan.c channels_through
                        sz = self.resize_sizes(n) if r == "pass" else None
                        c = sz if sz is not None and sz > 0 else nch.get(self.data_in(n), 0)
                    elif r == "join":
                        c = next((nch[x] for x in n.input if nch.get(x)), 0)
                    elif r == "concat":
                        cs = [nch.get(x, 0) for x in n.input]
                        c = 0 if 0 in cs else sum(cs)
                    if c:
                        nch[y] = c
                        changed = True
        carry()
        # cle_plan.c count_channels: a Concat input of unknown count takes the
        # channel dimension the file records for it (value_info), carried again
        shapes = {}
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            t = vi.type.tensor_type
            if vi.type.HasField("tensor_type") and t.HasField("shape"):
                shapes.setdefault(vi.name, [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim])
        seeded = False
        for n in g.node:
            if role[id(n)] != "concat":
                continue
            for x in n.input:
                dims = shapes.get(x)
                if x and not nch.get(x) and x not in flat and dims and len(dims) >= 2 and dims[1] > 0:
                    nch[x] = dims[1]
                    seeded = True
        if seeded:
            carry()
        return nch, flat

    def not_covered(self):
        """What ours equalizes in this model and this script leaves alone
        (so the two outputs are not expected to agree), one sentence each."""
        why = []
        half = [l.node.name for l in self.layers if l.why == "not float32" and
                self.const(l.node.input[1]).dtype == np.float16]
        if half:
            why.append(f"{len(half)} layers with float16 weights (ours equalizes them, with float16's "
                       f"window on the scales; here they are left alone)")
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in self.g.initializer):
            why.append("tensors in external data (ours reads them; here they are not constants)")
        sub = sum(1 for n in self.g.node for a in n.attribute
                  for sg in ([a.g] if a.HasField("g") else []) + list(a.graphs) for _ in subgraph_layers(sg))
        if sub:
            why.append(f"{sub} layers inside If/Loop/Scan subgraphs (ours equalizes them; here they are "
                       f"left alone)")
        return why

    # ---- equalizing -------------------------------------------------------

    def prepare(self, l):
        w = l.w.reshape(l.d0, l.d1, l.k)
        if not np.isfinite(w).all():
            return
        l.m = np.abs(w).max(axis=2)  # float32 [d0][d1]
        l.per = l.d0 // l.groups
        m = l.m.reshape(l.groups, l.per, l.d1)
        l.rows = Maxima(m)  # max over a row's d1 entries (times the column weights)
        l.cols = Maxima(m.transpose(0, 2, 1))  # max over a column's entries in its group
        if l.bn is not None:
            gamma, var = (self.const(x).astype(np.float64) for x in (l.bn.input[1], l.bn.input[4]))
            eps = np.float64(np.float32(attr(l.bn, "epsilon", 1e-5)))
            if not ((var + eps) > 0).all() or not np.isfinite(gamma).all():
                return
            l.bnk = l.kf = gamma / np.sqrt(var + eps)
        if l.affine:  # the Mul and Div nodes folded after it (read_layer's kf)
            l.kf = (l.bnk if l.bnk is not None else np.ones(l.c_out)) * self.affine_kt(l)[0]
        l.active = True

    def out_scale(self, l):
        s = self.s[l.out_region]
        return np.ones(l.c_out) if s is None else s[l.out_off:l.out_off + l.c_out]

    def in_scale(self, l):
        s = self.s[l.in_region]
        if s is None:
            return np.ones(l.c_in)
        return np.repeat(s[l.in_off:l.in_off + l.c_in // l.in_rep], l.in_rep)

    def ranges(self, l):
        """(output ranges, input ranges) under the current scales, in float32."""
        kf = np.abs(l.kf) if l.kf is not None else 1.0
        fo = (kf / self.out_scale(l)).astype(np.float32)
        fi = self.in_scale(l).astype(np.float32)
        a, b = (fo, fi) if l.lead_out else (fi, fo)
        r0 = l.rows.maxima(b) * a  # row i: max_j m[i][j] b[j], times a[i]
        r1 = l.cols.maxima(a) * b  # column j: max_i m[i][j] a[i] (i in j's group), times b[j]
        return (r0, r1) if l.lead_out else (r1, r0)

    def region_ranges(self, R):
        rp = np.zeros(R["n_ch"])
        rq = np.zeros(R["n_ch"])
        for l in R["producers"]:
            ro = self.cache(l)[0]
            sl = slice(l.out_off, l.out_off + l.c_out)
            rp[sl] = np.maximum(rp[sl], ro)
        for l in R["consumers"]:
            ri = self.cache(l)[1]
            n = l.c_in // l.in_rep
            ri = ri.reshape(n, l.in_rep).max(axis=1)
            sl = slice(l.in_off, l.in_off + n)
            rq[sl] = np.maximum(rq[sl], ri)
        return rp, rq

    def cache(self, l):
        if l.dirty:
            l.r = self.ranges(l)
            l.dirty = False
        return l.r

    def mark_dirty(self, R):
        for l in R["producers"] + R["consumers"]:
            l.dirty = True

    def clamp(self, s):
        """cle_balance.c clamp_scale."""
        return s if self.max_scale is None else np.clip(s, 1 / self.max_scale, self.max_scale)

    def triplet_middle(self, R):
        if len(R["consumers"]) != 1:
            return None
        d = R["consumers"][0]
        if d.groups != d.c_in or d.c_in != d.c_out or d.d1 != 1 or d.in_rep != 1 or \
                self.s[d.out_region] is None or len(self.regions[d.out_region]["producers"]) != 1:
            return None
        return d

    def over(self, t):
        """cle_balance.c over(): in an over-relaxed round a scale moves 1.5
        times as far in log scale as the rule asks."""
        return t * np.sqrt(t) if self.over_on else t

    def balance(self, r, done):
        R = self.regions[r]
        s = self.s[r]
        rp, rq = self.region_ranges(R)
        d = self.triplet_middle(R)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # convergence: the largest move of a scale (a clamped one moves no more)
            if d is None:
                ok = usable(rp) & usable(rq)
                old = s[ok]
                s[ok] = self.clamp(s[ok] * self.over(np.sqrt(rp[ok] / rq[ok])))
                self.mark_dirty(R)
                return np.abs(np.log(s[ok] / old)).max(initial=0.0)
            r2 = d.out_region
            R2, s2 = self.regions[r2], self.s[r2]
            rp2, rq2 = self.region_ranges(R2)
            a = slice(d.in_off, d.in_off + d.c_in)
            b = slice(d.out_off, d.out_off + d.c_in)
            dro = self.cache(d)[0].astype(np.float64)
            x1 = rp[a] * s[a]
            x2 = dro * s2[b] / s[a]
            x3 = rq2[b] / s2[b]
            ok = usable(x1) & usable(x2) & usable(x3) & usable(rq[a]) & usable(rq2[b])
            gm = cube_root(x1[ok] * x2[ok] * x3[ok])
            sa, sb = s[a], s2[b]  # views
            old_a, old_b = sa[ok], sb[ok]
            if self.over_on:
                sa[ok] = self.clamp(old_a * self.over(x1[ok] / gm / old_a))
                sb[ok] = self.clamp(old_b * self.over(gm / x3[ok] / old_b))
            else:
                sa[ok] = self.clamp(x1[ok] / gm)
                sb[ok] = self.clamp(gm / x3[ok])
            worst = max(np.abs(np.log(sa[ok] / old_a)).max(initial=0.0),
                        np.abs(np.log(sb[ok] / old_b)).max(initial=0.0))
            done[r2] = True
            self.mark_dirty(R)
            self.mark_dirty(R2)
            return worst

    def equalize(self):
        self.plan()
        for l in self.layers:
            if l.why is None:
                self.prepare(l)
                l.dirty = True
        self.s = []
        for R in self.regions:
            ok = R["blocked"] is None and all(l.active for l in R["producers"] + R["consumers"])
            self.s.append(np.ones(R["n_ch"]) if ok else None)
        self.rounds = 0
        self.over_on, last, before = False, 0.0, 0.0
        for rnd in range(self.max_rounds):
            worst = 0.0
            # on once the rounds converge slowly, off at OVER_UNTIL
            self.over_on = rnd < OVER_UNTIL and (self.over_on or (rnd >= OVER_FROM and last > OVER_SLOW * before))
            done = [False] * len(self.regions)
            for r in range(len(self.regions)):
                if self.s[r] is None or done[r]:
                    continue
                worst = max(worst, self.balance(r, done))
            self.rounds = rnd + 1
            if worst <= self.tolerance:
                break
            before, last = last, worst
        for l in self.layers:
            if l.active:
                self.layer_bias(l)
        for r in range(len(self.regions)):
            self.absorb_high_bias(r)
        self.write()

    def layer_bias(self, l):
        osc = self.out_scale(l)
        bc = self.const(l.b_name) if l.b_name else None
        adds = any(a.op_type in ("Add", "Sub") for a in l.affine)
        # cle_bias.c bias_layer: no bias, nor one to make; or nothing folded and nothing scaled
        if (bc is None and l.bn is None and not adds) or \
                (l.bn is None and not l.affine and not (bc is not None and (osc != 1).any())):
            return
        beta = attr(l.node, "beta", 1.0) if l.kind == "Gemm" else 1.0
        b = np.zeros(l.c_out) if bc is None else np.broadcast_to(bc.reshape(-1).astype(np.float64), (l.c_out,))
        b = b * np.float64(np.float32(beta))
        if l.bn is not None:
            bn_b, mu = (self.const(x).astype(np.float64) for x in (l.bn.input[2], l.bn.input[3]))
            b = bn_b + l.bnk * (b - mu)
        if l.affine:
            k, t = self.affine_kt(l)
            b = k * b + t
        l.bias = b / osc

    def unpadded(self, l):
        if l.kind != "Conv":
            return l.kind != "ConvTranspose"
        ap = attr(l.node, "auto_pad", b"NOTSET")
        return ap in (b"NOTSET", b"VALID") and not any(attr(l.node, "pads", []))

    def absorb_high_bias(self, r):
        R = self.regions[r]
        if self.s[r] is None or len(R["producers"]) != 1 or R["relu"] is None or not R["hbf_path"] or \
                R["clips"] or R["bns"] or R["operands"]:  # cle_bias.c: no rescaled node
            return
        P = R["producers"][0]
        if P.bn is None or P.bias is None or P.affine:  # beta, gamma: before the affine
            return
        for Q in R["consumers"]:
            if (not self.unpadded(Q) and not self.reference) or Q.kind == "ConvTranspose" or \
                    (Q.kind == "MatMul" and Q.bias_add is None):
                return
        beta, gamma = (self.const(x).astype(np.float64) for x in (P.bn.input[2], P.bn.input[1]))
        c = np.zeros(R["n_ch"])
        c[P.out_off:P.out_off + P.c_out] = np.maximum(0.0, (beta - 3 * np.abs(gamma)) / self.out_scale(P))
        P.bias = P.bias - c[P.out_off:P.out_off + P.c_out]
        if not (c > 0).any():
            return
        for Q in R["consumers"]:
            if Q.bias is None:
                bc = self.const(Q.b_name) if Q.b_name else None
                qb = attr(Q.node, "beta", 1.0) if Q.kind == "Gemm" else 1.0
                b = np.zeros(Q.c_out) if bc is None else \
                    np.broadcast_to(bc.reshape(-1).astype(np.float64), (Q.c_out,))
                Q.bias = b * np.float64(np.float32(qb)) / self.out_scale(Q)
            # cle_bias.c bias_absorb_high's loop, its sums in its order (cumsum adds
            # one after another, as the C loop does; sum() would pair them):
            # acc over the kernel, then bias += acc * (fa fb) * c, row by row
            fa, fb = self.factors(Q)
            acc = np.cumsum(Q.w.reshape(Q.d0, Q.d1, Q.k).astype(np.float64), axis=2)[:, :, -1]
            cols = (np.arange(Q.d0)[:, None] // Q.per) * Q.d1 + np.arange(Q.d1)[None, :]
            cin = c[Q.in_off + np.arange(Q.c_in) // Q.in_rep]
            if Q.lead_out:  # bias[i] += ... for j in order
                t = acc * (fa[:, None] * fb[cols]) * cin[cols]
                Q.bias = np.cumsum(np.concatenate([Q.bias[:, None], t], axis=1), axis=1)[:, -1]
            else:  # bias[j] += ... for i in order (Gemm, MatMul: one group)
                t = acc * (fa[:, None] * fb[cols]) * cin[:, None]
                Q.bias = np.cumsum(np.concatenate([Q.bias[None, :], t], axis=0), axis=0)[-1]

    def factors(self, l):
        kf = l.kf if l.kf is not None else 1.0
        fo = kf / self.out_scale(l)
        fi = self.in_scale(l)
        return (fo, fi) if l.lead_out else (fi, fo)

    # ---- writing ----------------------------------------------------------

    def write_operand(self, n, s, rank, drop_inits):
        """cle_write.c write_operand: the constant of a Max, Min, Add or Sub
        becomes c / s per channel (a scalar grows to [C, 1, ...]); Mul and
        Div stay as they are."""
        if self.rescale[id(n)] == "gain" or not (s != 1).any():
            return
        ks = 1 - self.dslot[id(n)]
        x = n.input[ks]
        k = self.const(x)
        kd = k.astype(np.float64).reshape(-1)
        v = (kd[0] if k.size == 1 else kd[:s.size]) / s
        shape = ([s.size] + [1] * (rank - 2) if rank > 1 else [s.size]) if k.size == 1 else list(k.shape)
        name = self.unique(n.name or n.op_type)
        self.set_init(name, v.astype(k.dtype).reshape(shape))
        n.input[ks] = name
        if len(self.uses.get(x, [])) == 1:
            drop_inits.add(x)

    def set_init(self, name, arr):
        t = numpy_helper.from_array(np.ascontiguousarray(arr), name)
        old = self.inits.get(name)
        if name in self.const_node:  # a Constant node's value
            for a in self.const_node[name].attribute:
                if a.name == "value":
                    a.t.CopyFrom(t)
        elif old is not None:
            old.CopyFrom(t)
        else:
            self.g.initializer.append(t)
            self.inits[name] = self.g.initializer[-1]

    def unique(self, base):
        names = set(self.inits) | set(self.producer) | {n.name for n in self.g.node}
        name, i = base, 1
        while name in names:
            i += 1
            name = f"{base}_{i}"
        self.producer[name] = None
        return name

    def write(self):
        drop_nodes, drop_inits = set(), set()
        for l in self.layers:
            if not l.active:
                continue
            fa, fb = self.factors(l)
            if (fa != 1).any() or (fb != 1).any():
                cols = (np.arange(l.d0) // l.per)[:, None] * l.d1 + np.arange(l.d1)[None, :]
                f = fa[:, None] * fb[cols]
                w = l.w.reshape(l.d0, l.d1, l.k).astype(np.float64) * f[:, :, None]
                self.set_init(l.w_name, w.astype(np.float32).reshape(l.w.shape))
            n = l.node
            if l.bias is not None:
                beta = np.float64(np.float32(attr(n, "beta", 1.0))) if l.kind == "Gemm" else 1.0
                bc = self.const(l.b_name) if l.b_name else None
                if bc is not None and bc.size == l.c_out:
                    self.set_init(l.b_name, (l.bias / beta).astype(bc.dtype).reshape(bc.shape))
                else:
                    name = self.unique(n.name or l.w_name)
                    self.set_init(name, (l.bias / beta).astype(np.float32))
                    while len(n.input) < 3:
                        n.input.append("")
                    n.input[2] = name
            if l.bn is not None or l.affine:  # the folded nodes' output, from the node that ends the layer
                tail = l.bias_add if l.bias_add is not None and l.affine else n
                tail.output[0] = l.out
            if l.bn is not None:
                drop_nodes.add(id(l.bn))
                for x in l.bn.input[1:5]:
                    if len(self.uses.get(x, [])) == 1:
                        drop_inits.add(x)
            for a in l.affine:
                drop_nodes.add(id(a))
                x = a.input[self.const_slot(a)]
                if len(self.uses.get(x, [])) == 1:
                    drop_inits.add(x)
        for r, R in enumerate(self.regions):
            if self.s[r] is None:
                continue
            for bn, off, n_ch in R["bns"]:  # cle_write.c write_bn: mean / s and bias / s
                s = self.s[r][off:off + n_ch]
                for slot in (2, 3):
                    x = bn.input[slot]
                    v = self.const(x)
                    name = self.unique(bn.name or "bn")
                    self.set_init(name, (v.astype(np.float64).reshape(-1) / s).astype(v.dtype))
                    bn.input[slot] = name
                    if len(self.uses.get(x, [])) == 1:
                        drop_inits.add(x)
        for r, R in enumerate(self.regions):
            if self.s[r] is not None:
                for n, off, n_ch, rank in R["operands"]:
                    self.write_operand(n, self.s[r][off:off + n_ch], rank, drop_inits)
        new_nodes = []
        clip_of = {}
        for r, R in enumerate(self.regions):
            if self.s[r] is None:
                continue
            for c, off, n_ch, rank in R["clips"]:
                clip_of[id(c)] = (r, off, n_ch, rank)
        for n in self.g.node:
            if id(n) in drop_nodes:
                continue
            if id(n) not in clip_of:
                new_nodes.append(n)
                continue
            r, off, n_ch, rank = clip_of[id(n)]
            s = self.s[r][off:off + n_ch]
            if self.reference:
                new_nodes.append(helper.make_node("Relu", [n.input[0]], [n.output[0]], name=n.name))
            elif not (s != 1).any() or not any(map(math.isfinite, self.clip_bounds(n))):
                # unscaled, or no bound at all (the identity): left as it is, as ours does
                new_nodes.append(n)
                continue
            else:
                lo, hi = self.clip_bounds(n)
                shape = [n_ch] + [1] * (rank - 2) if rank > 1 else [n_ch]
                x, y = n.input[0], n.output[0]
                hi_t = lo_t = None
                if math.isfinite(hi):
                    hi_t = self.unique("clip_max")
                    self.set_init(hi_t, (hi / s).astype(np.float32).reshape(shape))
                if math.isfinite(lo) and lo != 0:
                    lo_t = self.unique("clip_min")
                    self.set_init(lo_t, (lo / s).astype(np.float32).reshape(shape))
                mid = self.unique(y) if hi_t and math.isfinite(lo) else y
                if math.isfinite(lo):
                    new_nodes.append(helper.make_node("Relu", [x], [mid], name=n.name) if lo == 0 else
                                     helper.make_node("Max", [x, lo_t], [mid], name=n.name))
                    if hi_t:
                        new_nodes.append(helper.make_node("Min", [mid, hi_t], [y], name=self.unique(n.name or "clip")))
                else:
                    new_nodes.append(helper.make_node("Min", [x, hi_t], [y], name=n.name))
            for x in n.input[1:]:
                if x and all(id(u) in clip_of for u, _ in self.uses.get(x, [])):
                    drop_inits.add(x)
        new_nodes = [n for n in new_nodes if not (n.op_type == "Constant" and n.output[0] in drop_inits)]
        del self.g.node[:]
        self.g.node.extend(new_nodes)
        keep = [t for t in self.g.initializer if t.name not in drop_inits]
        del self.g.initializer[:]
        self.g.initializer.extend(keep)


def subgraph_layers(g):
    """The layer nodes of graph g and of the subgraphs in it."""
    for n in g.node:
        if n.op_type in LAYER_OPS and n.domain in ("", "ai.onnx"):
            yield n
        for a in n.attribute:
            for sg in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from subgraph_layers(sg)


def subgraph_reads(g):
    """The names graph g (and the subgraphs in it) reads but does not define."""
    defined = {x.name for x in g.input} | {t.name for t in g.initializer}
    reads = set()
    for n in g.node:
        reads.update(x for x in n.input if x)
        for a in n.attribute:
            for sg in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                reads |= subgraph_reads(sg)
        defined.update(n.output)
    return reads - defined


def cube_root(x):
    """The cube root as cle_stats.c stats_cbrt takes it (positive finite x):
    Newton's steps from a linear guess on the mantissa scaled to [0.5, 4),
    the same operations in float64, so the same bits (glibc's cbrt and
    numpy's differ in the last one for most arguments, and the triplet
    rule's scales carry it into the weights)."""
    x = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(x)
    k = np.mod(e, 3)
    m = np.ldexp(m, k)
    e = e - k
    y = 0.7 + 0.23 * m
    for _ in range(6):
        y = y - (y - m / (y * y)) / 3.0
    return np.ldexp(y, e // 3)


def usable(x):
    return np.isfinite(x) & (x > 0)


def equalize_bytes(data, reference=False, tolerance=None):
    m = onnx.load_from_string(data)
    ref = Ref(m, reference)
    if tolerance is not None:  # as ours --tolerance=X
        ref.tolerance = tolerance
    ref.equalize()
    return m.SerializeToString(), ref


def layer_arrays(path):
    """node name -> (weight, bias, op) for layers; Clip output name -> its Min bound."""
    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant" and attr(n, "value") is not None:
            inits[n.output[0]] = attr(n, "value")
    arr = lambda x: numpy_helper.to_array(inits[x]).astype(np.float64) if x in inits else None
    layers, bounds = {}, {}
    for n in m.graph.node:
        if n.op_type in LAYER_OPS and len(n.input) > 1:
            layers[n.name] = (arr(n.input[1]), arr(n.input[2]) if len(n.input) > 2 and n.input[2] else None)
        if n.op_type == "Min" and len(n.input) == 2 and n.input[1] in inits:  # a Clip's bound, not a join
            bounds[n.output[0]] = arr(n.input[1])
    return layers, bounds


def compare(a_path, b_path):
    """Largest difference between two equalized models' weights, biases and
    Clip bounds, relative to each tensor's abs-max."""
    la, ba = layer_arrays(a_path)
    lb, bb = layer_arrays(b_path)
    worst, where, n = 0.0, None, 0
    for name in sorted(set(la) | set(lb)):
        if name not in la or name not in lb:
            return {"agree": False, "why": f"layer {name} is in one model only"}
        for x, y, what in ((la[name][0], lb[name][0], "weight"), (la[name][1], lb[name][1], "bias")):
            if x is None and y is None:
                continue
            if x is None or y is None or x.shape != y.shape:
                if what == "bias" and (x is None or y is None):
                    z = x if x is not None else y
                    if not np.any(z):
                        continue
                return {"agree": False, "why": f"{what} of {name} differs in shape or presence"}
            d = float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), np.max(np.abs(y)), 1e-30)) if x.size else 0.0
            n += 1
            if d > worst:
                worst, where = d, f"{what} of {name}"
    for name in sorted(set(ba) | set(bb)):
        x, y = ba.get(name), bb.get(name)
        if x is None or y is None or x.shape != y.shape:
            return {"agree": False, "why": f"Clip bound for {name} differs in shape or presence"}
        d = float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-30))
        n += 1
        if d > worst:
            worst, where = d, f"Clip bound for {name}"
    if n == 0:
        return {"agree": None, "why": "no layer in the main graph to compare"}
    return {"agree": True, "tensors": n, "max_rel_diff": worst, "where": where}


def main(argv):
    if argv and argv[0] == "--compare":
        print(json.dumps(compare(argv[1], argv[2])))
        return
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0], "rb") as f:
        data = f.read()
    t0 = time.perf_counter()
    tol = [float(a.split("=", 1)[1]) for a in argv if a.startswith("--tolerance=")]
    out, ref = equalize_bytes(data, "--reference" in argv, tol[-1] if tol else None)
    seconds = time.perf_counter() - t0
    with open(args[1], "wb") as f:
        f.write(out)
    info = {"seconds": seconds, "rounds": ref.rounds, "layers": len(ref.layers),
            "equalized": sum(1 for l in ref.layers if l.active),
            "regions_balanced": sum(1 for s in ref.s if s is not None)}
    # covers: false when the model has something ours equalizes and this does not
    why = ref.not_covered()
    info["covers"] = not why
    if why:
        info["not_covered"] = why
    print(json.dumps(info) if "--json" in argv else
          f"{args[1]}: {info['equalized']} of {info['layers']} layers, {info['regions_balanced']} regions, "
          f"{info['rounds']} rounds, {seconds:.2f} s" +
          "".join(f"\nnot covered (ours will differ): {w}" for w in why))


if __name__ == "__main__":
    main(sys.argv[1:])
