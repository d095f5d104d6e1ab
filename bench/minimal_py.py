#!/usr/bin/python3
"""The floor of a Python equalizer, for bench/run.mjs (issue 16): parse the
model with onnx, read every float32 weight with numpy (abs-max per output
channel, the one reduction any equalizer needs), serialize.  No graph
logic, no rescaling: a real Python equalizer does all of this and more.

usage: /usr/bin/python3 bench/minimal_py.py IN.onnx [--json]

Timed from the model's bytes to the output's bytes, as run.mjs times ours.
"""
import json
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper


def scan(data):
    m = onnx.load_from_string(data)
    n = 0
    for t in m.graph.initializer:
        if t.data_type != onnx.TensorProto.FLOAT or len(t.dims) < 2:
            continue
        w = numpy_helper.to_array(t)
        np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        n += w.size
    return m.SerializeToString(), n


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    with open(args[0], "rb") as f:
        data = f.read()
    t0 = time.perf_counter()
    out, n = scan(data)
    seconds = time.perf_counter() - t0
    info = {"seconds": seconds, "weights": n, "out_bytes": len(out)}
    print(json.dumps(info) if "--json" in argv else f"{n} weights, {seconds:.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
