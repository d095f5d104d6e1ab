// The JS API (`import ... from 'onnx-cle'`, the package importing itself):
// the same documents and bytes as the CLI, the options table, errors with
// the C library's code and sentence, external data, progress and cancel,
// byteOffset views, memory that stays bounded, pointers above 2 GB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { init, info, check, equalize, OnnxCleError } from 'onnx-cle';
import { makeApi } from '../../wasm/api.js';
import { loadRuntime } from '../../wasm/node.js';
import { native, realModels, fixture, bytesOf, cleManifest } from './helpers.mjs';

const vgg = fixture('vgg_like_bn.onnx');
const tmp = mkdtempSync(path.join(tmpdir(), 'onnx-cle-api-'));

test('a failed init is not cached: the next call tries again', async () => {
  // runs first in this file, before anything loaded the module
  await assert.rejects(init({ locateFile: () => path.join(tmp, 'nope.wasm') }),
    { name: 'OnnxCleError', code: 'CLE_E_IO', message: /cannot read onnx-cle\.wasm at .*nope\.wasm/ });
  await assert.rejects(init({ wasmBinary: new Uint8Array([0, 1, 2, 3]) }),
    { code: 'CLE_E_IO', message: /not a WebAssembly module/ });
  const a = init();
  const b = init({ locateFile: () => '/nowhere' }); // options of the first call count
  assert.equal(await a, undefined);
  assert.equal(await b, undefined);
  await assert.rejects(init({ wasmBinray: 1 }), { name: 'TypeError', message: /unknown option 'wasmBinray' for init/ });
});

test('init takes a compiled module or the bytes', async () => {
  const bytes = readFileSync(new URL('../../dist/onnx-cle.wasm', import.meta.url));
  for (const options of [{ wasmBinary: bytes }, { wasmModule: await WebAssembly.compile(bytes) }]) {
    const api = makeApi((o) => loadRuntime(o));
    await api.init(options);
    const bytes = bytesOf(fixture('conv_relu.onnx'));
    assert.deepEqual(await api.info(bytes), await info(bytes));
  }
});

test('info gives what `onnx-cle info --json` prints', async () => {
  for (const file of [...Object.values(realModels), fixture('loop_scan.onnx'), fixture('typed_fields.onnx')]) {
    const cli = native('info', file, '--json');
    assert.equal(cli.status, 0, cli.stderr);
    assert.deepEqual(await info(readFileSync(file)), JSON.parse(cli.stdout), file);
  }
});

test('equalize options are the CLI options: same report, same bytes', async () => {
  const table = [
    [{}, []],
    [{ hbf: false }, ['--no-hbf']],
    [{ hbf: true, pow2Scales: true }, ['--hbf', '--pow2-scales']],
    [{ objective: 'balance', batchNorm: 'keep' }, ['--objective=balance', '--batch-norm=keep']],
    [{ reference: true }, ['--reference']],
    [{ relu6: 'skip' }, ['--relu6=skip']],
    [{ relu6: 'relu', iterations: 3 }, ['--relu6=relu', '--iterations=3']],
    [{ iterations: 20, tolerance: 1e-7, maxScale: 100 }, ['--iterations=20', '--tolerance=1e-7', '--max-scale=100']],
  ];
  const models = [vgg, fixture('mobilenetv2_like_bn.onnx'), realModels['ppocr-det']];
  for (const file of models) {
    const bytes = bytesOf(file);
    for (const [options, args] of table) {
      const out = path.join(tmp, 'cli.onnx');
      const cli = native('equalize', file, '-o', out, '--json', ...args);
      assert.equal(cli.status, 0, cli.stderr);
      const r = await equalize(bytes, options);
      assert.deepEqual(r.report, JSON.parse(cli.stdout), `${file} ${args}`);
      assert.ok(r.model instanceof Uint8Array);
      assert.ok(Buffer.from(r.model).equals(readFileSync(out)), `${path.basename(file)} ${args}: bytes differ`);
    }
  }
});

