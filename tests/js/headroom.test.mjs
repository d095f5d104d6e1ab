// bench/interpolate.py, which bench/headroom.mjs's study (bench/QUALITY.md,
// "Headroom") scores: alpha 0 is the near model and 1 the far one, tensor
// for tensor; in between the function is kept (FP32 output SQNR against the
// model as shipped, measured as bench:quant measures it) and every rescaled
// entry lies between the ends; Silero's per-region form gives the
// global form when every region takes the same alpha; a pair that differs by
// more than rescaling (a batch norm folded) is refused, not interpolated.
// And the held-out clips the study scores choices on: other clips than the
// benchmark's, fed to Silero as its own are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { evaluate, loadInputs, modelInfo } from '../../bench/quant_lib.mjs';
import { fixture, native, realModels, root, run, PY_CONSTS } from './helpers.mjs';

const PY = '/usr/bin/python3';
const interpolate = (...args) => run(PY, [path.join(root, 'bench/interpolate.py'), ...args.map(String)]);

// compare.py A B M...: for each M, the largest relative difference of its
// float constants from A's and from B's, and whether each changed constant
// of M lies between A's and B's (JSON)
const COMPARE = `${PY_CONSTS}
a, b = consts(onnx.load(sys.argv[1])), consts(onnx.load(sys.argv[2]))
def rel(x, y): return float(np.max(np.abs(x.astype(np.float64) - y)) / max(np.max(np.abs(y)), 1e-30)) if x.size else 0.0
out = []
for f in sys.argv[3:]:
    m = consts(onnx.load(f))
    ks = [k for k in m if m[k].dtype == np.float32]
    changed = [k for k in ks if not np.array_equal(a[k], b[k])]
    lo = {k: np.minimum(np.abs(a[k]), np.abs(b[k])) for k in changed}
    hi = {k: np.maximum(np.abs(a[k]), np.abs(b[k])) for k in changed}
    between = all(bool(np.all((np.abs(m[k]) >= lo[k] * (1 - 1e-6)) & (np.abs(m[k]) <= hi[k] * (1 + 1e-6)))) for k in changed)
    out.append({"from_a": max(rel(m[k], a[k]) for k in ks), "from_b": max(rel(m[k], b[k]) for k in ks),
                "changed": len(changed), "between": between})
print(json.dumps(out))
`;

function compare(dir, a, b, files) {
  writeFileSync(path.join(dir, 'compare.py'), COMPARE);
  const r = run(PY, [path.join(dir, 'compare.py'), a, b, ...files]);
  assert.equal(r.status, 0, r.stderr?.toString());
  return JSON.parse(r.stdout);
}

test('interpolate.py: alpha 0 and 1 are the ends, alpha 0.5 lies between them with the function kept', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-headroom-'));
  try {
    const a = fixture('vgg_like_folded.onnx');
    const b = path.join(dir, 'balanced.onnx');
    assert.ok(native('equalize', a, '-o', b, '--objective=balance', '--no-hbf').status <= 1);
    const at = (x) => path.join(dir, `alpha_${x}.onnx`);
    for (const x of [0, 0.5, 1]) assert.equal(interpolate(a, b, at(x), x).status, 0, String(x));
    const [zero, half, one] = compare(dir, a, b, [at(0), at(0.5), at(1)]);
    assert.ok(zero.changed > 0, 'balancing changed some weights');
    assert.equal(zero.from_a, 0, 'alpha 0: the near model, bit for bit');
    assert.ok(one.from_b < 1e-6, `alpha 1: the far model (${one.from_b})`);
    assert.ok(half.from_a > 1e-3 && half.from_b > 1e-3, `alpha 0.5 differs from both ends (${half.from_a}, ${half.from_b})`);
    assert.ok(half.between, 'alpha 0.5: every rescaled entry between the two ends');
    const r = await evaluate({ model: 'vgg_like_folded', variants: [{ name: 'half', file: at(0.5) }], modes: ['fp32'], quick: true, workDir: dir });
    assert.ok(r.variants.half.fp32.db > 100, `function kept: FP32 ${r.variants.half.fp32.db} dB`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('interpolate.py: Silero\'s regions, each at the same alpha, are the global interpolation', () => {
  const v5 = realModels['silero-v5'];
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-headroom-'));
  try {
    const b = path.join(dir, 'balanced.onnx');
    assert.ok(native('equalize', v5, '-o', b, '--objective=balance', '--no-hbf').status <= 1);
    const g = path.join(dir, 'global.onnx'), r = path.join(dir, 'regions.onnx'), z = path.join(dir, 'zero.onnx');
    assert.equal(interpolate(v5, b, g, 0.5).status, 0);
    assert.equal(interpolate(v5, b, r, 0.5, 0.5, 0.5).status, 0);
    assert.equal(interpolate(v5, b, z, 1, 0, 0).status, 0);
    const [same, first] = compare(dir, g, v5, [r, z]);
    assert.ok(same.from_a < 1e-6, `per region at 0.5 == global 0.5 (${same.from_a})`);
    assert.ok(first.from_a > 1e-3 && first.changed > 0, 'region 0 alone differs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('interpolate.py refuses models that differ by more than rescaling', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-headroom-'));
  try {
    const a = fixture('vgg_like_bn.onnx');
    const b = path.join(dir, 'folded.onnx');
    assert.ok(native('equalize', a, '-o', b, '--batch-norm=fold').status <= 1);
    const r = interpolate(a, b, path.join(dir, 'x.onnx'), 0.5);
    assert.equal(r.status, 1);
    assert.match(r.stderr.toString(), /differ by more than rescaling/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vad-heldout: other clips than vad\'s, and a known model takes them with its own handling', () => {
  const info = modelInfo('silero-v5', { family: 'vad-heldout' });
  assert.equal(info.family, 'vad-heldout');
  assert.equal(info.stateful, modelInfo('silero-v5').stateful, 'still run chunk by chunk as Silero');
  assert.equal(modelInfo('silero-v5', { family: undefined }).family, 'vad', 'an unset family leaves the model\'s own');
  const mine = loadInputs('vad'), held = loadInputs('vad-heldout');
  assert.equal(held.realistic.length, 5);
  const key = (x) => `${x.data.length}:${x.data[x.data.length >> 1]}`;
  const seen = new Set(mine.realistic.map(key));
  for (const x of held.realistic) {
    assert.ok(!seen.has(key(x)), `held-out clip '${x.what}' is one of vad's`);
    assert.ok(x.data.some((v) => Math.abs(v) > 0.1), `'${x.what}' has speech in it`);
  }
});
