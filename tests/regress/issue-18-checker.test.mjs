// Issue 18 (items 1-5): a truthful checker and a CLI for CI.
//  1. Healthy models got `error` findings and exit 1 (Silero VAD v5/v6: a
//     Reshape to [-1, 2] of padding computed from constants; a tf2onnx model:
//     Reshape to [-1, 1, 76, 32], which keeps the batch), with a PyTorch fix
//     whatever wrote the model.  Now `error` is kept for an invalid export or
//     a model CLE cannot run on, hazards are warnings, the fix is in the
//     producer's terms, and --fail-on chooses what exits 1.
//  2. align_corners=True was an error while the CLE map equalized across it:
//     the finding now says what the map says.
//  3. Already-quantized models were not recognised; equalize said "equalized
//     0 of 0 layers" and the page offered a download.  Now check says so once,
//     and equalize says there is nothing to equalize (nothing_to_equalize).
//  4. check took one file, and SARIF named it by its base name: now several
//     files and folders, one SARIF run, URIs as given.
//  5. Text output: columns, plurals, one fix for identical fixes, readable
//     numbers (non-ONNX files: tests/js/cli.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nativeCli, wasmCli, fixture, realModels, run, bytesOf } from '../js/helpers.mjs';
import { equalize, check } from 'onnx-cle';

const clis = {
  native: (args, opts) => run(nativeCli, args, opts),
  wasm: (args, opts) => run(process.execPath, [wasmCli, ...args], opts),
};

/** Runs args on both CLIs (cwd: opts.cwd): the same bytes and status; returns the native run. */
function both(args, opts = {}) {
  const a = clis.native(args, opts);
  const b = clis.wasm(args, opts);
  assert.equal(b.status, a.status, `${args.join(' ')}: status`);
  assert.equal(b.stdout.toString(), a.stdout.toString(), `${args.join(' ')}: stdout`);
  assert.equal(b.stderr, a.stderr, `${args.join(' ')}: stderr`);
  return a;
}

const json = (file) => JSON.parse(both(['check', file, '--json']).stdout);

test('1. Silero VAD v5 and v6 pass: pads computed from constants have no batch', () => {
  for (const name of ['silero-v5', 'silero-v6']) {
    const r = both(['check', realModels[name], '--json']);
    assert.equal(r.status, 0, name);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(doc.findings, [], name);
    assert.equal(doc.summary.errors, 0);
  }
  // the same construct, by hand: ConstantOfShape + Concat -> Reshape [-1, 2]
  assert.deepEqual(json(fixture('rules/reshape_constant_pads.onnx')).findings, []);
});

test('1. a tf2onnx Reshape whose -1 is the batch is a warning, with a tf2onnx fix, and exits 0', () => {
  const r = both(['check', fixture('rules/tf2onnx_reshape.onnx'), '--json']);
  assert.equal(r.status, 0);
  const [f, ...rest] = JSON.parse(r.stdout).findings;
  assert.deepEqual(rest, []);
  assert.equal(f.rule, 'reshape-fixed-batch');
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /the -1 keeps the batch, as 'd' holds 2432 values a sample/);
  assert.match(f.fix, /tf2onnx/);
  assert.doesNotMatch(f.fix, /x\.view|torch/);
});

test('1. fixes follow the producer: PyTorch, tf2onnx, Paddle (by name or by paddle2onnx node names), other', () => {
  const fixOf = (file) => json(file).findings[0].fix;
  assert.match(fixOf(fixture('rules/pytorch_reshape_mixes.onnx')), /^write x\.view\(x\.size\(0\), -1\)/);
  assert.match(fixOf(fixture('rules/tf2onnx_reshape_noinfo.onnx')), /tf\.reshape\(x, \[tf\.shape\(x\)\[0\], -1\]\)/);
  assert.match(fixOf(fixture('rules/paddle_reshape.onnx')), /^write paddle\.reshape\(x, \[0, -1\]\)/);
  assert.match(fixOf(realModels['ppocr-cls']), /paddle\.reshape/); // producer_name is empty there
  assert.match(fixOf(fixture('rules/reshape_infer_batch.onnx')), /^keep the batch in the target shape, 0/);
});

