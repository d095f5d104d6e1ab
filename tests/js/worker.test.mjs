// `onnx-cle/worker` in Node (worker threads; the browser's Web Worker runs
// the same protocol in browser.test.mjs): results equal to the main-thread
// API, buffers transferred both ways, progress, cancel, errors, order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { info, equalize, OnnxCleError } from 'onnx-cle';
import { createWorker, OnnxCleError as WorkerError } from 'onnx-cle/worker';
import { realModels, fixture, bytesOf } from './helpers.mjs';

// a model in an ArrayBuffer of its own, as fetch() or File.arrayBuffer() give
const own = (file) => bytesOf(file).slice();
const det = realModels['ppocr-det'];

test('the worker gives what the API gives, and moves buffers instead of copying', async () => {
  const worker = createWorker();
  try {
    const input = own(det);
    const want = await equalize(input, { pow2Scales: true });
    const buffer = input.buffer;
    const got = await worker.equalize(input, { pow2Scales: true });
    assert.equal(buffer.byteLength, 0, 'the input buffer was transferred');
    assert.equal(input.length, 0);
    assert.deepEqual(got.report, want.report);
    assert.ok(got.model instanceof Uint8Array);
    assert.equal(got.model.byteOffset, 0);
    assert.equal(got.model.buffer.byteLength, got.model.length, 'the result owns its buffer');
    assert.deepEqual(got.model, want.model);
    assert.deepEqual(await worker.info(own(realModels['silero-v5'])), await info(bytesOf(realModels['silero-v5'])));
  } finally {
    worker.terminate();
  }
});

test('transfer: false, views and external data', async () => {
  const worker = createWorker();
  try {
    const input = own(fixture('vgg_like_bn.onnx'));
    const r = await worker.equalize(input, { transfer: false });
    assert.equal(input.buffer.byteLength > 0, true);
    assert.deepEqual(r.model, (await equalize(input)).model);
    // a view onto part of a buffer: the part is copied, the buffer left alone
    const padded = new Uint8Array(input.length + 8);
    padded.set(input, 8);
    assert.deepEqual((await worker.equalize(padded.subarray(8))).model, r.model);
    assert.equal(padded.buffer.byteLength, input.length + 8);
    // external data travels too
    const data = own(fixture('external.onnx.data'));
    const ext = await worker.equalize(own(fixture('external.onnx')), { externalData: { 'external.onnx.data': data } });
    assert.equal(typeof ext.report.layers[0].range_spread_before, 'number');
    assert.equal(data.buffer.byteLength, 0);
  } finally {
    worker.terminate();
  }
});

test('onOutput through the worker: the pieces, in order, make the same model; a throw cancels', async () => {
  const worker = createWorker();
  try {
    const want = await equalize(bytesOf(det));
    const pieces = [];
    const r = await worker.equalize(own(det), {
      onOutput: (piece, { name, offset, total }) => {
        assert.equal(name, null);
        assert.equal(total, want.model.length);
        assert.equal(offset, pieces.reduce((n, p) => n + p.length, 0));
        pieces.push(piece);
      },
    });
    assert.equal(r.model, null);
    assert.deepEqual(r.report, want.report);
    assert.ok(Buffer.concat(pieces).equals(Buffer.from(want.model)));
    const boom = new Error('no room');
    await assert.rejects(worker.equalize(own(det), { onOutput: () => { throw boom; } }), (e) => e === boom);
    assert.deepEqual((await worker.equalize(own(det))).model, want.model); // a new worker starts
  } finally {
    worker.terminate();
  }
});

test('progress events per request; answers in order', async () => {
  const worker = createWorker();
  try {
    const stages = [[], []];
    const calls = [det, fixture('mobilenetv2_like_bn.onnx')].map((file, i) =>
      worker.equalize(own(file), { onProgress: (stage, fraction) => void stages[i].push([stage, fraction]) }));
    const [a, b] = await Promise.all(calls);
    assert.equal(a.report.totals.layers, 64);
    assert.notDeepEqual(a.report, b.report);
    for (const s of stages) {
      assert.deepEqual([...new Set(s.map(([x]) => x))], ['read', 'balance', 'write', 'done']);
      assert.ok(s.every(([, f]) => f >= 0 && f <= 1));
    }
  } finally {
    worker.terminate();
  }
});

