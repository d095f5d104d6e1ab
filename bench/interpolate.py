"""interpolate.py: models between a model (A: as shipped, or folded) and an
equalized copy of it (B), for bench/headroom.mjs (how well could an
equalization of the same kind do if it were chosen by the measured
outcome, an oracle that a data-free tool does not have?).

    interpolate.py A B OUT ALPHA
        every float tensor W_A * (W_B / W_A) ** ALPHA, element by element
    interpolate.py A B OUT A0 A1 A2
        Silero v5/v6: the scales of encoder region r (between encoder/r and
        encoder/r+1, in both If branches) raised to A_r

Both are exact for an equalization that only rescales (no batch norm
folded, no Clip rewritten, no bias absorbed): there W_B[o, i] =
W_A[o, i] s_in[i] / s_out[o], so raising the ratio to ALPHA is the same
rescaling with every scale raised to ALPHA, and the function is kept
(but for entries the copy's scales took below float32's range).
Anything else is refused.  Run with /usr/bin/python3 (Debian's onnx).
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper as nh


def tensors(graph, out):
    """Every tensor by name: initializers and Constant values, subgraphs too."""
    for t in graph.initializer:
        out[t.name] = t
    for n in graph.node:
        for a in n.attribute:
            if n.op_type == 'Constant' and a.name == 'value':
                out[n.output[0]] = a.t
            if a.type == onnx.AttributeProto.GRAPH:
                tensors(a.g, out)
    return out


def f64(t):
    return nh.to_array(t).astype(np.float64)


def put(t, x):
    t.CopyFrom(nh.from_array(x.astype(np.float32), t.name))


def rescaled_only(ma, mb, ta, tb):
    """Refuses a pair of models that differ by more than rescaled tensors."""
    def ops(g):
        return [n.op_type for n in g.node]
    if ops(ma.graph) != ops(mb.graph) or ta.keys() != tb.keys():
        sys.exit('interpolate.py: the models differ by more than rescaling (nodes or tensors)')


def global_alpha(ta, tb, alpha):
    for name, t in ta.items():
        if t.data_type != onnx.TensorProto.FLOAT:
            continue
        a, b = f64(t), f64(tb[name])
        if np.array_equal(a, b):
            continue
        nz = a != 0
        r = np.ones_like(a)
        r[nz] = b[nz] / a[nz]
        # (an entry the copy's scale took below float32's range is 0 there: r 0)
        if a.shape != b.shape or not (r >= 0).all() or (b[~nz] != 0).any():
            sys.exit(f'interpolate.py: {name} is not a positive rescaling of itself')
        put(t, a * r ** alpha)


def silero_regions(ta, tb, alphas):
    for branch in ('then', 'else'):
        name = f'If_0_{branch}_branch__Inline_0__encoder.%d.reparam_conv.%s'
        if any(name % (i, k) not in ta for i in range(4) for k in ('weight', 'bias')):
            sys.exit('interpolate.py: alphas per region are for Silero v5 and v6 (encoder.0-3 in If_0\'s branches)')
        # each layer's output scales, from the first (whose inputs are not
        # rescaled: the STFT magnitude) on; the last layer's stay 1
        scales, prev = [], None
        for i in range(4):
            wa, wb = f64(ta[name % (i, 'weight')]), f64(tb[name % (i, 'weight')])
            w = wa if prev is None else wa * prev[None, :, None]
            ra = np.abs(w.reshape(len(w), -1)).max(1)
            rb = np.abs(wb.reshape(len(wb), -1)).max(1)
            s = np.where(rb > 0, ra / np.where(rb > 0, rb, 1), 1.0) if i < 3 else np.ones(len(w))
            w = w / s[:, None, None]
            if np.abs(w - wb).max() > 1e-5 * np.abs(wb).max():
                sys.exit(f'interpolate.py: encoder/{i} is not a rescaling of itself')
            scales.append(s)
            prev = s
        for i in range(4):
            out = scales[i] ** (alphas[i] if i < 3 else 0.0)
            inp = scales[i - 1] ** alphas[i - 1] if i > 0 else 1.0
            w = ta[name % (i, 'weight')]
            x = f64(w) / out[:, None, None]
            put(w, x * inp[None, :, None] if i > 0 else x)
            b = ta[name % (i, 'bias')]
            put(b, f64(b) / out)


def main(argv):
    if len(argv) not in (5, 7):
        sys.exit(__doc__)
    ma, mb = onnx.load(argv[1]), onnx.load(argv[2])
    ta, tb = tensors(ma.graph, {}), tensors(mb.graph, {})
    rescaled_only(ma, mb, ta, tb)
    alphas = [float(x) for x in argv[4:]]
    if len(alphas) == 1:
        global_alpha(ta, tb, alphas[0])
    else:
        silero_regions(ta, tb, alphas)
    onnx.save(ma, argv[3])


if __name__ == '__main__':
    main(sys.argv)