test('1. --fail-on chooses what exits 1; an unknown level is a usage error', () => {
  const tf = fixture('rules/tf2onnx_reshape.onnx'); // one warning
  const cls = realModels['ppocr-cls'];              // one info
  assert.equal(both(['check', tf]).status, 0);
  assert.equal(both(['check', tf, '--fail-on=error']).status, 0);
  assert.equal(both(['check', tf, '--fail-on=warning']).status, 1);
  assert.equal(both(['check', tf, '--fail-on', 'info']).status, 1);
  assert.equal(both(['check', cls, '--fail-on=warning']).status, 0);
  assert.equal(both(['check', cls, '--fail-on=info', '--sarif']).status, 1);
  const bad = both(['check', tf, '--fail-on=fatal']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--fail-on takes error, warning or info, not 'fatal'/);
  assert.match(both(['--help']).stdout.toString(), /--fail-on=LEVEL/);
});

test('2. align_corners=True: the finding says what the CLE map says', () => {
  const models = ['rules/resize_align_between_convs.onnx', 'guidelines/bilinear_align_corners_op13.onnx',
    'guidelines/bicubic_align_corners_op11.onnx'];
  let across = 0;
  for (const m of models) {
    const doc = json(fixture(m));
    const f = doc.findings.find((x) => x.rule === 'resize-align-corners');
    assert.equal(f.severity, 'warning', m);
    const region = doc.cle.regions.find((r) => r.through.some((t) => t.node === f.node));
    const said = /onnx-cle equalizes across it \((.+) with (.+)\)$/.exec(f.message);
    if (said) {
      across++;
      // the map: an open region through the Resize, between the two layers named
      assert.equal(region.blocked, null, m);
      assert.ok(region.producers.includes(said[1]) && region.consumers.includes(said[2]), m);
      const group = (node) => doc.cle.layers.find((l) => l.node === node).group;
      assert.ok(Number.isInteger(group(said[1])) && group(said[1]) === group(said[2]), m);
      assert.match(f.fix, /^nothing to do for onnx-cle; for the reference tool, set align_corners=False/);
    } else {
      assert.ok(region === undefined || region.blocked !== null, m);
      const blocked = /the CLE map does not equalize across it, for another reason: (.+)$/.exec(f.message);
      if (region) assert.equal(blocked[1], region.blocked, m);
    }
  }
  assert.equal(across, 1);
});

test('3. an already-quantized model is said so once; equalize says there is nothing to equalize', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-q-'));
  for (const [name, severity] of [['quantized_qdq', 'error'], ['quantized_qlinear', 'error'],
    ['quantized_dynamic', 'error'], ['quantized_partly', 'warning']]) {
    const file = fixture(`rules/${name}.onnx`);
    const r = both(['check', file, '--json']);
    const findings = JSON.parse(r.stdout).findings.filter((f) => f.rule === 'quantized-model');
    assert.equal(findings.length, 1, name);
    assert.equal(findings[0].severity, severity, name);
    assert.equal(findings[0].node, null, name);
    assert.equal(r.status, severity === 'error' ? 1 : 0, name);
    if (severity !== 'error') continue;
    // equalize: says so (text and JSON), and the model comes out as it went in
    const out = path.join(dir, `${name}.out.onnx`);
    const t = both(['equalize', file, '-o', out]);
    assert.equal(t.status, 0);
    assert.match(t.stdout.toString(), /^nothing to equalize: the model is already quantized \(.+\), and cross-layer equalization belongs before quantization\nthe output is the model as it came\n/);
    assert.doesNotMatch(t.stdout.toString(), /equalized 0 of/);
    assert.ok(readFileSync(out).equals(readFileSync(file)), `${name}: written unchanged`);
    const j = JSON.parse(both(['equalize', file, '-o', out, '--json']).stdout);
    assert.match(j.nothing_to_equalize, /^the model is already quantized/);
    const api = await equalize(bytesOf(file));
    assert.equal(api.report.nothing_to_equalize, j.nothing_to_equalize);
    assert.deepEqual(api.model, bytesOf(file));
  }
  // a model with something to do says null; one with no layer says why
  assert.equal((await equalize(bytesOf(fixture('vgg_like_folded.onnx')))).report.nothing_to_equalize, null);
  assert.equal((await equalize(bytesOf(fixture('rules/reshape_constant_pads.onnx')))).report.nothing_to_equalize,
    'the model has no Conv, ConvTranspose, Gemm or MatMul layer');
  // check through the API says it too, once
  const doc = await check(bytesOf(fixture('rules/quantized_qlinear.onnx')));
  assert.deepEqual(doc.findings.map((f) => f.rule), ['quantized-model']);
});