test('the input is not changed, and any view is read from its byteOffset', async () => {
  const model = bytesOf(vgg);
  const copy = model.slice();
  const padded = new Uint8Array(model.length + 13);
  padded.set(model, 13);
  const view = padded.subarray(13);
  const a = await equalize(model);
  const b = await equalize(view);
  assert.deepEqual(model, copy);
  assert.deepEqual(view, copy);
  assert.deepEqual(b.model, a.model);
  assert.deepEqual(await info(model.buffer.slice(model.byteOffset, model.byteOffset + model.length)), await info(model));
});

test('options: unknown fields and wrong types are TypeError; ranges are the C sentence', async () => {
  const bytes = bytesOf(vgg);
  await assert.rejects(equalize(bytes, { pow2scales: true }),
    { name: 'TypeError', message: /unknown option 'pow2scales' for equalize/ });
  await assert.rejects(info(bytes, { hbf: false }), { name: 'TypeError', message: /unknown option 'hbf' for info/ });
  await assert.rejects(check(bytes, { iterations: 3 }), { name: 'TypeError', message: /unknown option 'iterations' for check/ });
  await assert.rejects(equalize(bytes, { hbf: 'no' }), { name: 'TypeError', message: /'hbf' must be a boolean/ });
  await assert.rejects(equalize(bytes, { iterations: NaN }), { name: 'TypeError', message: /finite number/ });
  await assert.rejects(equalize(bytes, { onProgress: 1 }), { name: 'TypeError' });
  await assert.rejects(equalize(bytes, 'fast'), { name: 'TypeError' });
  await assert.rejects(equalize('model.onnx'), { name: 'TypeError', message: /must be a Uint8Array, not string/ });
  const cases = [
    [{ iterations: 0 }, ['--iterations=0']],
    [{ iterations: 2.5 }, ['--iterations=2.5']],
    [{ tolerance: 11 }, ['--tolerance=11']],
    [{ maxScale: 0.5 }, ['--max-scale=0.5']],
    [{ relu6: 'clip' }, ['--relu6=clip']],
  ];
  for (const [options, args] of cases) {
    const cli = native('equalize', vgg, '-o', path.join(tmp, 'x.onnx'), ...args);
    assert.equal(cli.status, 2);
    const sentence = cli.stderr.split('\n')[0].replace(/^onnx-cle: /, '');
    await assert.rejects(equalize(bytes, options), (e) => {
      assert.ok(e instanceof OnnxCleError);
      assert.equal(e.code, 'CLE_E_USAGE');
      assert.equal(e.message, sentence);
      return true;
    });
  }
});

test('bad models: OnnxCleError with the code and the sentence', async () => {
  const det = bytesOf(realModels['ppocr-det']);
  for (const call of [info, equalize]) {
    await assert.rejects(call(det.subarray(0, 5000)), {
      name: 'OnnxCleError', code: 'CLE_E_TRUNCATED', message: /^the file is truncated: it ends at byte 5000/,
    });
    await assert.rejects(call(new Uint8Array(0)), { code: 'CLE_E_NOT_ONNX', message: /the file is empty/ });
    await assert.rejects(call(new Uint8Array([1, 2, 3])), { code: 'CLE_E_NOT_ONNX', message: /not an ONNX model/ });
  }
  const e = await info(new Uint8Array([1, 2, 3])).catch((x) => x);
  assert.ok(e instanceof Error && e instanceof OnnxCleError);
  assert.equal(e.name, 'OnnxCleError');
});

