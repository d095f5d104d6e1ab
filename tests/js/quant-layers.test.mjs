// bench/fake_quant.py's "layers" job and the "only" option of its weights
// job, which bench/quant_layers.mjs measures each layer's noise with: the
// list has every layer the weights job counts, in its order, and quantizing
// layer k alone changes that layer's weight and nothing else, to the values
// the quantization of every layer gives it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fixture, root, run, PY_CONSTS } from './helpers.mjs';

// differ.py ORIGINAL ALL ONLY...: for each ONLY model, the names of its
// float constants (initializers and Constant values, in every graph) that
// differ from ORIGINAL's, and those that differ from ALL's (JSON)
const DIFFER = `${PY_CONSTS}
a, c = consts(onnx.load(sys.argv[1])), consts(onnx.load(sys.argv[2]))
diff = lambda x, y: sorted(k for k in x if not np.array_equal(x[k], y[k], equal_nan=True))
print(json.dumps([{"from_original": diff(a, b), "from_all": diff(c, b)} for b in (consts(onnx.load(f)) for f in sys.argv[3:])]))
`;

function fakeQuant(dir, jobs) {
  writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(jobs));
  const r = run('/usr/bin/python3', [path.join(root, 'bench/fake_quant.py'), path.join(dir, 'jobs.json')]);
  assert.equal(r.status, 0, r.stderr?.toString());
  return JSON.parse(r.stdout);
}

test('fake_quant.py "only": one layer quantized, as in the whole model, the others left as they are (If branches, Constant nodes)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-only-'));
  try {
    writeFileSync(path.join(dir, 'differ.py'), DIFFER);
    for (const m of ['if_conv', 'vgg_like_constants', 'mlp_bn']) {
      const model = fixture(`${m}.onnx`);
      const all = path.join(dir, `${m}.all.onnx`);
      const [{ layers }, whole] = fakeQuant(dir, [{ job: 'layers', model }, { job: 'weights', model, per_tensor: all }]);
      assert.equal(layers.length, whole.per_tensor.layers, `${m}: the list counts what the weights job quantizes`);
      assert.ok(layers.length >= 2, m);
      const jobs = layers.map((_, k) => ({ job: 'weights', model, per_tensor: path.join(dir, `${m}.L${k}.onnx`), only: k }));
      const done = fakeQuant(dir, jobs);
      const r = run('/usr/bin/python3', [path.join(dir, 'differ.py'), model, all, ...jobs.map((j) => j.per_tensor)]);
      assert.equal(r.status, 0, r.stderr?.toString());
      const diffs = JSON.parse(r.stdout);
      const touched = new Set();
      layers.forEach((l, k) => {
        const d = diffs[k];
        assert.equal(done[k].per_tensor.layers, layers.length, `${m} ${l.node}`);
        assert.equal(d.from_original.length, 1, `${m} ${l.node}: one constant changed (${d.from_original})`);
        touched.add(d.from_original[0]);
        // every other layer's weight is still the original's, so it differs from the fully quantized model's
        assert.equal(d.from_all.length, layers.length - 1, `${m} ${l.node}: the others stay float (${d.from_all})`);
        assert.ok(!d.from_all.includes(d.from_original[0]), `${m} ${l.node}: quantized as in the whole model`);
      });
      assert.equal(touched.size, layers.length, `${m}: each layer's own weight`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
