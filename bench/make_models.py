#!/usr/bin/python3
"""Generated benchmark models: wide CNNs of about 100 MB and 1 GB, float32,
with batch norm like trained nets have.  Deterministic (fixed seeds); not
committed (bench/models/ is in .gitignore).

usage: /usr/bin/python3 bench/make_models.py [OUTDIR] [--quick] [--force]

  OUTDIR    default bench/models
  --quick   only the ~100 MB model
  --force   rewrite models that already exist

Writes
  resnet_100m.onnx  ResNet-like, 224x224 input: a stem, four stages of basic
                    blocks (3x3 Conv-BN-ReLU, 3x3 Conv-BN, Add with the
                    shortcut, ReLU; a 1x1 Conv-BN projection where the shape
                    changes), an inverted-residual stage with ReLU6 (1x1
                    expand, 3x3 depthwise, 1x1 project), GlobalAveragePool,
                    Flatten and a two-layer Gemm head.  Residual Adds make
                    joint regions, depthwise layers triplets, ReLU6 Clips
                    per-channel bounds: every path of the equalizer runs.
  vgg_1g.onnx       VGG-like and wide (up to 2048 channels): 3x3 Conv-BN-ReLU
                    stacks with MaxPool between stages, a 1x1 Conv-BN-ReLU6,
                    GlobalAveragePool, Flatten and three Gemm layers.  Mostly
                    long single-producer chains, as in VGG.
  vgg16_bn_torchvision.onnx
                    torchvision's vgg16_bn (553 MB) exported by torch.onnx as
                    a user would (eval mode, so the exporter folds the batch
                    norms), with random weights, biases and batch-norm
                    statistics drawn like a trained net's (below).  Its
                    classifier reads the 7x7x512 feature map flattened:
                    25088 features into a 4096-wide Linear.  Not with --quick.

Weights are He-normal (std sqrt(2 / fan_in)) with per-output-channel scales
spread over 1.5 decades; batch norm as in tests/fixtures/make_cle_models.py:
|gamma| spread evenly in log over 0.1 .. 3 with a tenth of the channels
nearly off (0.001 .. 0.01), 8 % negative, beta ~ N(0.5, 0.5), running_var
the square of the weight scale times a per-channel activation variance
(log-normal), running_mean ~ N(0, 0.2 std).  Folded, every BN layer's
per-channel ranges spread over 100x or more, as in trained nets.  The
tensors are generated with numpy and written as raw_data; nothing is trained
or run.  The models are valid ONNX (opset 13, checked with onnx.checker) and
below protobuf's 2 GiB limit.
"""
import os
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 13