test('external data is read from options.externalData (an object or a Map)', async () => {
  const model = bytesOf(fixture('external.onnx'));
  const data = bytesOf(fixture('external.onnx.data'));
  // without its data the model can be read but not written back
  assert.equal((await check(model)).cle.layers[0].reason,
    "its weight is stored in external data 'external.onnx.data', which was not supplied");
  await assert.rejects(equalize(model), { code: 'CLE_E_IO', message: /which is needed to write the model but was not supplied/ });
  for (const externalData of [{ 'external.onnx.data': data }, new Map([['external.onnx.data', data]])]) {
    const r = await equalize(model, { externalData });
    assert.equal(typeof r.report.layers[0].range_spread_before, 'number');
    assert.deepEqual(Object.keys(r.externalData), ['model.onnx.data']);
    assert.equal(r.externalData['model.onnx.data'].length, 16 * 8 * 4); // the one tensor, w
  }
  // the data file comes back under the name the model now gives it
  const named = await equalize(model, { externalData: { 'external.onnx.data': data }, externalDataName: 'w.bin' });
  assert.deepEqual(Object.keys(named.externalData), ['w.bin']);
  assert.ok(Buffer.from(named.model).includes('w.bin'));
  const cli = native('equalize', fixture('external.onnx'), '-o', path.join(tmp, 'ext.onnx'), '--json');
  assert.deepEqual((await equalize(model, { externalData: { 'external.onnx.data': data } })).report,
    JSON.parse(cli.stdout));
  // a file too short for the tensor is not read past its end
  const short = { 'external.onnx.data': data.subarray(0, 100) };
  assert.match((await check(model, { externalData: short })).cle.layers[0].reason, /does not fit in 'external\.onnx\.data'/);
  // equalize refuses it as check finds it: invalid (--allow-invalid: then it cannot be written)
  await assert.rejects(equalize(model, { externalData: short }),
    { code: 'CLE_E_INVALID', message: /reads bytes 0\.\.512 of 'external\.onnx\.data', which holds only 100 bytes/ });
  await assert.rejects(equalize(model, { externalData: short, allowInvalid: true }), { code: 'CLE_E_IO', message: /was too short/ });
});

test('progress: stages in order, fractions 0..1; false cancels, a throw is rethrown', async () => {
  const bytes = bytesOf(realModels['ppocr-det']);
  const seen = [];
  await equalize(bytes, { onProgress: (stage, fraction) => void seen.push([stage, fraction]) });
  assert.ok(seen.length > 3);
  assert.ok(seen.every(([s, f]) => typeof s === 'string' && f >= 0 && f <= 1));
  assert.deepEqual([...new Set(seen.map(([s]) => s))], ['read', 'balance', 'write', 'done']);

  let calls = 0;
  await assert.rejects(equalize(bytes, { onProgress: () => ++calls < 3 }),
    { name: 'OnnxCleError', code: 'CLE_E_CANCELLED' });
  assert.equal(calls, 3);
  const boom = new Error('stop here');
  await assert.rejects(equalize(bytes, { onProgress: () => { throw boom; } }), (e) => e === boom);
  // the instance is still good
  assert.equal((await equalize(bytes)).report.totals.layers, 64);
});

