// The packed tarball in the bundlers users have (devDependencies, pinned):
// one small app, built by each bundler as a user would (no config for
// Vite, webpack 5 and Parcel 2; the README's recipe for esbuild and
// Rollup, which cannot do without one), then run in headless Chromium
// from the bundle's own folder alone, so the .wasm and the worker script
// load only if the bundler put them there.  The app checks a real model on
// the main thread and in the Web Worker; both must say what the native CLI
// says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync, readdirSync, existsSync, symlinkSync, copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build as viteBuild, createServer as createViteServer } from 'vite';
import webpack from 'webpack';
import { native, run, realModels, root, launchChromium } from './helpers.mjs';
import { installPacked, readmeBlock, bin } from './pack.mjs';

const model = realModels['ppocr-det'];
const pkg = installPacked();
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

// what every app does once `check` and `worker` are in scope; the result lands in window.result
const probe = `
const out = {};
try {
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  out.main = await check(bytes);
  out.worker = await worker.check(bytes);
  worker.terminate();
} catch (e) {
  out.failure = String((e && e.stack) || e);
}
window.result = out;
`;
// no config: the package's own `new URL(..., import.meta.url)` look-ups are all the bundler sees
const plainApp = `import { check } from 'onnx-cle';
import { createWorker } from 'onnx-cle/worker';
const worker = createWorker();
${probe}`;
const page = (script) =>
  `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>app</title></head>
<body><script type="module" src="${script}"></script></body></html>\n`;

let closeChromium;
let context;

before(async () => {
  ({ context, close: closeChromium } = await launchChromium());
});

after(async () => {
  await closeChromium?.();
  rmSync(pkg.dir, { recursive: true, force: true });
});

