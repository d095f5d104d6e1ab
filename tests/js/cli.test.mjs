// The CLI on the WebAssembly build against the native CLI and python3-onnx,
// on real pretrained models from npm packages and on the project's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { native, wasm, nativeCli, wasmCli, realModels, fixture, pythonFacts } from './helpers.mjs';

const own = ['conv_relu.onnx', 'typed_fields.onnx', 'if_subgraph.onnx', 'loop_scan.onnx', 'nested_10.onnx',
  'external.onnx']
  .map(fixture);
const all = [...Object.values(realModels), ...own];

test('native and wasm print identical JSON and text', () => {
  for (const file of all) {
    for (const args of [['info', file, '--json'], ['info', file]]) {
      const a = native(...args);
      const b = wasm(...args);
      assert.equal(a.status, 0, `${file}: ${a.stderr}`);
      assert.equal(b.status, 0, `${file}: ${b.stderr}`);
      assert.ok(a.stdout.length > 100);
      assert.deepEqual(b.stdout, a.stdout, `${args.join(' ')} differs`);
      assert.equal(b.stderr, '');
    }
  }
});

test('info agrees with python3-onnx on real models', () => {
  const facts = pythonFacts(all);
  for (const file of all) {
    const info = JSON.parse(wasm('info', file, '--json').stdout);
    const py = facts[file];
    for (const key of ['ir_version', 'opset', 'node_count', 'op_counts', 'initializer_count',
      'subgraph_count', 'inputs', 'outputs']) {
      assert.deepEqual(info[key], py[key], `${path.basename(file)}: ${key}`);
    }
  }
});

test('the real models are what the tests assume', () => {
  const det = JSON.parse(wasm('info', realModels['ppocr-det'], '--json').stdout);
  assert.equal(det.op_counts.ConvTranspose, 2);
  assert.equal(det.op_counts.Resize, 6);
  assert.equal(det.constant_count, 342); // weights in Constant nodes
  assert.ok(det.constant_bytes > 4_000_000);
  const vad = JSON.parse(wasm('info', realModels['silero-v5'], '--json').stdout);
  assert.equal(vad.subgraph_count, 50); // weights inside If subgraphs
  const legacy = JSON.parse(wasm('info', realModels['silero-legacy'], '--json').stdout);
  assert.equal(legacy.initializer_count, 69);
  assert.equal(legacy.opset['com.microsoft'], 1);
});

test('bad input: exit 2, one sentence on stderr, nothing on stdout', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-'));
  const det = readFileSync(realModels['ppocr-det']);
  const cases = [
    // a file that is not a model is said so first, plainly; the loader's details come after
    ['empty.onnx', Buffer.alloc(0), /^onnx-cle: \S*empty\.onnx is not an ONNX model: the file is empty/],
    ['garbage.onnx', Buffer.from('\x00\x01\x02garbage'), /\/garbage\.onnx is not an ONNX model\. Details: byte 0/],
    ['image.onnx', Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0, 0, 0, 13]),
      /\/image\.onnx is not an ONNX model: this looks like a PNG image/],
    ['notes.onnx', Buffer.from('hello, this is text\n'),
      /\/notes\.onnx is not an ONNX model: it is a text file, and ONNX models are binary\n$/],
    ['lfs.onnx', Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n'),
      /\/lfs\.onnx is not an ONNX model: it is a Git LFS pointer to one \(git lfs pull fetches the model\)/],
    ['half.onnx', det.subarray(0, det.length >> 1), /the file is truncated: it ends at byte 2372758 inside field 7 \(graph\) of ModelProto/],
    ['cut.onnx', det.subarray(0, 1000), /truncated/],
  ];
  for (const [name, bytes, re] of cases) {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    for (const r of [native('info', file, '--json'), wasm('info', file, '--json')]) {
      assert.equal(r.status, 2, name);
      assert.equal(r.stdout.length, 0, name);
      assert.match(r.stderr, re, name);
      assert.doesNotMatch(r.stderr.split('. Details:')[0], /wire type|protobuf|groups/, `${name}: plain first`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
    }
    assert.equal(wasm('info', file).stderr, native('info', file).stderr, name);
  }
  const missing = [native('info', path.join(dir, 'nope.onnx')), wasm('info', path.join(dir, 'nope.onnx'))];
  for (const r of missing) {
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot open .*nope\.onnx: No such file or directory/);
  }
  assert.equal(missing[0].stderr, missing[1].stderr);
});

test('usage errors exit 2; --help and --version exit 0', () => {
  for (const cli of [native, wasm]) {
    assert.equal(cli().status, 2);
    assert.match(cli('frobnicate').stderr, /unknown command 'frobnicate'/);
    assert.equal(cli('frobnicate').status, 2);
    assert.match(cli('info').stderr, /info needs a model file/);
    assert.match(cli('info', 'a.onnx', '--bogus').stderr, /unknown option '--bogus' for info/);
    assert.equal(cli('info', 'a.onnx', '--bogus').status, 2);
    assert.equal(cli('--help').status, 0);
    assert.match(cli('--help').stdout.toString(), /usage: onnx-cle/);
    assert.match(cli('--version').stdout.toString(), /^onnx-cle \d+\.\d+\.\d+\n$/);
  }
});

test('external data is found beside the model, never outside its folder', () => {
  const info = JSON.parse(wasm('info', fixture('external.onnx'), '--json').stdout);
  assert.equal(info.external_tensor_count, 1);
  assert.equal(info.initializer_bytes, 16 * 8 * 4);
});

test('equalize shows its progress on a terminal, in one line it clears; nothing when stderr is not one', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-tty-'));
  const model = fixture('resnet_like_bn.onnx');
  const quote = (a) => `'${a.replaceAll("'", "'\\''")}'`;
  for (const [who, cmd] of [['native', [nativeCli]], ['wasm', [process.execPath, wasmCli]]]) {
    const out = path.join(dir, `${who}.onnx`);
    const line = [...cmd, 'equalize', model, '-o', out].map(quote).join(' ');
    // script(1) runs the command on a pseudo-terminal and copies what it writes
    // there; NO_COLOR keeps the report plain (progress does not depend on it)
    const r = spawnSync('script', ['-qec', line, '/dev/null'],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 0, `${who}: ${r.stderr}`);
    const screen = r.stdout;
    for (const want of ['onnx-cle: reading weights', 'onnx-cle: balancing, round 1', 'onnx-cle: writing']) {
      assert.ok(screen.includes(`\r\x1b[K${want}`), `${who}: no '${want}' in ${JSON.stringify(screen.slice(0, 200))}`);
    }
    // the line is cleared before the report, which is what a pipe gets
    const cleared = screen.lastIndexOf('\r\x1b[K');
    const piped = native('equalize', model, '-o', path.join(dir, 'piped.onnx'));
    assert.equal(piped.stderr, '');
    assert.equal(screen.slice(cleared + 4).replaceAll('\r\n', '\n'), piped.stdout.toString(), who);
    assert.ok(readFileSync(out).equals(readFileSync(path.join(dir, 'piped.onnx'))), `${who}: the same model`);
  }
});
