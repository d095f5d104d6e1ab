// `onnx-cle check`: the guideline findings on PyTorch exports of each
// construct and of its fixed form, exactly; the CLE map; JSON, SARIF and
// text; the same bytes from the native and the wasm CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { native, wasm, fixture, realModels, pythonFacts, run, nativeCli } from './helpers.mjs';

const dir = fixture('guidelines');
const expect = JSON.parse(readFileSync(path.join(dir, 'expect.json')));
const key = (list) => JSON.stringify(list.map((f) => JSON.stringify(f)).sort());

test('each guideline construct is found, and no fixed form is flagged', () => {
  assert.ok(Object.keys(expect).length >= 30);
  for (const [file, want] of Object.entries(expect)) {
    const r = native('check', path.join(dir, file), '--json');
    const doc = JSON.parse(r.stdout);
    const got = doc.findings.map((f) => [f.rule, f.severity, f.op]);
    assert.equal(key(got), key(want), `${file}: ${JSON.stringify(doc.findings, null, 1)}`);
    assert.equal(r.status, want.some((w) => w[1] === 'error') ? 1 : 0, `${file}: exit status`);
    assert.equal(doc.summary.errors, want.filter((w) => w[1] === 'error').length);
  }
});

test('findings name the node and carry a message and a fix', () => {
  for (const file of Object.keys(expect)) {
    const doc = JSON.parse(native('check', path.join(dir, file), '--json').stdout);
    for (const f of doc.findings) {
      assert.deepEqual(Object.keys(f), ['rule', 'severity', 'node', 'op', 'message', 'fix']);
      assert.ok(['error', 'warning', 'info'].includes(f.severity));
      assert.ok(f.node === null || (typeof f.node === 'string' && f.node.length > 0));
      assert.equal(f.op === null, f.node === null);
      if (f.node !== null) assert.ok(f.message.includes(f.node), `${file}: ${f.message} names ${f.node}`);
      assert.ok(f.message.length > 20 && !f.message.includes('\n'));
      assert.ok(f.fix.length > 10);
    }
  }
  const doc = JSON.parse(native('check', path.join(dir, 'view_fixed_batch_op13.onnx'), '--json').stdout);
  assert.match(doc.findings[0].message, /constant shape \[-1, 128\]/);
  assert.match(doc.findings[0].fix, /x\.view\(x\.size\(0\), -1\)/);
});

test('native and wasm print the same check output in every format', () => {
  for (const file of ['view_fixed_batch_op11.onnx', 'deconv_op13.onnx', 'unsorted.onnx']) {
    for (const fmt of [[], ['--json'], ['--sarif']]) {
      const a = native('check', path.join(dir, file), ...fmt);
      const b = wasm('check', path.join(dir, file), ...fmt);
      assert.deepEqual(b.stdout, a.stdout, `${file} ${fmt}`);
      assert.equal(b.status, a.status);
    }
  }
});

test('SARIF 2.1.0: the model is the artifact, as given, the node the logical location', () => {
  // run where the model is, so the path given is relative, as in CI
  const r = run(nativeCli, ['check', 'bilinear_align_corners_op13.onnx', '--sarif'], { cwd: dir });
  const sarif = JSON.parse(r.stdout);
  assert.equal(sarif.version, '2.1.0');
  const run0 = sarif.runs[0];
  assert.equal(run0.tool.driver.name, 'onnx-cle');
  assert.deepEqual(run0.tool.driver.rules.map((x) => x.id),
    ['onnx-invalid', 'quantized-model', 'reshape-fixed-batch', 'resize-align-corners', 'conv-transpose']);
  assert.equal(run0.artifacts[0].location.uri, 'bilinear_align_corners_op13.onnx');
  assert.equal(run0.results.length, 1);
  const res = run0.results[0];
  assert.equal(res.ruleId, 'resize-align-corners');
  assert.equal(run0.tool.driver.rules[res.ruleIndex].id, res.ruleId);
  assert.equal(res.level, 'warning'); // the export is valid, and CLE runs: a hazard
  assert.equal(res.locations[0].physicalLocation.artifactLocation.uri, 'bilinear_align_corners_op13.onnx');
  assert.equal(res.locations[0].logicalLocations[0].name, '/Resize');
  assert.deepEqual(run0.invocations, [{ executionSuccessful: true }]);
  assert.equal(r.status, 0);
});