/** A folder of the consumer project holding `files` (name → text). */
function project(name, files) {
  const dir = path.join(pkg.dir, name);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

/** Links devDependencies of this repository into the consumer project (a config file imports them). */
function linkFromRepo(...names) {
  for (const name of names) {
    const to = path.join(pkg.dir, 'node_modules', name);
    mkdirSync(path.dirname(to), { recursive: true });
    if (!existsSync(to)) symlinkSync(path.join(root, 'node_modules', name), to, 'dir');
  }
}

// Opens `url` in a new tab and returns what the app put in window.result,
// what failed, the paths fetched and the workers' script paths.
async function openApp(url) {
  const tab = await context.newPage();
  const problems = [];
  const fetched = [];
  const workers = [];
  tab.on('worker', (w) => workers.push(new URL(w.url()).pathname));
  tab.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  tab.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  tab.on('response', (r) => {
    fetched.push(new URL(r.url()).pathname);
    if (r.status() !== 200) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  try {
    await tab.goto(url);
    await tab.waitForFunction(() => window.result, null, { timeout: 60_000 }).catch((e) => {
      throw new Error(`${e.message}\n${problems.join('\n')}\nfetched: ${fetched.join(' ')}`);
    });
    return { result: await tab.evaluate(() => window.result), problems, fetched, workers };
  } finally {
    await tab.close();
  }
}

// Serves `dir` alone (and the model) on 127.0.0.1 and opens its index.html.
async function runBundle(dir) {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    const file = pathname === '/model.onnx' ? model : path.join(dir, pathname === '/' ? 'index.html' : pathname);
    if (!existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await openApp(`http://127.0.0.1:${server.address().port}/`);
  } finally {
    server.close();
  }
}

// the CLI's line names the model first; check() in the app is given bytes
const { file: _file, ...expected } = JSON.parse(native('check', model, '--json').stdout);

// the app ran: the .wasm came from the bundle (under its own name or a hashed one), and so did the worker
async function assertRuns(dir) {
  const files = readdirSync(dir, { recursive: true }).map(String);
  const wasm = files.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasm.length, 1, `one .wasm in the bundle: ${files.join(' ')}`);
  assert.ok(readFileSync(path.join(dir, wasm[0])).equals(readFileSync(path.join(pkg.installed, 'dist/onnx-cle.wasm'))));
  const ran = await runBundle(dir);
  assertRan(ran, `/${wasm[0].split(path.sep).join('/')}`);
  assert.ok(existsSync(path.join(dir, ran.workers[0])), `the worker script ${ran.workers[0]} is in the bundle`);
}

// checked on both threads as natively; the .wasm fetched from `wasmPath` by each (each instantiates its own)
function assertRan({ result, problems, fetched, workers }, wasmPath) {
  assert.equal(result.failure, undefined, result.failure);
  assert.deepEqual(problems, []);
  assert.deepEqual(result.main, expected);
  assert.deepEqual(result.worker, expected);
  assert.equal(fetched.filter((p) => p === wasmPath).length, 2, fetched.join(' '));
  assert.equal(workers.length, 1);
}

test("Vite's dev server, no config", async () => {
  // at the project's root, as users run it (first: the dev server scans the root's HTML files)
  const dir = project('.', { 'index.html': page('./app.js'), 'app.js': plainApp });
  mkdirSync(path.join(dir, 'public'));
  copyFileSync(model, path.join(dir, 'public/model.onnx'));
  const server = await createViteServer({ root: dir, configFile: false, logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false } });
  await server.listen();
  try {
    // its dependency optimizer pre-bundles onnx-cle and points the .wasm's URL back at the package
    assertRan(await openApp(server.resolvedUrls.local[0]), '/node_modules/onnx-cle/dist/onnx-cle.wasm');
  } finally {
    await server.close();
  }
});

test('Vite: vite build, no config', async () => {
  const dir = project('vite', { 'index.html': page('./app.js'), 'app.js': plainApp });
  await viteBuild({ root: dir, configFile: false, logLevel: 'error', build: { outDir: 'dist' } });
  await assertRuns(path.join(dir, 'dist'));
});

test('webpack 5: entry and output only', async () => {
  const dir = project('webpack', { 'src/index.js': plainApp, 'dist/index.html': page('main.js') });
  // what `webpack` does without a config file: src/index.js to dist/main.js
  const stats = await new Promise((resolve, reject) =>
    webpack({ mode: 'production', context: dir, entry: './src/index.js', output: { path: path.join(dir, 'dist') } },
      (e, s) => (e ? reject(e) : resolve(s))));
  assert.ok(!stats.hasErrors(), stats.toString('errors-only'));
  await assertRuns(path.join(dir, 'dist'));
});

test('Parcel 2: parcel build index.html, no config', async () => {
  const dir = project('parcel', { 'index.html': page('./app.js'), 'app.js': plainApp });
  const r = run(bin('parcel'), ['build', 'index.html', '--no-cache', '--no-source-maps', '--dist-dir', 'dist',
    '--cache-dir', path.join(dir, '.cache')], { cwd: dir });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  await assertRuns(path.join(dir, 'dist'));
});

// The README's recipe: one app for both, which hands the .wasm's URL and the worker script's to the package.
const explicitApp = () => `${readmeBlock('**Bundlers.**', 'js')}\n${probe}`;

test("esbuild: the README's command", async () => {
  const command = readmeBlock('**Bundlers.**', 'sh').trim().split(/\s+/);
  assert.equal(command[0], 'esbuild');
  const dir = project('esbuild', { 'app.js': explicitApp() });
  const r = run(bin('esbuild'), command.slice(1), { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(path.join(dir, 'public/index.html'), page('app.js'));
  await assertRuns(path.join(dir, 'public'));
});

test("Rollup 4: the README's rollup.config.mjs", async () => {
  const dir = project('rollup', { 'app.js': explicitApp(), 'rollup.config.mjs': readmeBlock('With Rollup 4', 'js') });
  linkFromRepo('@rollup/plugin-node-resolve', '@rollup/plugin-url');
  const r = run(bin('rollup'), ['-c'], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(path.join(dir, 'public/index.html'), page('app.js'));
  await assertRuns(path.join(dir, 'public'));
});
