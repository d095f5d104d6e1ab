// Issue 17 regression, found by the fuzzer (scripts/fuzz.sh, from the tiny
// seed depthwise.onnx): a Conv reading one tensor as both its weight and
// its bias was paired, and equalize then rescaled that tensor twice, as a
// weight and as a bias, two edits of the same bytes: every mode failed with
// "bad edit of bytes 103..127" (CLE_E_INTERNAL; an assertion in debug
// builds).  Such a layer is now left alone, with the reason.
// issue-17-weight-is-bias.onnx: x[1,2,2,2] -> Conv c1 (weight w, bias w,
// group 2) -> Relu -> Conv c2 (group 2) -> y.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, wasm } from '../js/helpers.mjs';

const model = path.join(path.dirname(fileURLToPath(import.meta.url)), 'issue-17-weight-is-bias.onnx');
const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));

test('a weight that is also the bias: check says why, equalize leaves the layer alone', () => {
  const c = native('check', model);
  assert.match(c.stdout.toString(), /c1 +Conv +not paired: its weight is also its bias/);
  for (const opts of [[], ['--objective=balance', '--hbf'], ['--reference'], ['--pow2-scales']]) {
    const out = path.join(dir, 'n.onnx');
    const r = native('equalize', model, '-o', out, ...opts);
    assert.equal(r.status, 0, `${opts}: ${r.stderr}`);
    const w = wasm('equalize', model, '-o', path.join(dir, 'w.onnx'), ...opts);
    assert.equal(w.status, 0, `${opts}: ${w.stderr}`);
    assert.deepEqual(readFileSync(path.join(dir, 'w.onnx')), readFileSync(out));
  }
});
