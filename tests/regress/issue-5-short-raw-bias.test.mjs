// Issue 5 regression: a bias shorter than 16 bytes of raw_data is copied by
// protobuf-c, not viewed in place; rewriting it took its file offset from
// the copy ("bad edit of bytes 18446698123657562752..."). Seen on PP-OCR's
// ch_ppocr_mobile_v2.0_cls model (2-channel conv2d_3.b_0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, fixture, realModels } from '../js/helpers.mjs';
import { run, compare } from '../js/ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));

test('a short raw_data bias is rewritten, and the function kept', async () => {
  const out = path.join(dir, 'short.onnx');
  const r = native('equalize', fixture('short_raw_bias.onnx'), '-o', out, '--json', '--no-hbf');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).totals.equalized, 2);
  const x = Object.assign(new Float32Array(48).map((_, i) => Math.cos(i)), { dims: [1, 3, 4, 4] });
  const c = compare(await run(readFileSync(fixture('short_raw_bias.onnx')), { x }),
    await run(readFileSync(out), { x }));
  assert.ok(c.relErr <= 1e-5, `relative error ${c.relErr}`);
});

test('the model that showed it equalizes', () => {
  const file = path.join(path.dirname(realModels['ppocr-det']), 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
  const r = native('equalize', file, '-o', path.join(dir, 'cls.onnx'));
  assert.equal(r.status, 0, r.stderr);
});
