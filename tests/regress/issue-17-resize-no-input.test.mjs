// Issue 17 regression, found by a two-and-a-half-minute fuzz from a clean
// corpus (scripts/fuzz.sh -seed=1, 49 s in): a Resize whose data input has
// no name (an empty string once its bytes are read as a C string) and
// constant sizes passed the planner as a pass-through, and join_tensors
// (src/cle_plan.c) read the channel count of "no value", far past its
// array: SEGV.  A node of a pass-through, join or concat role whose data
// inputs are missing now blocks, with its sentence.
// issue-17-resize-no-input.onnx is the fuzzer's input (1,142 bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, wasm } from '../js/helpers.mjs';

const model = path.join(path.dirname(fileURLToPath(import.meta.url)), 'issue-17-resize-no-input.onnx');
const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));

test('a Resize without its data input: check and equalize answer, native and wasm alike', () => {
  const n = native('check', model, '--json');
  const w = wasm('check', model, '--json');
  assert.ok(n.status === 0 || n.status === 1, String(n.stderr));
  assert.equal(w.status, n.status);
  assert.deepEqual(String(w.stdout), String(n.stdout));
  for (const opts of [[], ['--objective=balance']]) {
    const r = native('equalize', model, '-o', path.join(dir, 'n.onnx'), '--allow-invalid', ...opts);
    const x = wasm('equalize', model, '-o', path.join(dir, 'w.onnx'), '--allow-invalid', ...opts);
    assert.ok(r.status === 0 || r.status === 2, `${opts}: ${r.stderr}`);
    assert.equal(x.status, r.status, `${opts}: ${x.stderr}`);
    if (r.status === 0) assert.deepEqual(readFileSync(path.join(dir, 'w.onnx')), readFileSync(path.join(dir, 'n.onnx')));
  }
});
