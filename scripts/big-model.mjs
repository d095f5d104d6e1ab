// big-model.mjs — a model above 2 GB through the Node API on the wasm
// build (run by scripts/big-model.sh; outside CI: minutes and ~8 GB of RAM).
// Checks and equalizes it, checks the output, and prints the time and
// memory of each step; then shows the sentence for a model too big for
// wasm32.  Exits 1 if a step fails or gives the wrong answer.
//   node scripts/big-model.mjs MODEL.onnx [OUT.onnx] [--wasm path/to/onnx-cle.wasm]
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import assert from 'node:assert/strict';
import { makeApi } from '../wasm/api.js';
import { loadRuntime } from '../wasm/node.js';

const args = process.argv.slice(2);
const at = args.indexOf('--wasm');
const wasm = at >= 0 ? args.splice(at, 2)[1] : undefined;
const [file, outFile] = args;
if (!file) {
  console.error('usage: node scripts/big-model.mjs MODEL.onnx [OUT.onnx] [--wasm FILE]');
  process.exit(2);
}

// index.node.js's API, keeping a hand on the runtime to read its memory size
let runtime;
const api = makeApi(async (options) => (runtime = await loadRuntime(options)));
const wasmBytes = () => runtime.memory.buffer.byteLength;
const gb = (n) => `${(n / 1e9).toFixed(2)} GB`;
const peakRss = () => process.resourceUsage().maxRSS * 1024;

// fs.readFileSync stops at 2 GiB; read in pieces
function readBig(path) {
  const fd = openSync(path, 'r');
  try {
    const bytes = new Uint8Array(fstatSync(fd).size);
    for (let got = 0; got < bytes.length; )
      got += readSync(fd, bytes, got, Math.min(bytes.length - got, 1 << 30), got);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function writeBig(path, bytes) {
  const fd = openSync(path, 'w');
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
  } finally {
    closeSync(fd);
  }
}

async function step(what, fn) {
  const t = performance.now();
  const r = await fn();
  const s = ((performance.now() - t) / 1000).toFixed(1);
  console.log(`${what}: ${s} s, wasm memory ${gb(wasmBytes())}, peak RSS so far ${gb(peakRss())}`);
  return r;
}

await api.init(wasm ? { locateFile: () => wasm } : undefined);
const bytes = await step(`read ${file}`, () => readBig(file));
console.log(`model: ${bytes.length} bytes (${gb(bytes.length)}, ${(bytes.length / 2 ** 30).toFixed(2)} GiB)`);
assert.ok(bytes.length > 2 ** 31, 'the model is not above 2 GiB');

const checked = await step('check', () => api.check(bytes));
const layers = checked.cle.layers.length;
console.log(`  ${checked.findings.length} findings, ${layers} layers`);

const { model, report } = await step('equalize', () => api.equalize(bytes));
console.log(`  output ${model.length} bytes, ${report.totals.equalized} layers equalized`);
assert.equal(model.length, bytes.length, 'raw_data rewritten in place keeps the size');
assert.ok(report.totals.equalized >= 2, 'nothing was equalized');
const memoryAfterOne = wasmBytes();

// the output loads, and the memory of the first call is used again
const again = await step('check the output', () => api.check(model));
assert.equal(again.cle.layers.length, layers);
assert.equal(wasmBytes(), memoryAfterOne, 'wasm memory grew on a second model of the same size');
if (outFile) await step(`write ${outFile}`, () => writeBig(outFile, model));

// what wasm32 cannot hold: refused with a sentence, before copying
for (const n of [2 ** 32 - 2 ** 16, 2 ** 32]) {
  try {
    await api.check(new Uint8Array(n));
    assert.fail(`a ${n}-byte model was accepted`);
  } catch (e) {
    assert.ok(e.code === 'CLE_E_NOMEM' || e.code === 'CLE_E_LIMIT', e.stack);
    console.log(`${n} bytes: ${e.code}: ${e.message}`);
  }
}
console.log(`peak RSS ${gb(peakRss())}, wasm memory at the end ${gb(wasmBytes())}`);
