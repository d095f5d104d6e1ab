// Issue 17 (item 4): a trap, or any exception thrown while C was running,
// left the shared instance poisoned: C's stack pointer and heap blocks were
// never given back, and after ~900 of them every call failed ("null function
// or function signature mismatch", "memory access out of bounds").  Now it
// surfaces as OnnxCleError CLE_E_INTERNAL saying the module trapped and
// what it said, and the next call runs on a fresh instance.
//
// Two ways in, with no change to C: external data handed over through a
// getter that throws while C asks for it (an exception inside a call into
// C), and one that zeroes wasm memory first (a real WebAssembly trap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { init, check, equalize, OnnxCleError } from 'onnx-cle';
import { makeApi } from '../../wasm/api.js';
import { loadRuntime } from '../../wasm/node.js';
import { fixture, bytesOf } from '../js/helpers.mjs';

const model = bytesOf(fixture('external.onnx'));
const data = bytesOf(fixture('external.onnx.data'));
const good = { 'external.onnx.data': data };

// C asks for the file while it builds the graph, with its blocks and stack in use
const throwing = (what = 'boom') => ({ get 'external.onnx.data'() { throw new Error(what); } });
const zeroing = (rt) => ({ get 'external.onnx.data'() { rt.u8().fill(0); return data; } });

const trapped = (what) => (e) => {
  assert.ok(e instanceof OnnxCleError, `${e && e.name}: ${e && e.message}`);
  assert.equal(e.code, 'CLE_E_INTERNAL');
  assert.match(e.message, /^the WebAssembly module trapped: /);
  assert.match(e.message, what);
  return true;
};

test('1,200 calls that throw inside C, then good calls: each a CLE_E_INTERNAL error, then the right answers', async () => {
  await init();
  const want = await check(model, { externalData: good });
  const wantModel = (await equalize(model, { externalData: good, pow2Scales: true })).model;
  for (let i = 0; i < 1200; i++) {
    await assert.rejects(check(model, { externalData: throwing(`boom ${i}`) }), trapped(new RegExp(`boom ${i}$`)));
    if (i % 300 === 299) assert.deepEqual(await check(model, { externalData: good }), want, `after ${i + 1} traps`);
  }
  await init(); // the cached promise does not hand back the poisoned instance
  assert.deepEqual(await check(model, { externalData: good }), want);
  assert.deepEqual((await equalize(model, { externalData: good, pow2Scales: true })).model, wantModel);
});

test('a real trap: the instance refuses further calls, and the API moves to a fresh one', async () => {
  const rt = await loadRuntime();
  assert.throws(() => rt.request('check', [], model, { externalData: zeroing(rt) }), (e) => {
    trapped(/null function|out of bounds|unreachable|signature mismatch/)(e);
    assert.ok(e.cause instanceof WebAssembly.RuntimeError, 'the trap is the cause');
    return true;
  });
  // the poisoned instance says so rather than running C on corrupt memory
  assert.throws(() => rt.request('check', [], model, { externalData: good }),
    { name: 'OnnxCleError', code: 'CLE_E_INTERNAL', message: /trapped earlier/ });

  let current;
  const api = makeApi(async (o) => (current = await loadRuntime(o)));
  const want = await api.check(model, { externalData: good });
  const first = current;
  await assert.rejects(api.check(model, { externalData: zeroing(first) }), trapped(/./));
  assert.deepEqual(await api.check(model, { externalData: good }), want); // first would refuse: a fresh instance
  for (let i = 0; i < 1000; i++) await assert.rejects(api.check(model, { externalData: throwing() }), trapped(/boom$/));
  assert.deepEqual(await api.check(model, { externalData: good }), want);
});

test('an exception from a progress callback is still the caller\'s own error, and the instance stays', async () => {
  let current;
  const api = makeApi(async (o) => (current = await loadRuntime(o)));
  await api.init();
  const rt = current;
  const mine = new RangeError('stop here');
  await assert.rejects(api.equalize(bytesOf(fixture('vgg_like_bn.onnx')), { onProgress: () => { throw mine; } }), (e) => e === mine);
  assert.equal((await api.equalize(bytesOf(fixture('vgg_like_bn.onnx')))).report.totals.layers, 6);
  assert.equal(current, rt, 'no new instance was needed');
});
