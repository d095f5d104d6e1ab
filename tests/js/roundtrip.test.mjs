// Load + save on the WebAssembly build gives back the input byte for byte,
// and tensor bytes are not copied on the way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRuntime } from '../../wasm/node.js';
import { realModels, fixture, bytesOf } from './helpers.mjs';

const runtime = await loadRuntime();

test('real models round-trip byte-identical', () => {
  for (const [name, file] of Object.entries(realModels)) {
    const input = bytesOf(file);
    const output = runtime.copy(input);
    assert.equal(output.length, input.length, name);
    assert.ok(Buffer.compare(Buffer.from(output), Buffer.from(input)) === 0, `${name} changed`);
  }
});

test('a view with a byteOffset is read from its offset', () => {
  const model = bytesOf(fixture('conv_relu.onnx'));
  const padded = new Uint8Array(model.length + 7);
  padded.set(model, 7);
  const out = runtime.copy(padded.subarray(7));
  assert.deepEqual(out, model);
});

test('errors are OnnxCleError with the C code and sentence', () => {
  const det = bytesOf(realModels['ppocr-det']);
  assert.throws(() => runtime.copy(det.subarray(0, 5000)),
    { name: 'OnnxCleError', code: 'CLE_E_TRUNCATED', message: /^the file is truncated: it ends at byte 5000/ });
  assert.throws(() => runtime.copy(new Uint8Array(0)), { code: 'CLE_E_NOT_ONNX' });
});

test('memory stays bounded over many calls', () => {
  const model = bytesOf(realModels['ppocr-rec']);
  runtime.copy(model);
  const before = runtime.exports.memory.buffer.byteLength;
  for (let i = 0; i < 20; i++) runtime.copy(model);
  assert.equal(runtime.exports.memory.buffer.byteLength, before);
  // input copy + protobuf-c's copy of the stripped graph: well under 2x the model
  assert.ok(before < 2.2 * model.length + (4 << 20), `${before} bytes of wasm memory`);
});