class Builder:
    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.bytes = 0
        self.n = 0
        self.clip_bounds = None

    def uid(self, kind):
        self.n += 1
        return f"{kind}_{self.n}"

    def const(self, name, arr):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, arr.shape, arr.tobytes(), raw=True))
        self.bytes += arr.nbytes
        return name

    def node(self, op, inputs, name=None, **attrs):
        name = name or self.uid(op.lower())
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv_bn(self, x, cin, cout, k, stride=1, groups=1, act="relu"):
        """Conv (no bias) + BatchNormalization + activation (relu, relu6 or None)."""
        rng = self.rng
        fan_in = cin // groups * k * k
        chscale = 10 ** rng.uniform(-1.5, 0, cout).astype(np.float32)
        w = rng.standard_normal((cout, cin // groups, k, k), dtype=np.float32)
        w *= (np.float32(np.sqrt(2.0 / fan_in)) * chscale)[:, None, None, None]
        name = self.uid("conv")
        wn = self.const(name + ".weight", w)
        del w
        y = self.node("Conv", [x, wn], name=name, kernel_shape=[k, k], pads=[k // 2] * 4,
                      strides=[stride, stride], group=groups)
        # trained-like batch norm
        tiny = max(1, round(0.1 * cout))
        mag = 10 ** np.concatenate([rng.uniform(-3, -2, tiny), np.linspace(-1, 0.5, cout - tiny)])
        sign = np.where(rng.uniform(size=cout) < 0.08, -1.0, 1.0)
        gamma = rng.permutation(mag) * sign
        beta = rng.normal(0.5, 0.5, cout)
        act_var = np.exp(rng.normal(0, 1.0, cout))  # activation variance before the weights' scale
        var = (chscale.astype(np.float64) ** 2) * act_var * np.exp(rng.normal(0, 0.3, cout))
        mean = rng.normal(0, 0.2, cout) * np.sqrt(var)
        bn = name.replace("conv", "bn")
        y = self.node("BatchNormalization", [y, self.const(bn + ".gamma", gamma), self.const(bn + ".beta", beta),
                                             self.const(bn + ".mean", mean), self.const(bn + ".var", var)],
                      name=bn, epsilon=1e-5)
        return self.act(y, act)

    def act(self, x, act):
        if act == "relu":
            return self.node("Relu", [x])
        if act == "relu6":
            if self.clip_bounds is None:
                self.clip_bounds = (self.const("relu6.min", np.float32(0)), self.const("relu6.max", np.float32(6)))
            return self.node("Clip", [x, *self.clip_bounds])
        return x

    def gemm(self, x, cin, cout, act=None):
        bound = 1 / np.sqrt(cin)
        w = self.rng.uniform(-bound, bound, (cout, cin)).astype(np.float32)
        b = self.rng.uniform(-bound, bound, cout).astype(np.float32)
        name = self.uid("fc")
        y = self.node("Gemm", [x, self.const(name + ".weight", w), self.const(name + ".bias", b)], name=name,
                      transB=1)
        return self.act(y, act)

    def head(self, x, c, hidden, classes=1000):
        x = self.node("GlobalAveragePool", [x])
        x = self.node("Flatten", [x], axis=1)
        for h in hidden:
            x = self.gemm(x, c, h, act="relu")
            c = h
        return self.gemm(x, c, classes)

    def model(self, x_in, y_out, classes=1000):
        graph = helper.make_graph(
            self.nodes, self.name, [helper.make_tensor_value_info(x_in, TensorProto.FLOAT, [1, 3, 224, 224])],
            [helper.make_tensor_value_info(y_out, TensorProto.FLOAT, [1, classes])], initializer=self.inits)
        m = helper.make_model(graph, producer_name="onnx-cle bench/make_models.py",
                              opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 7
        return m


def basic_block(b, x, cin, cout, stride):
    y = b.conv_bn(x, cin, cout, 3, stride=stride, act="relu")
    y = b.conv_bn(y, cout, cout, 3, act=None)
    sc = b.conv_bn(x, cin, cout, 1, stride=stride, act=None) if stride != 1 or cin != cout else x
    return b.node("Relu", [b.node("Add", [y, sc])])


def inverted_residual(b, x, cin, cout, expand):
    hid = cin * expand
    y = b.conv_bn(x, cin, hid, 1, act="relu6")
    y = b.conv_bn(y, hid, hid, 3, groups=hid, act="relu6")
    y = b.conv_bn(y, hid, cout, 1, act=None)
    return b.node("Add", [x, y]) if cin == cout else y


def resnet_100m():
    b = Builder("resnet_100m", 2024)
    x = b.conv_bn("input", 3, 64, 3, stride=2)
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = 64
    for width, blocks, stride in ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 3, 2)):
        for i in range(blocks):
            x = basic_block(b, x, c, width, stride if i == 0 else 1)
            c = width
    for _ in range(2):
        x = inverted_residual(b, x, c, c, 4)
    x = b.conv_bn(x, c, 1280, 1, act="relu6")
    y = b.head(x, 1280, [2048])
    return b, y


def vgg_1g():
    b = Builder("vgg_1g", 2025)
    x, c = "input", 3
    for width, convs in ((128, 2), (256, 2), (512, 3), (1024, 3), (2048, 6)):
        for _ in range(convs):
            x = b.conv_bn(x, c, width, 3)
            c = width
        x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.conv_bn(x, c, 2048, 1, act="relu6")
    y = b.head(x, 2048, [4096, 4096])
    return b, y


def trained_like(net, seed):
    """Biases and batch-norm parameters drawn like a trained net's (see the top)."""
    import torch

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.from_numpy(rng.normal(0, 0.05, m.bias.shape).astype(np.float32)))
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                gamma = np.exp(rng.uniform(np.log(0.1), np.log(3), n))
                gamma[rng.random(n) < 0.1] *= 0.01
                gamma[rng.random(n) < 0.08] *= -1
                m.weight.copy_(torch.from_numpy(gamma.astype(np.float32)))
                m.bias.copy_(torch.from_numpy(rng.normal(0.5, 0.5, n).astype(np.float32)))
                m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.2, n).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(np.exp(rng.normal(0, 1.5, n)).astype(np.float32)))


