// WebAssembly memory at its limits: a model wasm32 cannot hold is refused
// with a sentence before anything is copied, and a model of 64 MiB or more
// (whose bytes dlmalloc could not hold past 2 GiB) goes to the top of the
// break, above 2^31 when memory is that full, and back when the call ends.
// The real run above 2 GB is scripts/big-model.sh (minutes, ~8 GB of RAM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeApi } from '../../wasm/api.js';
import { loadRuntime } from '../../wasm/node.js';
import { native, fixture, bytesOf, root, run } from './helpers.mjs';

const MIB = 2 ** 20;
const tmp = mkdtempSync(path.join(tmpdir(), 'onnx-cle-memory-'));

function runtimeApi() {
  const api = makeApi(async (o) => (api.rt = await loadRuntime(o)));
  return api;
}
const memorySize = (api) => api.rt.memory.buffer.byteLength;

test('a model wasm32 cannot hold is a sentence, and nothing is copied', async () => {
  const api = runtimeApi();
  await api.init();
  const start = memorySize(api);
  // Uint8Arrays of zeros are free until touched: these cost no memory unless copied
  await assert.rejects(api.check(new Uint8Array(2 ** 32)), {
    name: 'OnnxCleError',
    code: 'CLE_E_LIMIT',
    message: 'the model (4.29 GB, 4294967296 bytes) is more than WebAssembly memory can hold (4 GiB at most)',
  });
  await assert.rejects(api.equalize(new Uint8Array(2 ** 32 - 2 ** 16)), {
    name: 'OnnxCleError',
    code: 'CLE_E_NOMEM',
    message: /^out of memory: the model \(4\.29 GB, 4294901760 bytes\) does not fit in WebAssembly memory, which holds at most 4 GiB and has 4\.2\d GB left$/,
  });
  // 3 GB fits in 4 GiB, but not after 1.5 GB taken: what is left is named
  const taken = api.rt.exports.malloc(1500 * MIB) >>> 0;
  assert.notEqual(taken, 0);
  await assert.rejects(api.info(new Uint8Array(3e9)), {
    code: 'CLE_E_NOMEM',
    message: /^out of memory: the model \(3\.00 GB, 3000000000 bytes\) does not fit in WebAssembly memory, which holds at most 4 GiB and has 2\.7\d GB left$/,
  });
  api.rt.exports.free(taken);
  assert.ok(memorySize(api) < start + 1600 * MIB, `wasm memory grew to ${memorySize(api)} bytes`);
  // and the instance still works
  const report = await api.check(bytesOf(fixture('conv_relu.onnx')));
  assert.equal(report.cle.layers.length, 2);
});

// 3 Convs of 1024x1024x3x3: 113 MB, made by the script that makes the >2 GB one
function wideModel() {
  const file = path.join(tmp, 'wide.onnx');
  const r = run('/usr/bin/python3', [path.join(root, 'tests/fixtures/make_big_model.py'), file,
    '--channels', '1024', '--gb', '0.1']);
  assert.equal(r.status, 0, r.stderr);
  const out = path.join(tmp, 'wide.native.onnx');
  const n = native('equalize', file, '-o', out);
  assert.equal(n.status, 0, n.stderr);
  return { bytes: bytesOf(file), want: readFileSync(out) };
}

test('a model of 64 MiB or more: from the top of the break and back, above 2^31 too', async () => {
  const { bytes, want } = wideModel();
  assert.ok(bytes.length >= 64 * MIB);

  const api = runtimeApi();
  const first = await api.equalize(bytes);
  assert.ok(Buffer.from(first.model).equals(want), 'not the native build\'s output');
  assert.equal(first.report.totals.equalized, 3);
  const size = memorySize(api);
  const again = await api.equalize(bytes);
  assert.ok(Buffer.from(again.model).equals(want));
  assert.equal(memorySize(api), size, 'a second call of the same size grew wasm memory');
  // the model's block went back to the break: malloc takes that space without growing memory
  const p = api.rt.exports.malloc(bytes.length) >>> 0;
  assert.notEqual(p, 0);
  assert.equal(memorySize(api), size, 'the model\'s block was not given back');
  api.rt.exports.free(p);

  // 2.2 GB taken by malloc first (in blocks under its 2 GiB limit): the model goes above 2^31
  const high = runtimeApi();
  await high.init();
  const blocks = [1500, 700].map((mb) => high.rt.exports.malloc(mb * MIB) >>> 0);
  assert.ok(blocks.every((b) => b !== 0), 'could not take 2.2 GB of wasm memory');
  const r = await high.equalize(bytes);
  assert.ok(memorySize(high) > 2200 * MIB + bytes.length, 'the model was not placed above 2^31');
  assert.ok(Buffer.from(r.model).equals(want));
  await assert.rejects(high.check(bytes.subarray(0, 80 * MIB)), { code: 'CLE_E_TRUNCATED' });
  blocks.forEach((b) => high.rt.exports.free(b));
});
