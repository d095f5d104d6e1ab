// Fuzzing regression (scripts/fuzz.sh, crash-6eac7e04...): a Clip with
// neither min nor max inside a scaled region was rewritten as a Min whose
// bound was NULL, and saving it crashed. Such a Clip is the identity: it is
// left as it is. clip_forms.onnx chains Convs through every form a Clip
// takes at opset 13.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, wasm, fixture } from '../js/helpers.mjs';
import { run, compare, randomFeeds } from '../js/ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));
const model = fixture('clip_forms.onnx');

test('Clips with no bound, a max, a negative min, or both: equalized, the function kept', async () => {
  const out = path.join(dir, 'clips.onnx');
  const r = native('equalize', model, '-o', out, '--json', '--objective=balance');
  assert.equal(r.status, 0, r.stderr);
  const t = JSON.parse(r.stdout).totals;
  assert.equal(t.equalized, 5);
  assert.equal(t.clips_rewritten, 3); // the one with no bound stays a Clip
  assert.ok(t.median_spread_before / t.median_spread_after > 10);
  const feeds = randomFeeds([{ name: 'x', shape: [1, 3, 4, 4], dtype: 'float32' }], 5, { scale: 3 });
  const c = compare(await run(readFileSync(model), feeds), await run(readFileSync(out), feeds));
  assert.ok(c.relErr <= 1e-4, `relative error ${c.relErr}`);
  // the wasm build writes the same bytes
  const w = wasm('equalize', model, '-o', path.join(dir, 'clips-wasm.onnx'), '--objective=balance');
  assert.equal(w.status, 0, w.stderr);
  assert.deepEqual(readFileSync(path.join(dir, 'clips-wasm.onnx')), readFileSync(out));
});