def torchvision_export(path, what, make, seed, size=224):
    """A torchvision model with random trained-like parameters, exported by
    torch.onnx as a user would (eval mode: the exporter folds batch norms)."""
    import torch

    t0 = time.time()
    torch.manual_seed(seed)
    net = make().eval()
    trained_like(net, seed)
    tmp = path + ".tmp"
    torch.onnx.export(net, torch.zeros(1, 3, size, size), tmp, opset_version=OPSET,
                      input_names=["input"], output_names=["output"])
    onnx.checker.check_model(tmp)
    os.replace(tmp, path)
    print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, torchvision {what} ({time.time() - t0:.1f} s)",
          flush=True)


def vgg16_torchvision(path):
    """torchvision.models.vgg16_bn exported with torch.onnx (see the top)."""
    import torchvision

    torchvision_export(path, "vgg16_bn", lambda: torchvision.models.vgg16_bn(weights=None), 16)


def fcn_resnet50_torchvision(path):
    """torchvision's FCN-ResNet50 (segmentation, no auxiliary head): a
    ResNet-50 backbone (bottleneck blocks, dilated in its last two stages)."""
    import torchvision

    torchvision_export(path, "fcn_resnet50", lambda: torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, aux_loss=False), 50)


def mobilenet_v2_torchvision(path):
    """torchvision's MobileNetV2: inverted residuals, depthwise triplets, ReLU6."""
    import torchvision

    torchvision_export(path, "mobilenet_v2", lambda: torchvision.models.mobilenet_v2(weights=None), 2)


def write(make, path):
    t0 = time.time()
    b, y = make()
    m = b.model("input", y)
    onnx.checker.check_model(m)
    data = m.SerializeToString()
    assert len(data) < 2 ** 31 - 1, f"{path}: {len(data)} bytes, over protobuf's 2 GiB limit"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    print(f"{path}: {len(data) / 1e6:.1f} MB, {len(m.graph.node)} nodes, {len(m.graph.initializer)} tensors "
          f"({time.time() - t0:.1f} s)", flush=True)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    out = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    os.makedirs(out, exist_ok=True)
    wanted = [("resnet_100m.onnx", lambda path: write(resnet_100m, path)),
              ("fcn_resnet50_torchvision.onnx", fcn_resnet50_torchvision),
              ("mobilenet_v2_torchvision.onnx", mobilenet_v2_torchvision)]
    if "--quick" not in argv:
        wanted.append(("vgg_1g.onnx", lambda path: write(vgg_1g, path)))
        wanted.append(("vgg16_bn_torchvision.onnx", vgg16_torchvision))
    for file, make in wanted:
        path = os.path.join(out, file)
        if os.path.exists(path) and "--force" not in argv:
            print(f"{path}: exists", flush=True)
            continue
        make(path)


if __name__ == "__main__":
    main(sys.argv[1:])
