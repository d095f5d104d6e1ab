// The onnxruntime-web harness (ort.mjs) against PyTorch and against itself:
// the equalizer's test models compute what PyTorch computed, their variants
// (BN kept, BN folded, weights in Constant nodes, opset 10) agree, real
// pretrained models run, and nothing touches the network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { realModels, fixture, cleManifest, bytesOf, root } from './helpers.mjs';

// Installed before onnxruntime-web loads: any fetch is a failure.
const fetched = [];
globalThis.fetch = async (what) => {
  fetched.push(String(what?.url ?? what));
  throw new Error(`network access: fetch(${what})`);
};
const { run, randomFeeds, compare, storedIO, ort } = await import('./ort.mjs');

const TOL = 1e-4;
const manifest = cleManifest();
const files = Object.keys(manifest);

async function timed(fn) {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

function allFinite(outputs) {
  return Object.values(outputs).every((a) => a.every((v) => Number.isFinite(v)));
}

test('harness: seeded inputs, comparison', () => {
  const spec = { inputs: [{ name: 'x', shape: [2, 1000], dtype: 'float32' }, { name: 'k', shape: [3], dtype: 'int64' }] };
  const a = randomFeeds(spec, 7);
  assert.deepEqual(a, randomFeeds(spec, 7));
  assert.notDeepEqual(a.x, randomFeeds(spec, 8).x);
  assert.deepEqual(a.x.dims, [2, 1000]);
  assert.ok(a.k instanceof BigInt64Array);
  const mean = a.x.reduce((s, v) => s + v, 0) / a.x.length;
  const std = Math.sqrt(a.x.reduce((s, v) => s + (v - mean) ** 2, 0) / a.x.length);
  assert.ok(Math.abs(mean) < 0.1 && Math.abs(std - 1) < 0.1, `mean ${mean} std ${std}`);
  // session metadata form, with dynamic dims (names, 2^32-1) and overrides
  const meta = [{ name: 'x', type: 'float32', shape: ['batch', 3, 4294967295, 4294967295] }];
  assert.deepEqual(randomFeeds(meta, 1).x.dims, [1, 3, 1, 1]);
  assert.deepEqual(randomFeeds(meta, 1, { shapes: { x: [1, 3, 8, 8] } }).x.dims, [1, 3, 8, 8]);

  const r = compare({ y: Float32Array.of(1, -4, 2) }, { y: Float32Array.of(1, -4.5, 2.25) });
  assert.deepEqual(r, { maxAbsErr: 0.5, maxAbs: 4, relErr: 0.125 });
  assert.equal(compare(Float32Array.of(1, NaN), Float32Array.of(1, NaN)).relErr, Infinity);
  assert.equal(compare(Float32Array.of(0, 0), Float32Array.of(0, 0)).relErr, 0);
  assert.throws(() => compare({ a: Float32Array.of(1) }, { b: Float32Array.of(1) }), /outputs differ/);
});

test('the equalizer fixtures are what the tests assume', async () => {
  const models = new Set(files.map((f) => manifest[f].model));
  assert.deepEqual([...models].sort(), ['decoder', 'mlp', 'mobilenetv2_like', 'resnet_bottleneck_like', 'resnet_like', 'vgg_flatten', 'vgg_like']);
  for (const m of models) {
    assert.ok(manifest[`${m}_bn.onnx`] && manifest[`${m}_folded.onnx`], m);
  }
  assert.equal(manifest['mobilenetv2_like_opset10_bn.onnx'].opset, 10);
  assert.ok(manifest['vgg_like_constants.onnx']);
  for (const [file, e] of Object.entries(manifest)) {
    const bn = e.layers.filter((l) => l.bn);
    assert.ok(bn.length >= 2, `${file}: ${bn.length} layers with batch norm`);
    const ref = manifest[`${e.model}_bn.onnx`].layers.map((l) => [l.name, l.op]);
    assert.deepEqual(e.layers.map((l) => [l.name, l.op]), ref, `${file}: layers`);
    if (e.variant === 'folded') {
      for (const l of bn) assert.ok(l.range_spread > 100, `${file} ${l.name}: spread ${l.range_spread}`);
    }
    const session = await ort.InferenceSession.create(bytesOf(fixture(file)));
    assert.deepEqual(session.inputNames, e.inputs.map((i) => i.name), file);
    assert.deepEqual(session.outputNames, e.outputs.map((o) => o.name), file);
    await session.release();
  }
  const ops = new Set(files.flatMap((f) => manifest[f].layers.map((l) => l.op)));
  assert.deepEqual([...ops].sort(), ['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
});

test('onnxruntime-web matches PyTorch on every equalizer fixture', async (t) => {
  for (const file of files) {
    const { feeds, outputs } = storedIO(manifest[file]);
    const [got, ms] = await timed(() => run(bytesOf(fixture(file)), feeds));
    const r = compare(outputs, got);
    t.diagnostic(`${file}: relErr ${r.relErr.toExponential(2)} (max |y| ${r.maxAbs.toPrecision(3)}), ${ms.toFixed(0)} ms`);
    assert.ok(r.relErr < TOL, `${file}: relErr ${r.relErr} against PyTorch`);
    assert.deepEqual(got[manifest[file].outputs[0].name].dims, manifest[file].outputs[0].shape);
  }
});

test('variants of one network compute the same function', async (t) => {
  const groups = {};
  for (const file of files) (groups[manifest[file].model] ??= []).push(file);
  for (const [model, variants] of Object.entries(groups)) {
    const refFile = `${model}_bn.onnx`;
    const ref = bytesOf(fixture(refFile));
    let worst = 0;
    for (const seed of [1, 2, 3]) {
      const feeds = randomFeeds(manifest[refFile], seed);
      const want = await run(ref, feeds);
      assert.ok(allFinite(want), `${refFile}: non-finite output`);
      for (const file of variants.filter((f) => f !== refFile)) {
        const r = compare(want, await run(bytesOf(fixture(file)), feeds));
        assert.ok(r.relErr < TOL, `${file} vs ${refFile}, seed ${seed}: relErr ${r.relErr}`);
        worst = Math.max(worst, r.relErr);
      }
    }
    t.diagnostic(`${model}: ${variants.join(', ')} agree, worst relErr ${worst.toExponential(2)}`);
  }
});

test('PP-OCRv4 detection runs (weights in Constant nodes)', async (t) => {
  const bytes = bytesOf(realModels['ppocr-det']);
  const session = await ort.InferenceSession.create(bytes);
  const feeds = randomFeeds(session.inputMetadata, 1, { shapes: { x: [1, 3, 64, 64] } });
  await session.release();
  const [out, ms] = await timed(() => run(bytes, feeds));
  const [y] = Object.values(out);
  assert.deepEqual(y.dims, [1, 1, 64, 64]);
  assert.ok(allFinite(out));
  assert.ok(y.every((v) => v >= 0 && v <= 1)); // a sigmoid probability map
  t.diagnostic(`ppocr-det 1x3x64x64: ${ms.toFixed(0)} ms (session + run)`);
});

test('Silero VAD v5 runs (weights inside If subgraphs)', async (t) => {
  const bytes = bytesOf(realModels['silero-v5']);
  const feeds = randomFeeds([{ name: 'input', type: 'float32', shape: [1, 512] }], 1, { scale: 0.1 });
  feeds.state = Object.assign(new Float32Array(2 * 128), { dims: [2, 1, 128] });
  feeds.sr = Object.assign(BigInt64Array.of(16000n), { dims: [] });
  const [out, ms] = await timed(() => run(bytes, feeds));
  assert.deepEqual(Object.keys(out).sort(), ['output', 'stateN']);
  assert.deepEqual(out.output.dims, [1, 1]);
  assert.deepEqual(out.stateN.dims, [2, 1, 128]);
  assert.ok(allFinite(out));
  assert.ok(out.output[0] >= 0 && out.output[0] <= 1);
  t.diagnostic(`silero-v5 512 samples: ${ms.toFixed(0)} ms (session + run)`);
});

test('onnxruntime-web made no network request', () => {
  assert.deepEqual(fetched, []);
});

test('runs with the network unplugged (unshare -rn)', (t) => {
  if (spawnSync('unshare', ['-rn', 'true']).status !== 0) {
    t.skip('unshare -rn (user + network namespace) is not available here');
    return;
  }
  const script = `
    import os from 'node:os';
    import { readFileSync } from 'node:fs';
    const ifaces = Object.keys(os.networkInterfaces()).filter((n) => n !== 'lo');
    if (ifaces.length) throw new Error('network interfaces: ' + ifaces);
    const { run, storedIO, compare } = await import(${JSON.stringify(pathToFileURL(path.join(root, 'tests/js/ort.mjs')).href)});
    const entry = JSON.parse(readFileSync(${JSON.stringify(fixture('cle_manifest.json'))}, 'utf8'))['mobilenetv2_like_bn.onnx'];
    const { feeds, outputs } = storedIO(entry);
    const got = await run(readFileSync(${JSON.stringify(fixture('mobilenetv2_like_bn.onnx'))}), feeds);
    console.log(JSON.stringify(compare(outputs, got)));`;
  const r = spawnSync('unshare', ['-rn', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).relErr < TOL, r.stdout);
});