test('errors keep their class, code and sentence', async () => {
  const worker = createWorker();
  try {
    assert.equal(WorkerError, OnnxCleError);
    await assert.rejects(worker.info(own(det).subarray(0, 5000)), (e) => {
      assert.ok(e instanceof OnnxCleError);
      assert.equal(e.code, 'CLE_E_TRUNCATED');
      assert.match(e.message, /^the file is truncated: it ends at byte 5000/);
      return true;
    });
    await assert.rejects(worker.equalize(own(det), { iterations: 0 }),
      { name: 'OnnxCleError', code: 'CLE_E_USAGE', message: /--iterations takes a whole number/ });
    const input = own(det);
    await assert.rejects(worker.equalize(input, { iterashuns: 3 }), { name: 'TypeError', message: /unknown option/ });
    assert.ok(input.buffer.byteLength > 0, 'nothing moves when the options are wrong');
    await assert.rejects(worker.check('model.onnx'), { name: 'TypeError' });
    assert.throws(() => createWorker({ wasmBinray: 1 }), TypeError);
  } finally {
    worker.terminate();
  }
});

test('cancel ends the work with AbortError; the next call starts a fresh worker', async () => {
  const worker = createWorker();
  try {
    await worker.init();
    let began;
    const running = new Promise((resolve) => (began = resolve));
    const slow = worker.equalize(own(realModels['ppocr-rec']), { iterations: 10000, tolerance: 0, onProgress: () => began() });
    const queued = worker.info(own(det));
    await running; // as a page's Stop button would, once work is under way
    worker.cancel();
    await assert.rejects(slow, { name: 'AbortError' });
    await assert.rejects(queued, { name: 'AbortError' });
    assert.equal((await worker.info(own(det))).node_count > 0, true);

    // onProgress returning false cancels too
    await assert.rejects(worker.equalize(own(det), { onProgress: () => false }), { name: 'AbortError' });
    assert.equal((await worker.equalize(own(fixture('vgg_like_bn.onnx')))).report.totals.layers, 6);
  } finally {
    worker.terminate();
  }
  await assert.rejects(worker.info(own(det)), /terminated/);
});

test('a worker that cannot load the module rejects, and a retry can work', async () => {
  const worker = createWorker({ locateFile: () => '/nonexistent/onnx-cle.wasm' });
  try {
    await assert.rejects(worker.info(own(det)), { name: 'OnnxCleError', code: 'CLE_E_IO', message: /cannot read onnx-cle\.wasm/ });
    await assert.rejects(worker.init(), { code: 'CLE_E_IO' });
  } finally {
    worker.terminate();
  }
  const wasmModule = await WebAssembly.compile(bytesOf(new URL('../../dist/onnx-cle.wasm', import.meta.url)));
  const shared = createWorker({ wasmModule });
  try {
    assert.equal((await shared.info(own(fixture('conv_relu.onnx')))).node_count, (await info(bytesOf(fixture('conv_relu.onnx')))).node_count);
  } finally {
    shared.terminate();
  }
});

test('prepare through the worker: readies the instance, refuses a size that is not one', async () => {
  const worker = createWorker();
  try {
    // past the worker's first memory (16 MiB): it must grow
    const r = await worker.prepare(2e7);
    assert.ok(r.bytes >= 3e7 && r.bytes < 3e7 + 65536, `${r.bytes}`);
    await assert.rejects(worker.prepare('big'), { name: 'TypeError', message: /prepare takes the model's size in bytes/ });
    const bytes = bytesOf(realModels['ppocr-cls']);
    const got = await worker.equalize(bytes.slice());
    const want = await equalize(bytes.slice());
    assert.ok(Buffer.from(got.model).equals(Buffer.from(want.model)));
  } finally {
    worker.terminate();
  }
});
