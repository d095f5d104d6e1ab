// Issue 17 regression, found by the fuzzer (scripts/fuzz.sh, on a seed of
// tests/fuzz/make_seeds.py): a BatchNormalization whose parameters are in
// external data could not be equalized: folding deletes the parameters (and
// keeping it replaces its mean and bias), and the save then also rewrote
// their external_data entries, an edit overlapping the deletion ("bad edit
// of bytes 235..291", CLE_E_INTERNAL; an assertion in debug builds).  A
// tensor the edits delete is now written nowhere.
// issue-17-external-bn-params.onnx: x[1,2,2,2] -> Conv -> BatchNormalization
// (scale, bias, mean, var in w.bin at 0, 64, 128, 192) -> Relu -> Conv -> y.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, wasm } from '../js/helpers.mjs';
import { run, compare, randomFeeds } from '../js/ort.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));
const model = path.join(dir, 'm.onnx');
copyFileSync(path.join(here, 'issue-17-external-bn-params.onnx'), model);
const side = new Float32Array(64);
side.set([1.5, 0.5], 0); // scale
side.set([0.1, -0.2], 16); // bias
side.set([0.3, -0.1], 32); // mean
side.set([2, 0.5], 48); // var
const data = new Uint8Array(side.buffer);
writeFileSync(path.join(dir, 'w.bin'), data);
const feeds = randomFeeds([{ name: 'x', shape: [1, 2, 2, 2], dtype: 'float32' }], 3);

for (const bn of ['fold', 'keep']) {
  test(`external BatchNormalization parameters, --batch-norm=${bn}: equalized, the function kept`, async () => {
    const reference = await run(readFileSync(model), feeds, { externalData: { 'w.bin': data } });
    const out = path.join(dir, `${bn}.onnx`);
    const r = native('equalize', model, '-o', out, `--batch-norm=${bn}`, '--inline-external');
    assert.equal(r.status, 0, r.stderr);
    const c = compare(reference, await run(readFileSync(out), feeds));
    assert.ok(c.relErr <= 1e-5, `relative error ${c.relErr}`);
    // with a new data file beside it: only what is still used goes there
    const split = path.join(dir, `${bn}-split.onnx`);
    assert.equal(native('equalize', model, '-o', split, `--batch-norm=${bn}`).status, 0);
    const splitData = readFileSync(`${split}.data`);
    const c2 = compare(reference, await run(readFileSync(split), feeds,
      { externalData: { [`${bn}-split.onnx.data`]: splitData } }));
    assert.ok(c2.relErr <= 1e-5, `relative error ${c2.relErr}`);
    // the wasm build writes the same bytes
    const w = path.join(dir, `${bn}-wasm.onnx`);
    assert.equal(wasm('equalize', model, '-o', w, `--batch-norm=${bn}`, '--inline-external').status, 0);
    assert.deepEqual(readFileSync(w), readFileSync(out));
  });
}
