#!/usr/bin/python3
"""Tiny fuzz seeds (most under 600 bytes): every op role the planner knows,
every way a weight is stored, the rules' patterns, subgraphs, opsets and
the external-data cases, made with Debian's python3-onnx alone.

usage: /usr/bin/python3 tests/fuzz/make_seeds.py OUTDIR

Small seeds keep libFuzzer fast (a mutation of a 300-byte model runs in
well under a millisecond) and give it one structure per seed to recombine.
Shapes are 2 channels, 1x1 kernels, 2x2 maps; names are one or two letters.
Nothing is checked with onnx.checker: several seeds are invalid on purpose.

External data names what tests/fuzz/fuzz_model.c's lookup offers: "w.bin"
(its 64 KiB side file of float32 weights), "fuzz.onnx" (the input's own
bytes), "missing.bin" (no such file), "refused.bin" (a file the host will
not read).  The differential check (scripts/diff-builds.mjs) writes a
"w.bin" beside each model too.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
F32, F16, F64 = TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE
C = 2  # channels


def vals(*shape, seed=0):
    """Deterministic weights with a spread of per-channel ranges."""
    n = int(np.prod(shape)) if shape else 1
    v = ((np.arange(n) * 7 + seed * 3) % 11 - 5) * 0.25 + 0.125
    v = v * (1 + np.arange(n) % 4)
    return v.astype(np.float32).reshape(shape)


def bare(name, dtype, shape):
    """A TensorProto with a name, a type and dims, and no data yet."""
    t = TensorProto()
    t.name, t.data_type = name, dtype
    t.dims.extend(shape)
    return t


class Seed:
    """A graph under construction, written with save()."""

    def __init__(self, opset=13, form="raw", x=(1, C, 2, 2), ir=7):
        self.opset, self.form, self.ir = opset, form, ir
        self.nodes, self.inits, self.ins, self.outs = [], [], [], []
        self.opsets = [("", opset)]
        self.n = 0
        self.ext_at = 0
        if x is not None:
            self.ins.append(helper.make_tensor_value_info("x", F32, list(x)))

    def name(self):
        self.n += 1
        return "t%d" % self.n

    def tensor(self, name, arr, form=None):
        """A TensorProto of arr stored as form says."""
        form = form or self.form
        arr = np.asarray(arr)
        if form == "raw":
            return numpy_helper.from_array(arr.astype(np.float32) if arr.dtype == np.float64 else arr, name)
        if form == "typed":
            return helper.make_tensor(name, F32, arr.shape, arr.astype(np.float32).reshape(-1).tolist())
        if form == "f16":
            return numpy_helper.from_array(arr.astype(np.float16), name)
        if form == "f16typed":  # bit patterns in int32_data
            return helper.make_tensor(name, F16, arr.shape, arr.astype(np.float16).reshape(-1).tolist())
        if form == "f64":
            return numpy_helper.from_array(arr.astype(np.float64), name)
        if form == "f64typed":
            return helper.make_tensor(name, F64, arr.shape, arr.astype(np.float64).reshape(-1).tolist())
        if form == "bf16":
            bits = (arr.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            t = bare(name, TensorProto.BFLOAT16, arr.shape)
            t.raw_data = bits.tobytes()
            return t
        if form in ("ext", "self", "missing", "refused"):
            loc = {"ext": "w.bin", "self": "fuzz.onnx", "missing": "missing.bin", "refused": "refused.bin"}[form]
            t = bare(name, F32, arr.shape)
            t.data_location = TensorProto.EXTERNAL
            n = arr.size * 4
            off = 0 if form == "self" else self.ext_at
            self.ext_at += (n + 63) // 64 * 64
            for k, v in (("location", loc), ("offset", str(off)), ("length", str(n))):
                e = t.external_data.add()
                e.key, e.value = k, v
            return t
        raise ValueError(form)

    def init(self, arr, form=None):
        """A weight: an initializer, or a Constant node's output."""
        form = form or self.form
        name = self.name()
        if form == "const":
            self.node("Constant", [], [name], value=self.tensor(name, arr, "raw"))
        elif form == "constfloats" and np.asarray(arr).ndim == 1:
            self.node("Constant", [], [name], value_floats=np.asarray(arr, np.float32).tolist())
        elif form == "constfloats":
            self.node("Constant", [], [name], value=self.tensor(name, arr, "typed"))
        else:
            self.inits.append(self.tensor(name, arr, form))
        return name

    def ints(self, v, const=False):
        """An int64 tensor (shapes, axes, pads)."""
        name = self.name()
        t = numpy_helper.from_array(np.asarray(v, np.int64), name)
        if const:
            self.node("Constant", [], [name], value=t)
        else:
            self.inits.append(t)
        return name

    def node(self, op, ins, outs=None, domain=None, **attrs):
        outs = outs if outs is not None else [self.name()]
        self.nodes.append(helper.make_node(op, ins, outs, name=None, domain=domain, **attrs))
        return outs[0] if outs else None

    def conv(self, x, cin=C, cout=C, group=1, bias=True, k=1, **attrs):
        ins = [x, self.init(vals(cout, cin // group, k, k, seed=self.n))]
        if bias:
            ins.append(self.init(vals(cout, seed=self.n + 1)))
        return self.node("Conv", ins, group=group, **attrs) if group != 1 else self.node("Conv", ins, **attrs)

    def gemm(self, x, cin, cout, trans_b=1, bias=True, **attrs):
        w = vals(cout, cin, seed=self.n) if trans_b else vals(cin, cout, seed=self.n)
        ins = [x, self.init(w)]
        if bias:
            ins.append(self.init(vals(cout, seed=self.n + 1)))
        return self.node("Gemm", ins, transB=trans_b, **attrs)

    def save(self, fname, y, shape=None, elem=F32):
        self.outs.append(helper.make_tensor_value_info(y, elem, shape))
        g = helper.make_graph(self.nodes, "g", self.ins, self.outs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in self.opsets],
                              producer_name="")
        if self.ir is None:
            m.ClearField("ir_version")
        else:
            m.ir_version = self.ir
        with open(os.path.join(out, fname + ".onnx"), "wb") as f:
            f.write(m.SerializeToString())
        return m


def chain(fname, op=None, opset=13, form="raw", **attrs):
    """x -> Conv -> [op] -> Conv -> y, weights stored as form."""
    s = Seed(opset, form)
    a = s.conv("x")
    b = s.node(op, [a], **attrs) if op else a
    s.save(fname, s.conv(b))
    return s


# ---- storage forms --------------------------------------------------------
for form in ("raw", "typed", "f16", "f16typed", "f64", "f64typed", "bf16", "ext", "self", "missing",
             "refused", "const", "constfloats"):
    chain("form_" + form, "Relu", form=form)
s = Seed()
a = s.conv("x")
b = s.node("BatchNormalization", [a] + [s.init(vals(C, seed=i) + (2 if i == 3 else 0), "ext") for i in range(4)])
s.save("form_ext_bn", s.conv(s.node("Relu", [b])))
s = Seed()  # external data that does not fit, or names no byte count
w = s.tensor("w", vals(C, C, 1, 1), "ext")
w.external_data[1].value = "65530"
bad = s.tensor("b", vals(C), "ext")
bad.external_data[2].value = "-4"
s.inits += [w, bad]
s.save("ext_out_of_range", s.node("Conv", ["x", "w", "b"]))
s = Seed()  # no location, and a length that disagrees with the dims
w = s.tensor("w", vals(C, C, 1, 1), "ext")
del w.external_data[0]
b = s.tensor("b", vals(C), "ext")
b.external_data[2].value = "12"
s.inits += [w, b]
s.save("ext_no_location", s.node("Conv", ["x", "w", "b"]))

# ---- every op role between two layers --------------------------------------
for op, attrs in (("Relu", {}), ("LeakyRelu", {"alpha": 0.1}), ("Identity", {}), ("Cast", {"to": F32}),
                  ("GlobalAveragePool", {}), ("GlobalMaxPool", {}), ("Sigmoid", {}), ("Softmax", {}),
                  ("HardSigmoid", {}), ("Transpose", {"perm": [0, 1, 3, 2]}), ("Size", {}), ("Shape", {})):
    chain("op_" + op, op, **attrs)
chain("op_AveragePool", "AveragePool", kernel_shape=[1, 1])
chain("op_MaxPool", "MaxPool", kernel_shape=[2, 2], pads=[0, 0, 1, 1])
s = Seed()  # MaxPool's indices used: a block
a = s.conv("x")
p = s.node("MaxPool", [a], ["p", "i"], kernel_shape=[1, 1])
s.outs.append(helper.make_tensor_value_info("i", TensorProto.INT64, None))
s.save("op_MaxPool_indices", s.conv(p))
s = Seed(12)  # Dropout with ratio input and its mask
a = s.conv("x")
d = s.node("Dropout", [a, s.init(np.array(0.5, np.float32), "raw")], ["d", "mask"])
s.save("op_Dropout", s.conv(d))
chain("op_Dropout7", "Dropout", opset=7, ratio=0.25)
for op in ("Add", "Sum", "Max", "Min", "Mul"):
    s = Seed()
    a, b = s.conv("x"), s.conv("x")
    s.save("join_" + op, s.conv(s.node(op, [a, b])))
s = Seed()  # a broadcast join: 1 channel against 2
a = s.conv("x")
s.save("join_broadcast", s.conv(s.node("Add", [a, s.init(vals(1, 1, 1, 1))])))
s = Seed()
a, b = s.conv("x"), s.conv("x", cout=1)
s.save("concat", s.conv(s.node("Concat", [a, b], axis=1), cin=C + 1))
s = Seed()
s.save("concat_axis2", s.conv(s.node("Concat", [s.conv("x"), s.conv("x")], axis=2)))
s = Seed()  # PRelu with a per-channel slope
a = s.conv("x")
s.save("op_PRelu", s.conv(s.node("PRelu", [a, s.init(vals(C, 1, 1))])))

# Clip: attributes (opset 6), inputs (11+), only a max, Constant bounds, NaN and inf
chain("clip6", "Clip", opset=6, min=0.0, max=6.0)
chain("clip6_nobounds", "Clip", opset=6)
for opset in (11, 13):
    s = Seed(opset)
    a = s.conv("x")
    lo, hi = s.init(np.array(0, np.float32), "raw"), s.init(np.array(6, np.float32), "raw")
    s.save("clip%d" % opset, s.conv(s.node("Clip", [a, lo, hi])))
s = Seed()
a = s.conv("x")
s.save("clip_max_only", s.conv(s.node("Clip", [a, "", s.init(np.array(6, np.float32), "const")])))
s = Seed()
a = s.conv("x")
lo, hi = s.init(np.array(np.nan, np.float32), "raw"), s.init(np.array(np.inf, np.float32), "raw")
s.save("clip_nan_inf", s.conv(s.node("Clip", [a, lo, hi])))
s = Seed()
a = s.conv("x")
s.save("clip_runtime_bound", s.conv(s.node("Clip", [a, "x", ""])))

# BatchNormalization: folded, kept, opsets 6 (spatial), 9, 14 (training_mode), mismatched
for opset, attrs in ((13, {}), (6, {"spatial": 1, "is_test": 1}), (9, {}), (15, {"training_mode": 0})):
    s = Seed(opset)
    a = s.conv("x", bias=opset != 9)
    prm = [s.init(vals(C, seed=i) + (2 if i == 3 else 0)) for i in range(4)]
    s.save("bn%d" % opset, s.conv(s.node("Relu", [s.node("BatchNormalization", [a] + prm, **attrs)])))
s = Seed(15)
a = s.conv("x")
prm = [s.init(vals(C, seed=i) + 2) for i in range(4)]
bn = s.node("BatchNormalization", [a] + prm, ["bn", "rm", "rv"], training_mode=1)
s.save("bn_training", s.conv(bn))
s = Seed()
prm = [s.init(vals(C + 1, seed=i) + 2) for i in range(4)]
s.save("bn_mismatch", s.conv(s.node("BatchNormalization", [s.conv("x")] + prm)))
s = Seed(form="f16")
prm = [s.init(vals(C, seed=i) + 2) for i in range(4)]
s.save("bn_f16", s.conv(s.node("Relu", [s.node("BatchNormalization", [s.conv("x")] + prm)])))

# Pad: attribute form (opset 2), input form (11+), a pad over channels
chain("pad2", "Pad", opset=2, pads=[0, 0, 1, 1, 0, 0, 1, 1])
s = Seed(11)
a = s.conv("x")
s.save("pad11", s.conv(s.node("Pad", [a, s.ints([0, 0, 1, 1, 0, 0, 1, 1])], mode="reflect")))
s = Seed(11)
a = s.conv("x")
s.save("pad_channels", s.conv(s.node("Pad", [a, s.ints([0, 1, 0, 0, 0, 0, 0, 0], const=True)]), cin=C + 1))

# Resize / Upsample: opsets 7, 9, 10, 11, 13, align_corners (a rule)
chain("upsample7", "Upsample", opset=7, scales=[1.0, 1.0, 2.0, 2.0])
s = Seed(9)
a = s.conv("x")
s.save("upsample9", s.conv(s.node("Upsample", [a, s.init(np.array([1, 1, 2, 2], np.float32), "raw")])))
s = Seed(10)
a = s.conv("x")
s.save("resize10", s.conv(s.node("Resize", [a, s.init(np.array([1, 1, 2, 2], np.float32), "raw")])))
s = Seed(11)
a = s.conv("x")
roi, sc = s.init(np.zeros(0, np.float32), "raw"), s.init(np.array([1, 1, 2, 2], np.float32), "raw")
s.save("resize_align", s.conv(s.node("Resize", [a, roi, sc], mode="linear",
                                     coordinate_transformation_mode="align_corners")))
s = Seed(13)
a = s.conv("x")
s.save("resize_sizes", s.conv(s.node("Resize", [a, "", "", s.ints([1, 3, 4, 4])]), cin=3))
s = Seed(13)
a = s.conv("x")
s.save("resize_channels", s.conv(s.node("Resize", [a, "", s.init(np.array([1, 2, 1, 1], np.float32), "raw")])))
s = Seed(9)
s.save("aten_upsample", s.conv(s.node("ATen", [s.conv("x")], domain="", operator="upsample_bilinear2d",
                                      align_corners=1)))
s = Seed(9)
s.save("upsample_bilinear2d", s.conv(s.node("upsample_bilinear2d", [s.conv("x")], domain="org.pytorch",
                                            align_corners=1)))

# Flatten / Reshape into Gemm and MatMul; the fixed-batch rule and its batch-from-shape fix
for axis in (1, 2):
    s = Seed()
    f = s.node("Flatten", [s.node("Relu", [s.conv("x")])], axis=axis)
    s.save("flatten%d" % axis, s.gemm(f, C * 4 if axis == 1 else 4, 3))
for shape, name in (([1, -1], "reshape_fixed"), ([0, -1], "reshape_keep"), ([-1, 8], "reshape_infer")):
    s = Seed()
    r = s.node("Reshape", [s.node("Relu", [s.conv("x")]), s.ints(shape)])
    s.save(name, s.gemm(r, C * 4, 3))
s = Seed()
r = s.node("Reshape", [s.conv("x"), s.ints([1, 8], const=True)])
s.save("reshape_const_node", s.gemm(r, C * 4, 3))
s = Seed()
a = s.node("Relu", [s.conv("x")])
n = s.node("Unsqueeze", [s.node("Gather", [s.node("Shape", [a]), s.ints(0)], axis=0), s.ints([0])])
shape = s.node("Concat", [n, s.ints([-1])], axis=0)
s.save("reshape_from_shape", s.gemm(s.node("Reshape", [a, shape]), C * 4, 3))
s = Seed()
a = s.conv("x")
s.save("reshape_runtime", s.gemm(s.node("Reshape", [a, s.node("Shape", ["x"])]), C * 4, 3))

# the layers: Gemm forms, MatMul + Add, ConvTranspose, groups, 1-D and 3-D convolutions
s = Seed(x=(1, 3))
s.save("gemm_chain", s.gemm(s.node("Relu", [s.gemm("x", 3, 4, alpha=0.5, beta=2.0)]), 4, 2, trans_b=0))
s = Seed(x=(1, 3))
s.save("gemm_transA", s.gemm(s.node("Relu", [s.gemm("x", 3, 4, transA=0)]), 4, 2, bias=False))
s = Seed(x=(2, 3))
h = s.node("Add", [s.node("MatMul", ["x", s.init(vals(3, 4))]), s.init(vals(4))])
s.save("matmul_bias", s.node("MatMul", [s.node("Relu", [h]), s.init(vals(4, 2))]))
s = Seed(x=(2, 3))
s.save("matmul_3d", s.node("MatMul", [s.node("MatMul", ["x", s.init(vals(2, 3, 4))]), s.init(vals(4, 2))]))
s = Seed()
t = s.node("ConvTranspose", ["x", s.init(vals(C, C, 1, 1)), s.init(vals(C))])
s.save("conv_transpose", s.conv(s.node("Relu", [t])))
s = Seed()
t = s.node("ConvTranspose", ["x", s.init(vals(C, 1, 2, 2))], group=C, strides=[2, 2])
s.save("conv_transpose_group", s.conv(t))
s = Seed()
s.save("depthwise", s.conv(s.node("Relu", [s.conv("x", group=C, cin=C)]), group=C))
s = Seed(x=(1, 4, 2, 2))
s.save("grouped", s.conv(s.conv("x", cin=4, cout=4, group=2), cin=4, cout=4, group=2))
s = Seed(x=(1, C, 3))
c1 = s.node("Conv", ["x", s.init(vals(C, C, 1))])
s.save("conv1d", s.node("Conv", [s.node("Relu", [c1]), s.init(vals(C, C, 1))]))
s = Seed()
c1 = s.node("Conv", ["x", s.init(vals(C, C, 1, 1)), s.init(vals(C))], auto_pad="SAME_UPPER", dilations=[1, 1])
s.save("conv_attrs", s.conv(c1, k=2, strides=[2, 2]))
s = Seed()  # a layer reading its weight from another layer's output
a = s.conv("x")
s.save("weight_from_activation", s.node("Conv", [s.conv("x"), s.node("Reshape", [a, s.ints([C, C, 2, 2])])]))

# values that wasm32 must treat as native does (issue 17): huge group and dims
for g, name in ((2 ** 62, "group_2p62"), (2 ** 32 + 1, "group_2p32p1"), (-1, "group_neg"), (0, "group_0")):
    s = Seed()
    s.save(name, s.conv(s.node("Conv", [s.conv("x"), s.init(vals(C, 1, 1, 1))], group=g)))
s = Seed()
w = s.tensor("w", vals(C, C, 1, 1), "typed")
w.dims[2] = 2 ** 32 + 1
s.inits.append(w)
s.save("dims_2p32", s.conv(s.node("Conv", [s.conv("x"), "w"])))
s = Seed()
w = s.tensor("w", vals(C, C, 1, 1), "raw")
w.dims[0] = -2
s.inits.append(w)
s.save("dims_negative", s.conv(s.node("Conv", [s.conv("x"), "w"])))

# subgraphs: If with weights inside and outside, Loop, Scan, If inside If
def branch(s, name, inner):
    """A subgraph Conv(outer a) -> Relu -> Conv, its last weight inside or outer "wo"."""
    b = Seed(s.opset, x=None)
    b.n = 100 * (len(name) + 1)
    h = b.node("Relu", [b.node("Conv", ["a", b.init(vals(C, C, 1, 1, seed=5))])])
    y = b.node("Conv", [h, b.init(vals(C, C, 1, 1, seed=3)) if inner else "wo", b.init(vals(C))])
    b.outs.append(helper.make_tensor_value_info(y, F32, None))
    return helper.make_graph(b.nodes, name, [], b.outs, b.inits)

s = Seed()
s.inits.append(s.tensor("wo", vals(C, C, 1, 1)))
s.inits.append(numpy_helper.from_array(np.array(True), "c"))
a = s.node("Relu", [s.conv("x")], ["a"])
y = s.node("If", ["c"], then_branch=branch(s, "th", True), else_branch=branch(s, "el", False))
s.save("if_weights", s.conv(y))
s = Seed()
s.inits.append(numpy_helper.from_array(np.array(True), "c"))
a = s.node("Relu", [s.conv("x")], ["a"])
inner = Seed(x=None)
inner.inits.append(numpy_helper.from_array(np.array(False), "c2"))
iy = inner.node("If", ["c2"], then_branch=branch(s, "t2", True), else_branch=branch(s, "e2", True))
inner.outs.append(helper.make_tensor_value_info(iy, F32, None))
g_in = helper.make_graph(inner.nodes, "th", [], inner.outs, inner.inits)
s.save("if_nested", s.node("If", ["c"], then_branch=g_in, else_branch=branch(s, "el", True)))
s = Seed(11)
s.inits += [numpy_helper.from_array(np.array(2, np.int64), "n"), numpy_helper.from_array(np.array(True), "c")]
a = s.node("Relu", [s.conv("x")], ["a"])
body = Seed(11, x=None)
body.ins += [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("ci", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v", F32, None)]
bc = body.node("Identity", ["ci"])
bv = body.node("Conv", ["v", body.init(vals(C, C, 1, 1))])
bv = body.node("Conv", [body.node("Relu", [bv]), body.init(vals(C, C, 1, 1)), body.init(vals(C))])
body.outs += [helper.make_tensor_value_info(bc, TensorProto.BOOL, []), helper.make_tensor_value_info(bv, F32, None)]
y = s.node("Loop", ["n", "c", "a"], body=helper.make_graph(body.nodes, "body", body.ins, body.outs, body.inits))
s.save("loop_conv", s.conv(y))
s = Seed(11, x=(2, 3))
body = Seed(11, x=None)
body.ins += [helper.make_tensor_value_info("st", F32, [3]), helper.make_tensor_value_info("e", F32, [3])]
bs = body.node("Add", ["st", body.node("MatMul", ["e", body.init(vals(3, 3))])])
body.outs += [helper.make_tensor_value_info(bs, F32, [3]), helper.make_tensor_value_info(body.node("Identity", [bs]), F32, [3])]
s.inits.append(numpy_helper.from_array(np.zeros(3, np.float32), "s0"))
y = s.node("Scan", ["s0", "x"], ["sf", "ys"], num_scan_inputs=1,
           body=helper.make_graph(body.nodes, "sb", body.ins, body.outs, body.inits))
s.save("scan", s.node("MatMul", ["ys", s.init(vals(3, 2))]))

# model-level oddities and the onnx-invalid rule's cases
chain("opset6", "Relu", opset=6)
chain("opset7_relu6", "Clip", opset=7, min=0.0, max=6.0)
chain("opset17", "Relu", opset=17)
s = Seed(ir=None)
s.save("no_ir_version", s.conv(s.conv("x")))
s = Seed()
s.opsets = [("com.microsoft", 1)]
s.save("no_default_opset", s.conv(s.conv("x")))
s = Seed()
s.opsets.append(("custom", 1))
s.save("custom_domain", s.conv(s.node("Foo", [s.conv("x")], domain="custom")))
s = Seed()
a = s.conv("x")
s.nodes.reverse()
s.save("unsorted", s.conv(a))
s = Seed()
s.node("Relu", ["z"], ["z"])
s.save("self_loop", s.conv(s.node("Add", [s.conv("x"), "z"])))
s = Seed()
s.node("Relu", ["q"], ["p"])
s.node("Relu", ["p"], ["q"])
s.save("cycle", s.conv(s.node("Add", [s.conv("x"), "q"])))
s = Seed()
a = s.conv("x")
s.inits.append(s.tensor(s.nodes[0].input[1], vals(C, C, 1, 1) * 3))
s.save("duplicate_initializer", s.conv(a))
s = Seed()
s.save("undefined_input", s.conv(s.node("Relu", ["nowhere"])))
s = Seed()
s.save("empty_graph", "x")
s = Seed()
a = s.conv("x")
s.outs.append(helper.make_tensor_value_info(a, F32, None))
s.save("output_in_middle", s.conv(a))
s = Seed()  # a weight with string data, one with too few elements
s.inits.append(helper.make_tensor("w", TensorProto.STRING, [C, C, 1, 1], [b"a"] * 4))
b = bare("b", F32, [C])
b.float_data.append(1.0)
s.inits.append(b)
s.save("bad_weights", s.conv(s.node("Conv", ["x", "w", "b"])))