test('text output is grouped by rule with node names first, no colour when not a terminal', () => {
  const r = run(nativeCli, ['check', 'view_fixed_batch_op13.onnx'], { cwd: dir });
  const text = r.stdout.toString();
  assert.match(text, /^view_fixed_batch_op13\.onnx: 1 warning\n/);
  assert.match(text, /\nreshape-fixed-batch {2}\(guideline: x\.view\(-1, 1024\)\)\n {2}\/Reshape {2}warning {2}Reshape \/Reshape /);
  assert.match(text, /\n {4}fix: write x\.view\(x\.size\(0\), -1\)/);
  assert.match(text, /\nCLE map: 2 layers, 0 paired in 0 groups/);
  assert.ok(!text.includes('\u001b['), 'no ANSI codes in a pipe');
});

test('PP-OCRv4 detection: exactly the two ConvTranspose findings, and a CLE map of every Conv', () => {
  const file = realModels['ppocr-det'];
  const r = wasm('check', file, '--json');
  assert.equal(r.status, 0);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(doc.findings.map((f) => [f.rule, f.severity, f.node]), [
    ['conv-transpose', 'warning', 'p2o.ConvTranspose.0'],
    ['conv-transpose', 'warning', 'p2o.ConvTranspose.2'],
  ]);
  const facts = pythonFacts([file])[file];
  assert.equal(doc.cle.layers.length, facts.op_counts.Conv + facts.op_counts.ConvTranspose);
  const conv = doc.cle.layers.filter((l) => l.op === 'Conv');
  assert.equal(conv.length, facts.op_counts.Conv);
  for (const l of doc.cle.layers) {
    // each layer is either paired (partners, a group, no reason) or says why not
    if (l.reason === null) {
      assert.ok(l.partners.length > 0 && Number.isInteger(l.group), l.node);
    } else {
      assert.equal(l.partners.length, 0, l.node);
      assert.match(l.reason, /^(output: .+; input: .+|its .+)$/, l.node);
    }
  }
  assert.equal(doc.summary.layers, doc.cle.layers.length);
  assert.equal(doc.summary.paired, doc.cle.layers.filter((l) => l.reason === null).length);
  // the detector's hard-swish blocks: the map names the op that stops the chain
  assert.ok(doc.cle.layers.some((l) => /read by Mul node p2o\.Mul\.\d+, which does not commute/.test(l.reason)));
});

test('the CLE map shows joint regions and what the reference would not reach', () => {
  const doc = JSON.parse(native('check', fixture('resnet_like_folded.onnx'), '--json').stdout);
  const by = Object.fromEntries(doc.cle.layers.map((l) => [l.node, l]));
  const stem = by['/stem/conv/Conv'];
  // the stem writes the residual stream that layer1's conv1 and the Add read
  assert.equal(stem.reason, null);
  assert.ok(stem.partners.includes('/layer1/conv1/conv/Conv'));
  assert.ok(stem.partners.includes('/layer1/conv2/conv/Conv'), 'co-producer through the Add');
  assert.equal(stem.beyond_reference, true);
  assert.match(stem.input.blocked, /tensor 'input' is a graph input/);
  // inside a block the pair conv1 -> relu -> conv2 is what the reference does too
  const c1 = by['/layer1/conv1/conv/Conv'];
  assert.deepEqual(c1.output.partners, ['/layer1/conv2/conv/Conv']);
  const fc = by['/fc/Gemm'];
  assert.match(fc.output.blocked, /tensor 'output' is a graph output/);
  assert.equal(doc.summary.beyond_reference > 0, true);
});
