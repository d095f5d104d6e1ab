// Issue 17 (adversarial review), the C core's part, each on the smallest
// model that showed it (tests/fixtures/make_regress_models.py):
//  3. 64-bit values wasm32 truncated: a Conv's group 2^62 trapped
//     ("remainder by zero") and 2^32+1 was paired on wasm, not on native; a
//     weight dimension of 2^32+8 over 8 values was taken on wasm (as 8);
//  9. at opset 7 a ReLU6's per-channel bound became Min(x, [C,1,1]), which
//     Min-6/7 does not broadcast: onnxruntime refused the output;
// 10. Clip bounds that are not an interval (NaN, min +inf, max -inf) were
//     taken as "no bound" and the function changed;
// 11. a model check finds invalid (two initializers named alike) was
//     equalized: the last copy rescaled, onnxruntime reading the first;
// 13. names with control characters were printed raw in text output (an
//     OSC sequence in a node name retitled the terminal);
//  and check missed a node reading its own output (a cycle).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, wasm, fixture } from '../js/helpers.mjs';
import { run, randomFeeds } from '../js/ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-issue17-'));
const model = (name) => fixture(`regress/issue17_${name}.onnx`);
const x = [{ name: 'x', shape: [1, 3, 5, 5], dtype: 'float32' }];

/** check --json through both CLIs: the same bytes and status; the parsed document. */
function checkBoth(file) {
  const n = native('check', file, '--json');
  const w = wasm('check', file, '--json');
  assert.equal(w.status, n.status, w.stderr);
  assert.deepEqual(w.stdout, n.stdout);
  return { status: n.status, doc: JSON.parse(n.stdout) };
}

/** Equalizes with both CLIs (same bytes out); returns the output's path. */
function equalizeBoth(file, tag) {
  const out = path.join(dir, `${tag}.onnx`), outw = path.join(dir, `${tag}.wasm.onnx`);
  const n = native('equalize', file, '-o', out);
  const w = wasm('equalize', file, '-o', outw);
  assert.equal(n.status, 0, n.stderr);
  assert.equal(w.status, 0, w.stderr);
  assert.deepEqual(readFileSync(outw), readFileSync(out));
  return out;
}

/** Outputs equal: the same NaN and infinity positions, finite values within 1e-5. */
async function sameFunction(a, b) {
  const feeds = randomFeeds(x, 3, { scale: 4 });
  const ya = (await run(readFileSync(a), feeds)).y, yb = (await run(readFileSync(b), feeds)).y;
  for (let i = 0; i < ya.length; i++) {
    if (Number.isFinite(ya[i])) assert.ok(Math.abs(ya[i] - yb[i]) <= 1e-5 * (1 + Math.abs(ya[i])), `y[${i}] ${ya[i]} -> ${yb[i]}`);
    else assert.ok(Object.is(ya[i], yb[i]), `y[${i}] ${ya[i]} -> ${yb[i]}`);
  }
}

const layer = (doc, node) => doc.cle.layers.find((l) => l.node === node);

for (const tag of ['2p62', '2p32p1']) {
  test(`a Conv with group ${tag}: refused alike on native and wasm, no trap`, () => {
    const { doc } = checkBoth(model(`group_${tag}`));
    assert.match(layer(doc, 'c1').reason, /group attribute does not divide/);
    equalizeBoth(model(`group_${tag}`), `group_${tag}`);
  });
}

test('a weight dimension of 2^32+8: refused alike on native and wasm', () => {
  const { status, doc } = checkBoth(model('dim_2p32p8'));
  assert.equal(status, 1);
  assert.match(doc.findings[0].message, /tensor 'w' has 32 bytes of raw_data; dims and type float32 need 17179869216/);
  assert.match(layer(doc, 'c1').reason, /does not read back/);
});

test('ReLU6 at opset 7 stays a Clip (Min-7 does not broadcast), and the output runs', async () => {
  const file = model('relu6_opset7');
  const { doc } = checkBoth(file);
  assert.match(layer(doc, 'c1').reason, /broadcast only from opset 8 \(the model imports opset 7\)/);
  await sameFunction(file, equalizeBoth(file, 'relu6_opset7'));
});

for (const tag of ['nan_min', 'nan_max', 'inf_min', 'neg_inf_max']) {
  test(`a Clip with bounds that are not an interval (${tag}) is left alone: same outputs, NaNs included`, async () => {
    const file = model(`clip_${tag}`);
    const { doc } = checkBoth(file);
    assert.match(layer(doc, 'c1').reason, /are not an interval that scaling keeps/);
    await sameFunction(file, equalizeBoth(file, `clip_${tag}`));
  });
}

for (const tag of ['self', 'two']) {
  test(`check finds a cycle (${tag}) and exits 1`, () => {
    const { status, doc } = checkBoth(model(`cycle_${tag}`));
    assert.equal(status, 1);
    const f = doc.findings.filter((x) => x.rule === 'onnx-invalid');
    assert.equal(f.length, 1);
    assert.equal(f[0].severity, 'error');
    assert.match(f[0].message, /is on a cycle/);
    assert.ok(existsSync(model(`cycle_${tag}`)));
  });
}

test('a model check finds invalid is not equalized, unless --allow-invalid says so', () => {
  const file = model('dup_init');
  const out = path.join(dir, 'dup_init.onnx');
  for (const cli of [native, wasm]) {
    const r = cli('equalize', file, '-o', out);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /the model is not valid ONNX: .*'w1'.* \(check says so; --allow-invalid equalizes it anyway\)/);
    assert.ok(!existsSync(out));
  }
  assert.equal(checkBoth(file).status, 1);
  assert.equal(native('equalize', file, '-o', out, '--allow-invalid').status, 0);
});

test('names with control characters are escaped in text output, on both CLIs', () => {
  const file = model('control_names');
  const out = path.join(dir, 'control_names.onnx');
  for (const cli of [native, wasm]) {
    for (const args of [['check', file], ['info', file], ['equalize', file, '-o', out]]) {
      const r = cli(...args);
      const text = r.stdout.toString('utf8') + r.stderr;
      assert.ok(!/[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]/.test(text), `${args[0]}: ${JSON.stringify(text)}`);
    }
    const r = cli('check', file);
    assert.match(r.stdout.toString(), /\\x1b\]0;pwned\\x07c1\\u009b2J +Conv/);
    assert.match(r.stdout.toString(), /Sigmoid node sig\\x1b\[2J/);
  }
});