/** A folder of models to check: nested, hidden, node_modules, a space, a non-model. */
function tree() {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-tree-'));
  const put = (rel, from) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    copyFileSync(from, path.join(dir, rel));
  };
  put('models/b/deconv.onnx', fixture('guidelines/deconv_op13.onnx'));
  put('models/a model.onnx', fixture('rules/tf2onnx_reshape.onnx'));
  put('models/q.ONNX', fixture('rules/quantized_qdq.onnx'));
  put('models/.hidden/x.onnx', fixture('rules/quantized_qdq.onnx'));
  put('models/node_modules/p/x.onnx', fixture('rules/quantized_qdq.onnx'));
  put('models/notes.txt', fixture('rules/clean.onnx'));
  mkdirSync(path.join(dir, 'empty'));
  writeFileSync(path.join(dir, 'text.onnx'), 'not a model\n');
  return dir;
}

test('4. check takes files and folders: text per file, JSON Lines, one SARIF run with URIs as given', () => {
  const cwd = tree();
  const order = ['models/a model.onnx', 'models/b/deconv.onnx', 'models/q.ONNX'];
  // text: each model's report in folder order, then a total line
  const t = both(['check', 'models'], { cwd });
  assert.equal(t.status, 1); // q.ONNX is quantized: an error
  const text = t.stdout.toString();
  const heads = [...text.matchAll(/^(\S.*?): (?:no findings|\d+ (?:error|warning|info).*)$/gm)].map((m) => m[1]);
  assert.deepEqual(heads, order);
  assert.match(text, /\n3 models checked, 1 with errors\n$/);
  assert.equal(t.stderr, '');
  // JSON: one line per model, each naming its file first
  const j = both(['check', 'models', 'models/b/deconv.onnx', '--json'], { cwd });
  const lines = j.stdout.toString().trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.file), order); // the same file given twice is checked once
  assert.deepEqual(Object.keys(lines[0]).slice(0, 3), ['file', 'findings', 'cle']);
  // SARIF: one run, every model an artifact, results pointing at theirs
  const s = both(['check', 'models', path.join(cwd, 'text.onnx'), '--sarif'], { cwd });
  assert.equal(s.status, 2); // text.onnx could not be checked
  const sarif = JSON.parse(s.stdout);
  assert.equal(sarif.runs.length, 1);
  const [run0] = sarif.runs;
  assert.deepEqual(run0.artifacts.map((a) => a.location.uri), ['models/a%20model.onnx', 'models/b/deconv.onnx', 'models/q.ONNX']);
  for (const res of run0.results) {
    const loc = res.locations[0].physicalLocation.artifactLocation;
    assert.equal(run0.artifacts[loc.index].location.uri, loc.uri);
  }
  assert.deepEqual(run0.results.map((r) => r.ruleId).sort(), ['conv-transpose', 'quantized-model', 'reshape-fixed-batch']);
  const [inv] = run0.invocations;
  assert.equal(inv.executionSuccessful, false);
  assert.equal(inv.toolExecutionNotifications.length, 1);
  assert.equal(inv.toolExecutionNotifications[0].locations[0].physicalLocation.artifactLocation.uri,
    `file://${path.join(cwd, 'text.onnx')}`);
  assert.match(inv.toolExecutionNotifications[0].message.text, /text\.onnx is not an ONNX model: it is a text file/);
  assert.match(s.stderr, /^onnx-cle: .*text\.onnx is not an ONNX model: it is a text file/);
  // a folder without models, and ./ prefixes
  const e = both(['check', 'empty', './models/b'], { cwd });
  assert.equal(e.status, 2);
  assert.equal(e.stderr, 'onnx-cle: empty: no .onnx files in this folder\n');
  assert.match(e.stdout.toString(), /^\.\/models\/b\/deconv\.onnx: 1 warning\n/);
  const dot = both(['check', '.', '--sarif'], { cwd: path.join(cwd, 'models') });
  assert.deepEqual(JSON.parse(dot.stdout).runs[0].artifacts.map((a) => a.location.uri), ['a%20model.onnx', 'b/deconv.onnx', 'q.ONNX']);
});

