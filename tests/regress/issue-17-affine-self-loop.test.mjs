// Issue 17 regression, found by the CI's one-minute fuzz from a clean
// clone (scripts/fuzz.sh --seconds 60 -seed=1): after a layer, Mul mul0
// writes t0 and Add add1 reads t0 and writes t0 again (a self-loop; check
// says the model is invalid).  With --allow-invalid, folding the constant
// affines after the layer (issue 15) took add1 again and again, since its
// output was the tensor it read, and deleting it twice made two edits of
// the same bytes: "bad edit of bytes 108..133" (CLE_E_INTERNAL; an
// assertion in debug builds).  An affine is now folded only when its output
// is its own: written by it alone, and not a tensor it reads.
// issue-17-affine-self-loop.onnx is the fuzzer's input (1,051 bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, wasm } from '../js/helpers.mjs';

const model = path.join(path.dirname(fileURLToPath(import.meta.url)), 'issue-17-affine-self-loop.onnx');
const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));

test('an affine that rewrites the tensor it reads: invalid, and equalize --allow-invalid still writes a model', () => {
  const c = native('check', model);
  assert.equal(c.status, 1);
  assert.match(c.stdout.toString(), /tensor 't0' is produced by node add1 but was already defined by another node/);
  const refused = native('equalize', model, '-o', path.join(dir, 'refused.onnx'));
  assert.equal(refused.status, 2);
  assert.match(refused.stderr.toString(), /the model is not valid ONNX: tensor 't0' is produced by node add1/);
  for (const opts of [[], ['--objective=balance'], ['--batch-norm=fold'], ['--pow2-scales']]) {
    const out = path.join(dir, 'n.onnx');
    const r = native('equalize', model, '-o', out, '--allow-invalid', ...opts);
    assert.equal(r.status, 0, `${opts}: ${r.stderr}`);
    const w = wasm('equalize', model, '-o', path.join(dir, 'w.onnx'), '--allow-invalid', ...opts);
    assert.equal(w.status, 0, `${opts}: ${w.stderr}`);
    assert.deepEqual(readFileSync(path.join(dir, 'w.onnx')), readFileSync(out));
  }
});