test('onOutput: the output in pieces, in order, the same bytes; a throw fails the call', async () => {
  const concat = (pieces) => Buffer.concat(pieces.map((p) => Buffer.from(p)));
  const collect = () => {
    const files = new Map(); // name → { total, pieces }
    const onOutput = (piece, { name, offset, total }) => {
      if (!files.has(name)) files.set(name, { total, pieces: [] });
      const f = files.get(name);
      assert.equal(offset, f.pieces.reduce((n, p) => n + p.length, 0), 'pieces in order');
      assert.equal(total, f.total);
      f.pieces.push(piece.slice()); // a view into wasm memory: valid during the call only
    };
    return { files, onOutput };
  };
  const bytes = bytesOf(realModels['ppocr-det']);
  const whole = await equalize(bytes);
  const { files, onOutput } = collect();
  const r = await equalize(bytes, { onOutput });
  assert.equal(r.model, null);
  assert.deepEqual(r.report, whole.report);
  assert.deepEqual([...files.keys()], [null]);
  assert.equal(files.get(null).total, whole.model.length);
  assert.ok(concat(files.get(null).pieces).equals(Buffer.from(whole.model)));

  // a model with external data: its pieces, then the data file's, under its name
  const externalData = { 'external.onnx.data': bytesOf(fixture('external.onnx.data')) };
  const model = bytesOf(fixture('external.onnx'));
  const ext = await equalize(model, { externalData });
  const c2 = collect();
  const r2 = await equalize(model, { externalData, onOutput: c2.onOutput });
  assert.equal(r2.externalData, undefined);
  assert.deepEqual([...c2.files.keys()], [null, 'model.onnx.data']);
  assert.ok(concat(c2.files.get(null).pieces).equals(Buffer.from(ext.model)));
  assert.ok(concat(c2.files.get('model.onnx.data').pieces).equals(Buffer.from(ext.externalData['model.onnx.data'])));

  const boom = new Error('disk full');
  await assert.rejects(equalize(bytes, { onOutput: () => { throw boom; } }), (e) => e === boom);
  await assert.rejects(equalize(bytes, { onOutput: 1 }), { name: 'TypeError', message: /'onOutput' must be a function/ });
  await assert.rejects(check(bytes, { onOutput: () => {} }), { name: 'TypeError', message: /unknown option 'onOutput' for check/ });
  assert.ok(Buffer.from((await equalize(bytes)).model).equals(Buffer.from(whole.model))); // the instance is still good
});

test('check: the same report as `onnx-cle check --json`, with what info says under model', async () => {
  for (const file of [vgg, realModels['ppocr-det'], realModels['silero-v5']]) {
    const cli = native('check', file, '--json');
    assert.ok(cli.status === 0 || cli.status === 1, cli.stderr);
    const report = await check(readFileSync(file));
    const { file: given, ...printed } = JSON.parse(cli.stdout); // the CLI's line names the model first
    assert.equal(given, file);
    assert.deepEqual(report, printed, file);
    assert.deepEqual(report.model, await info(readFileSync(file)), file);
  }
});

test('50 models in a row: wasm memory stays bounded', async () => {
  let rt;
  const api = makeApi(async (o) => (rt = await loadRuntime(o)));
  const files = [...Object.keys(cleManifest()).map(fixture), ...Object.values(realModels)];
  const models = files.map(bytesOf);
  const biggest = models.reduce((a, b) => (b.length > a.length ? b : a));
  // the largest first, with every kind of call, so memory reaches its working size
  await api.info(biggest);
  await api.equalize(biggest);
  await api.equalize(biggest, { onProgress: () => false }).catch(() => {});
  const before = rt.exports.memory.buffer.byteLength;
  let calls = 0;
  for (let i = 0; calls < 50; i++) {
    const m = models[i % models.length];
    await api.info(m);
    await api.equalize(m, { pow2Scales: i % 2 === 0 });
    await api.equalize(m, { onProgress: () => false }).catch(() => {}); // cancelled halfway
    await api.equalize(m.subarray(0, m.length >> 1)).catch(() => {}); // truncated
    calls++;
  }
  const after = rt.exports.memory.buffer.byteLength;
  assert.ok(after <= before, `wasm memory grew from ${before} to ${after} bytes over ${calls} models`);
});

test('pointers above 2 GB: a model placed past 2^31 in wasm memory', async () => {
  const rt = await loadRuntime();
  // take 2.2 GB first, so every block the calls allocate is above 2^31
  // (two blocks: dlmalloc on wasm32 asks sbrk for less than 2 GB at a time)
  const blocks = [1500, 700].map((mb) => rt.exports.malloc(mb * 1024 * 1024) >>> 0);
  assert.ok(blocks.every((p) => p !== 0), 'could not reserve 2.2 GB of wasm memory');
  const api = makeApi(async () => rt);
  const bytes = bytesOf(realModels['ppocr-det']);
  const r = await api.equalize(bytes, { onProgress: () => {} });
  const want = await equalize(bytes);
  assert.deepEqual(r.report, want.report);
  assert.ok(Buffer.from(r.model).equals(Buffer.from(want.model)));
  assert.deepEqual(await api.info(bytes), await info(bytes));
  await assert.rejects(api.info(bytes.subarray(0, 5000)), { code: 'CLE_E_TRUNCATED' });
  // the error sentence and the model both came from above 2^31
  const probe = rt.exports.malloc(16) >>> 0;
  assert.ok(probe > 2 ** 31, `allocations are at ${probe}`);
  rt.exports.free(probe);
  blocks.forEach((p) => rt.exports.free(p));
});

