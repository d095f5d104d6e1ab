// The package in headless Chromium (Debian's, driven by playwright-core),
// installed from the packed tarball: bundled by esbuild exactly as the
// README says, and unbundled (an import map onto the installed files, as a
// dev server serves them), so the default `new URL(..., import.meta.url)`
// look-ups of the .wasm and of the worker script are what load.  Pages are
// served from 127.0.0.1; nothing else is reached.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { native, run, realModels, fixture, launchChromium } from './helpers.mjs';
import { installPacked, readmeBlock, bin } from './pack.mjs';

const pkg = installPacked();
const models = { det: realModels['ppocr-det'], rec: realModels['ppocr-rec'], vgg: fixture('vgg_like_bn.onnx') };
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream' };
let server;
let origin;
let context;

// GET /<root>/<path> from the folders in `roots`; models under /models/
function serve(roots) {
  return createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const [, top, ...rest] = url.pathname.split('/');
    const file = top === 'models' ? models[path.basename(rest.join('/'), '.onnx')]
      : roots[top] && path.join(roots[top], ...rest); // URL parsing has already removed any '..'
    if (!file || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
}

// What every page runs once `init`, `check`, `info`, `equalize`,
// `OnnxCleError` and `worker` are in scope; the result lands in window.result.
const probe = `
const hex = async (bytes) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))]
  .map((b) => b.toString(16).padStart(2, '0')).join('');
const load = async (name) => new Uint8Array(await (await fetch('/models/' + name + '.onnx')).arrayBuffer());
const out = {};
try {
  const det = await load('det');
  out.info = await info(det);
  const eq = await equalize(det, { pow2Scales: true, onProgress: () => {} });
  out.report = eq.report;
  out.model = await hex(eq.model);
  try { out.check = await check(det); } catch (e) { out.check = { code: e.code, message: e.message }; }
  try { await info(det.subarray(0, 5000)); } catch (e) {
    out.error = { name: e.name, code: e.code, message: e.message, isClass: e instanceof OnnxCleError };
  }
  // the worker: the buffer moves there and the model moves back
  const input = det.slice();
  const stages = [];
  const w = await worker.equalize(input, { pow2Scales: true, onProgress: (stage) => stages.push(stage) });
  out.worker = { report: w.report, model: await hex(w.model), sent: input.buffer.byteLength,
    own: w.model.buffer.byteLength === w.model.length, stages: [...new Set(stages)] };
  // cancel once the work is under way; the next call gets a fresh worker
  let began;
  const running = new Promise((resolve) => (began = resolve));
  const slow = worker.equalize(await load('rec'), { iterations: 10000, tolerance: 0, onProgress: () => began() });
  await running;
  worker.cancel();
  out.cancelled = await slow.then(() => 'finished', (e) => e.name);
  out.after = (await worker.equalize(await load('vgg'))).report.totals.layers;
} catch (e) {
  out.failure = String(e && e.stack || e);
}
window.result = out;
`;

// no favicon request
const head = '<!doctype html><link rel="icon" href="data:,">';

async function runPage(url) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  const fetched = [];
  page.on('response', (r) => {
    fetched.push(new URL(r.url()).pathname);
    if (r.status() !== 200) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.result, null, { timeout: 40_000 });
    return { result: await page.evaluate(() => window.result), problems, fetched };
  } finally {
    await page.close();
  }
}

function expectations(r, problems) {
  assert.equal(r.failure, undefined, r.failure);
  assert.deepEqual(problems, []);
  assert.deepEqual(r.info, JSON.parse(native('info', models.det, '--json').stdout));
  const out = path.join(pkg.dir, 'native.onnx');
  const cli = native('equalize', models.det, '-o', out, '--pow2-scales', '--json');
  const want = { report: JSON.parse(cli.stdout), model: sha256(readFileSync(out)) };
  assert.deepEqual(r.report, want.report);
  assert.equal(r.model, want.model);
  // the CLI's line names the model first; check() is given bytes, not a file
  const { file, ...checked } = JSON.parse(native('check', models.det, '--json').stdout);
  assert.equal(file, models.det);
  if (r.check.code !== 'CLE_E_USAGE') assert.deepEqual(r.check, checked);
  const { message, ...error } = r.error;
  assert.deepEqual(error, { name: 'OnnxCleError', code: 'CLE_E_TRUNCATED', isClass: true });
  assert.match(message, /^the file is truncated: it ends at byte 5000/);
  assert.deepEqual(r.worker, { report: want.report, model: want.model, sent: 0, own: true,
    stages: ['read', 'balance', 'write', 'done'] });
  assert.equal(r.cancelled, 'AbortError');
  assert.equal(r.after, 6);
}

