// Issue 17 regression, found by the fuzzer (scripts/fuzz.sh, a 10 s
// timeout after 460,418 executions): a BatchNormalization after a Conv whose
// scale (also read as its bias) declares dims [4, 99, 50, 95, 119] but holds
// 16 bytes.  check calls the model invalid; with --allow-invalid the noise
// objective's moments pass allocated two doubles per declared value (3.6 GB):
// native took 43 s and 7 GB, wasm ran out of memory ("out of memory
// equalizing the model", exit 2), so the builds disagreed too.  Parameters
// whose storage disagrees with their dims now give unit moments.
// issue-17-bn-huge-dims.onnx (1.4 KB, the fuzzer's input as found):
// x -> Conv c1 -> BatchNormalization bn1 -> Relu -> Conv c2 -> BatchNormalization -> y.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, wasm } from '../js/helpers.mjs';

const model = path.join(path.dirname(fileURLToPath(import.meta.url)), 'issue-17-bn-huge-dims.onnx');

test('BatchNormalization parameters shorter than their dims: refused, and with --allow-invalid equalized alike', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-regress-'));
  try {
    const refused = native('equalize', model, '-o', path.join(dir, 'r.onnx'));
    assert.equal(refused.status, 2);
    assert.match(refused.stderr.toString(), /tensor 'bn1_scale' has 16 bytes of raw_data/);
    for (const opts of [[], ['--json']]) {
      const n = native('equalize', model, '-o', path.join(dir, 'n.onnx'), '--allow-invalid', ...opts);
      assert.equal(n.status, 0, `native ${opts}: ${n.stderr}`);
      const w = wasm('equalize', model, '-o', path.join(dir, 'w.onnx'), '--allow-invalid', ...opts);
      assert.equal(w.status, 0, `wasm ${opts}: ${w.stderr}`);
      assert.deepEqual(w.stdout, n.stdout);
      assert.deepEqual(readFileSync(path.join(dir, 'w.onnx')), readFileSync(path.join(dir, 'n.onnx')));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
