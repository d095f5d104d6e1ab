// Issue 17 regression, found by a ten-minute fuzz (scripts/fuzz.sh -seed=3,
// from an old corpus): an Add with no outputs ('add1', beside the real Add
// that writes t1) reading a scaled tensor was listed among its region's
// nodes to rewrite, and write_operand (src/cle_write.c) read its output
// name from the empty list: ASan SEGV in vname under the fuzzer; a plain
// build named the rewritten node's output after whatever value that
// garbage index was ('x', the graph's input: a second writer of it).  A
// node with no outputs computes nothing, so the planner no longer lists it
// (a Clip with no output, an earlier fuzz find, was special-cased in
// write_clip; that case is gone too).  issue-17-add-no-output.onnx is the
// fuzzer's input (MatMul m1 -> Mul (twice) -> Add (twice) -> Relu ->
// MatMul m2; not valid ONNX, so --allow-invalid).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, wasm } from '../js/helpers.mjs';

const model = path.join(path.dirname(fileURLToPath(import.meta.url)), 'issue-17-add-no-output.onnx');
const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));

/** python3-onnx's reading of the Add nodes of a model: [name, inputs, outputs]. */
function adds(file) {
  const py = `import onnx, json, sys
m = onnx.load(sys.argv[1])
print(json.dumps([[n.name, list(n.input), list(n.output)] for n in m.graph.node if n.op_type == 'Add']))`;
  const r = spawnSync('/usr/bin/python3', ['-c', py, file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('an Add with no outputs in a scaled region: left as it is, native and wasm alike', () => {
  for (const opts of [[], ['--objective=balance'], ['--pow2-scales']]) {
    const out = path.join(dir, 'n.onnx');
    const r = native('equalize', model, '-o', out, '--allow-invalid', ...opts);
    assert.equal(r.status, 0, `${opts}: ${r.stderr}`);
    const a = adds(out);
    assert.deepEqual(a.find(([name]) => name === 'add1'), ['add1', ['t0', 'k1'], []], `${opts}`);
    const real = a.find(([name]) => name === '');
    assert.deepEqual(real[2], ['t1'], `${opts}`);
    assert.notEqual(real[1][1], 'k1', `${opts}: the real Add's constant is rescaled`);
    const w = wasm('equalize', model, '-o', path.join(dir, 'w.onnx'), '--allow-invalid', ...opts);
    assert.equal(w.status, 0, `${opts}: ${w.stderr}`);
    assert.deepEqual(readFileSync(path.join(dir, 'w.onnx')), readFileSync(out));
  }
});