let closeChromium;

before(async () => {
  server = serve({ public: path.join(pkg.dir, 'public'), inline: path.join(pkg.dir, 'inline/out'), pkg: pkg.dir });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  ({ context, close: closeChromium } = await launchChromium());
});

after(async () => {
  await closeChromium?.();
  server?.close();
  rmSync(pkg.dir, { recursive: true, force: true });
});

test('bundled by esbuild as the README says: API and worker in Chromium', async () => {
  // the README's esbuild command and code, as written
  const command = readmeBlock('**Bundlers.**', 'sh').trim().split(/\s+/);
  assert.equal(command[0], 'esbuild');
  const snippet = readmeBlock('**Bundlers.**', 'js');
  writeFileSync(path.join(pkg.dir, 'app.js'),
    `${snippet}\nimport { info, equalize, OnnxCleError } from 'onnx-cle';\n${probe}`);
  const built = run(bin('esbuild'), command.slice(1), { cwd: pkg.dir });
  assert.equal(built.status, 0, built.stderr);
  const outdir = path.join(pkg.dir, 'public');
  writeFileSync(path.join(outdir, 'index.html'), `${head}<script type="module" src="app.js"></script>`);

  // the same with the .wasm inlined (--loader:.wasm=binary)
  const inline = path.join(pkg.dir, 'inline');
  mkdirSync(inline, { recursive: true });
  writeFileSync(path.join(inline, 'src.js'), `
import { init, info, check, equalize, OnnxCleError } from 'onnx-cle';
import { createWorker } from 'onnx-cle/worker';
import wasmBinary from 'onnx-cle/onnx-cle.wasm';
await init({ wasmBinary });
const worker = createWorker({ url: './worker.js', wasmBinary });
${probe}`);
  const built2 = run(bin('esbuild'), ['inline/src.js', 'worker=onnx-cle/worker-script', '--bundle', '--format=esm',
    '--outdir=inline/out', '--loader:.wasm=binary'], { cwd: pkg.dir });
  assert.equal(built2.status, 0, built2.stderr);
  writeFileSync(path.join(inline, 'out/index.html'), `${head}<script type="module" src="src.js"></script>`);

  const files = run('ls', [outdir]).stdout.toString();
  assert.match(files, /onnx-cle-\w+\.wasm/, 'esbuild copied the .wasm');
  const a = await runPage(`${origin}/public/index.html`);
  expectations(a.result, a.problems);
  assert.ok(a.fetched.some((p) => /^\/public\/onnx-cle-\w+\.wasm$/.test(p)), a.fetched.join(' '));
  assert.ok(a.fetched.includes('/public/worker.js'));
  const b = await runPage(`${origin}/inline/index.html`);
  expectations(b.result, b.problems);
  assert.ok(!b.fetched.some((p) => p.endsWith('.wasm')), 'the .wasm is inlined');
});

test('unbundled (import map): the default URLs find the .wasm and the worker script', async () => {
  const page = path.join(pkg.dir, 'plain.html');
  writeFileSync(page, `${head}
<script type="importmap">{ "imports": {
  "onnx-cle": "/pkg/node_modules/onnx-cle/wasm/index.js",
  "onnx-cle/worker": "/pkg/node_modules/onnx-cle/wasm/worker.js" } }</script>
<script type="module">
import { init, info, check, equalize, OnnxCleError } from 'onnx-cle';
import { createWorker } from 'onnx-cle/worker';
await init();
const worker = createWorker();
${probe}
</script>`);
  const r = await runPage(`${origin}/pkg/plain.html`);
  expectations(r.result, r.problems);
  assert.ok(r.fetched.includes('/pkg/node_modules/onnx-cle/dist/onnx-cle.wasm'), r.fetched.join(' '));
  assert.ok(r.fetched.includes('/pkg/node_modules/onnx-cle/wasm/worker-script.js'));
});