test('5. text: aligned columns with long names, plurals, one fix for identical fixes', () => {
  const cwd = path.dirname(fixture('rules/long_names.onnx'));
  const text = both(['check', 'long_names.onnx'], { cwd }).stdout.toString();
  assert.match(text, /^long_names\.onnx: 3 warnings\n/);
  // every severity in one column: a name longer than the column ends its line
  const rows = text.split('\n').filter((l) => /^ +warning {2}Reshape /.test(l) || / {2}warning {2}Reshape /.test(l));
  assert.equal(rows.length, 3);
  const cols = rows.map((l) => l.indexOf('  warning  '));
  assert.ok(cols.every((c) => c === cols[0]), JSON.stringify(rows));
  assert.equal(text.match(/\n +fix/g).length, 1); // the fix once, for the three
  assert.match(text, /\n {4}fix \(the 3 above\): write x\.view\(x\.size\(0\), -1\)/);
  assert.match(text, /\nCLE map: no Conv, ConvTranspose, Gemm or MatMul layers\n/);
  // singulars
  const one = both(['check', 'tf2onnx_reshape.onnx'], { cwd }).stdout.toString();
  assert.match(one, /^tf2onnx_reshape\.onnx: 1 warning\n/);
  assert.match(one, /\nCLE map: 3 layers, 2 paired in 1 group \(0 beyond the reference\), 1 not paired\n/);
  assert.match(both(['check', 'clean.onnx'], { cwd }).stdout.toString(), /^clean\.onnx: no findings\n/);
  // the map's columns: op and status line up under long names too
  const map = both(['check', realModels['silero-v5']]).stdout.toString().split('CLE map')[1].split('\n').slice(1, -1);
  const at = map.map((l) => l.search(/ {2}Conv {2}/));
  assert.ok(at.every((c) => c === at[0] && c > 60), JSON.stringify(map.slice(0, 3)));
});

test('5. equalize text: readable numbers, the same in every column', () => {
  const r = both(['equalize', realModels['ppocr-cls'], '-o', path.join(mkdtempSync(path.join(tmpdir(), 'onnx-cle-n-')), 'o.onnx')]);
  const text = r.stdout.toString();
  assert.doesNotMatch(text, /e[+-]0|\d\.\d{4,}/); // no 2.132e+06, no long fractions
  const spreads = [...text.matchAll(/spread +([^\s,]+) -> ([^\s,]+)/g)].flatMap((m) => [m[1], m[2]]);
  assert.ok(spreads.length > 20);
  for (const s of spreads) assert.match(s, /^(\d{1,4}|\d{1,3}\.\d{1,2}|\d\.\d{2}e\d+)$/, s);
  assert.match(text, /\nequalized \d+ of \d+ layers; .*; \d+ rounds? \(\d+\.\d passes over the weights\)\n/);
  // balancing says the imbalance it leaves, in the same readable numbers
  const bal = both(['equalize', realModels['ppocr-cls'], '--objective=balance', '-o',
    path.join(mkdtempSync(path.join(tmpdir(), 'onnx-cle-n-')), 'o.onnx')]).stdout.toString();
  assert.match(bal, /; \d+ rounds \(\d+\.\d passes over the weights\), largest imbalance left (\d\.\d{2}e-\d+|0\.\d{3}|\d\.\d{2}) log2\n/);
  assert.doesNotMatch(bal, /e[+-]0|\d\.\d{4,}/);
});
