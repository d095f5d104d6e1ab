// bench/ref_cle.py is a second implementation of balancing in numpy, written
// from the algorithm rather than from our C (bench/RESULTS.md compares the two
// on every benchmark model). Here, on models where balancing runs many rounds
// and reads its later ones through candidate lists (cle_balance.c: the
// maxima taken over the entries that can still hold them, the lists built in
// the same scan that takes the maxima), both must write the same weights,
// biases and Clip bounds, bit for bit: in balance mode and under --reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { native, fixture, realModels, root } from './helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-reference-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const REF = path.join(root, 'bench/ref_cle.py');

function py(...args) {
  const r = spawnSync('/usr/bin/python3', [REF, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const MODELS = [
  ['PP-OCR cls', realModels['ppocr-cls']],
  ['a chain of bottleneck blocks', fixture('resnet_bottleneck_like_folded.onnx')],
  ['inverted residuals with depthwise triplets', fixture('mobilenetv2_like_folded.onnx')],
  // lists that overflow partway through a group: the rest read in full
  ['grouped Convs', fixture('plan/grouped_chain.onnx')],
  // slow to converge: the later rounds over-relaxed, triplets among them
  ['a chain of depthwise blocks', fixture('plan/depthwise_chain.onnx')],
];
const MODES = [
  ['balance mode', ['--objective=balance', '--batch-norm=fold', '--hbf'], []],
  ['--reference', ['--reference', '--hbf'], ['--reference']],
];

for (const [what, model] of MODELS) {
  for (const [mode, ours, theirs] of MODES) {
    test(`${what}, ${mode}: the same weights as bench/ref_cle.py`, () => {
      const stem = path.join(dir, `${path.basename(model, '.onnx')}-${mode.replace(/\W/g, '')}`);
      const r = native('equalize', model, '-o', `${stem}.c.onnx`, '--json', ...ours);
      assert.equal(r.status, 0, r.stderr);
      const rounds = JSON.parse(r.stdout).totals.rounds;
      py(...theirs, model, `${stem}.py.onnx`);
      const cmp = JSON.parse(py('--compare', `${stem}.c.onnx`, `${stem}.py.onnx`).trim().split('\n').pop());
      assert.ok(cmp.tensors > 0, JSON.stringify(cmp));
      assert.equal(cmp.max_rel_diff, 0, `${rounds} rounds: ${JSON.stringify(cmp)}`);
      assert.equal(cmp.agree, true, JSON.stringify(cmp));
      if (mode === 'balance mode') assert.ok(rounds >= 10, `${rounds} rounds`);
    });
  }
}
