// Issue 17 (item 12): a worker call never settled when its buffer was
// already detached (Node's postMessage does not throw on a detached buffer
// in the transfer list, as browsers do: the worker gets a 'messageerror'
// and nobody answers), and a message the worker could not read was heard
// by no one.  Now every call resolves or rejects: a detached buffer is an
// OnnxCleError before anything is posted, a buffer given twice moves once,
// and a message the worker cannot read fails the worker, which rejects
// every pending call; the next call starts a fresh worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { check, OnnxCleError } from 'onnx-cle';
import { createWorker } from 'onnx-cle/worker';
import { fixture, bytesOf } from '../js/helpers.mjs';
import { createPageServer } from '../../scripts/serve.mjs';

const own = (file) => bytesOf(file).slice();
const detach = (bytes) => {
  structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
  return bytes;
};

/** Resolves with 'resolved', or the rejection; 'never settled' after ms. */
const settles = (promise, ms = 10000) => Promise.race([
  promise.then(() => 'resolved', (e) => e),
  new Promise((resolve) => setTimeout(() => resolve('never settled'), ms).unref()),
]);

const detachedError = (what) => (e) => {
  assert.ok(e instanceof OnnxCleError, String(e));
  assert.equal(e.code, 'CLE_E_USAGE');
  assert.match(e.message, what);
  assert.match(e.message, /detached/);
  return true;
};

test('a detached model or external-data buffer is an OnnxCleError, not a call that never ends', async () => {
  const worker = createWorker();
  try {
    const detachedModel = detach(own(fixture('conv_relu.onnx')));
    let r = await settles(worker.check(detachedModel));
    assert.notEqual(r, 'never settled');
    detachedError(/^the model /)(r);
    r = await settles(worker.check(detach(own(fixture('conv_relu.onnx'))).buffer)); // an ArrayBuffer itself
    detachedError(/^the model /)(r);
    r = await settles(worker.check(own(fixture('external.onnx')),
      { externalData: { 'external.onnx.data': detach(own(fixture('external.onnx.data'))) } }));
    assert.notEqual(r, 'never settled');
    detachedError(/^external data file 'external\.onnx\.data' /)(r);
    // with transfer: false the buffer is copied, which a detached one cannot be either
    detachedError(/^the model /)(await settles(worker.check(detachedModel, { transfer: false })));
    // the main-thread API says the same instead of "the file is empty"
    await assert.rejects(check(detachedModel), detachedError(/^the model /));
    // and the worker goes on
    assert.equal((await worker.check(own(fixture('conv_relu.onnx')))).model.node_count > 0, true);
  } finally {
    worker.terminate();
  }
});

test('one buffer given twice moves once, and the call is answered', async () => {
  const worker = createWorker();
  try {
    const data = own(fixture('external.onnx.data'));
    const model = own(fixture('external.onnx'));
    const want = await check(bytesOf(fixture('external.onnx')), { externalData: { 'external.onnx.data': bytesOf(fixture('external.onnx.data')) } });
    // the same data under two names, one of them not asked for
    assert.deepEqual(await worker.check(model, { externalData: { 'external.onnx.data': data, 'other.data': data } }), want);
    assert.equal(data.buffer.byteLength, 0, 'moved');
    // the model's own buffer given as its data too: C answers with a sentence
    const both = own(fixture('external.onnx'));
    const r = await settles(worker.check(both, { externalData: { 'external.onnx.data': both } }));
    assert.notEqual(r, 'never settled');
    assert.ok(r === 'resolved' || r instanceof OnnxCleError, String(r));
  } finally {
    worker.terminate();
  }
});

test('a message the worker cannot read rejects every pending call; the next call gets a fresh worker', async () => {
  // the worker script, with one change: an `info` request arrives as Node
  // delivers a message it could not deserialize (a 'messageerror' instead)
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-worker-'));
  const script = path.join(dir, 'unreadable.mjs');
  writeFileSync(script, `
import { parentPort } from 'node:worker_threads';
const on = parentPort.on.bind(parentPort);
parentPort.on = (event, fn) => on(event, event !== 'message' ? fn
  : (m) => (m.cmd === 'info' ? parentPort.emit('messageerror', new Error('Unable to deserialize cloned data.')) : fn(m)));
await import(${JSON.stringify(new URL('../../wasm/worker-script.node.js', import.meta.url).href)});
`);
  const worker = createWorker({ url: script });
  try {
    await worker.init();
    const lost = worker.info(own(fixture('conv_relu.onnx')));
    const slow = worker.equalize(own(fixture('vgg_like_bn.onnx')), { iterations: 10000, tolerance: 0 }); // sent after it
    for (const p of [lost, slow]) {
      const r = await settles(p);
      assert.notEqual(r, 'never settled');
      assert.ok(r instanceof Error, String(r));
      assert.match(r.message, /the worker failed: .*could not be read/);
    }
    assert.equal((await worker.check(own(fixture('conv_relu.onnx')))).model.node_count > 0, true);
  } finally {
    worker.terminate();
  }
});

let server;
let browser;
before(async () => {
  server = createPageServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
});
after(async () => {
  await browser?.close();
  server?.close();
});

test('the browser worker: a detached buffer is the same OnnxCleError, a buffer given twice moves once', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${server.address().port}/web/`);
    const model = [...bytesOf(fixture('conv_relu.onnx'))];
    const r = await page.evaluate(async (bytes) => {
      const { createWorker } = await import('/wasm/worker.js');
      const worker = createWorker();
      const settle = (p) => Promise.race([p.then(() => ({ ok: true }), (e) => ({ name: e.name, code: e.code, message: e.message })),
        new Promise((resolve) => setTimeout(() => resolve('never settled'), 10000))]);
      const fresh = () => new Uint8Array(bytes);
      const gone = fresh();
      structuredClone(gone.buffer, { transfer: [gone.buffer] });
      const out = { detached: await settle(worker.check(gone)) };
      const twice = fresh();
      out.twice = await settle(worker.check(twice, { externalData: { 'a.data': twice } }));
      out.moved = twice.buffer.byteLength === 0;
      out.after = await settle(worker.check(fresh()));
      worker.terminate();
      return out;
    }, model);
    assert.equal(r.detached.name, 'OnnxCleError', JSON.stringify(r.detached));
    assert.equal(r.detached.code, 'CLE_E_USAGE');
    assert.match(r.detached.message, /^the model .*detached/);
    assert.deepEqual(r.twice, { ok: true });
    assert.equal(r.moved, true);
    assert.deepEqual(r.after, { ok: true });
  } finally {
    await page.close();
  }
});