// prepare(): the first equalize of a new instance pays baseline code and
// fresh pages; prepare readies both ahead (its speed is bench/run.mjs's to
// measure, not a test's): here, that it grows memory by what was asked,
// only once, refuses a size that is not one, and changes no output byte.
test('prepare readies memory once for a size, and equalize gives the same bytes after it', async () => {
  const rts = [];
  const load = (o) => loadRuntime(o).then((rt) => (rts.push(rt), rt));
  const ready = makeApi(load);
  const plain = makeApi(loadRuntime);
  for (const bad of [-1, NaN, Infinity, '8000000', undefined]) {
    await assert.rejects(ready.prepare(bad), { name: 'TypeError', message: /prepare takes the model's size in bytes/ }, String(bad));
  }
  // sizes past the instance's first memory (16 MiB), so that it must grow
  await ready.init();
  const before = rts[0].memory.buffer.byteLength;
  const first = await ready.prepare(2e7);
  const mem = rts[0].memory.buffer.byteLength;
  assert.ok(first.bytes >= 3e7 && first.bytes < 3e7 + 65536, `${first.bytes}`);
  // grown to C's heap (under 4 MB after the warm-up) and 3e7 beyond it
  assert.ok(mem > before && mem - first.bytes < 4e6, `${before} -> ${mem}`);
  // a smaller model: nothing more; a bigger one: topped up
  assert.deepEqual(await ready.prepare(1e6), first);
  assert.equal(rts[0].memory.buffer.byteLength, mem);
  const more = await ready.prepare(3e7);
  assert.ok(more.bytes >= 4.5e7 && more.bytes < 4.5e7 + 65536, `${more.bytes}`);
  assert.ok(rts[0].memory.buffer.byteLength > mem);
  assert.equal(rts.length, 1);
  for (const file of [realModels['ppocr-rec'], vgg]) {
    const bytes = readFileSync(file);
    const a = await ready.equalize(bytes);
    const b = await plain.equalize(bytes);
    assert.ok(Buffer.from(a.model).equals(Buffer.from(b.model)), file);
    assert.equal(a.report.totals.rounds, b.report.totals.rounds);
  }
});

// the memory beyond the heap's top, which an earlier call may have touched:
// prepare counts it (the page prepares after a check, which on a 100 MB model
// leaves 100 MB of it) and grows only past it
test('prepare after a check counts the memory the check left', async () => {
  const rts = [];
  const api = makeApi((o) => loadRuntime(o).then((rt) => (rts.push(rt), rt)));
  await api.prepare(0); // the code warm-up alone
  const [rt] = rts;
  const bytes = readFileSync(realModels['ppocr-rec']);
  await api.check(bytes);
  const mem = rt.memory.buffer.byteLength;
  const spare = mem - (rt.exports.cle_bench_heap_top() >>> 0);
  assert.ok(spare > 1e6, `${spare}`);
  assert.deepEqual(await api.prepare(Math.floor(spare / 1.5)), { bytes: spare });
  assert.equal(rt.memory.buffer.byteLength, mem);
  const more = await api.prepare(Math.floor(spare / 1.5) + 1e6);
  assert.ok(more.bytes >= spare + 1.5e6 && more.bytes < spare + 1.5e6 + 65536, `${more.bytes}`);
});
