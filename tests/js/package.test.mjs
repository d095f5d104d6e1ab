// The npm package as users install it: `npm pack`, installed from the
// tarball into a temporary project, then used from there: ESM and CommonJS
// imports, the bin, the types (tsc), publint, and the README's example.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { publint } from 'publint';
import { native, nativeCli, run, realModels, fixture } from './helpers.mjs';
import { installPacked, readmeBlock, bin } from './pack.mjs';

const pkg = installPacked();
after(() => rmSync(pkg.dir, { recursive: true, force: true }));
const det = realModels['ppocr-det'];
const node = (file, opts = {}) => run(process.execPath, [file], { cwd: pkg.dir, ...opts });
const write = (name, text) => {
  const file = path.join(pkg.dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
};
const checkMissing = (stderr) => /unknown request 'check'/.test(stderr);

test('the tarball holds what users need and nothing else', () => {
  assert.deepEqual(pkg.files.sort(), [
    'LICENSE', 'README.md', 'bench/QUALITY.md', 'bench/RESULTS.md', 'bin/onnx-cle.js', 'dist/onnx-cle.wasm',
    'docs/check-schema.md', 'examples/README.md', 'package.json',
    'wasm/api.js', 'wasm/bias.js', 'wasm/core.js', 'wasm/graph.js', 'wasm/index.d.ts', 'wasm/index.js', 'wasm/index.node.js', 'wasm/node.js',
    'wasm/onnx-cle.wasm.d.ts', 'wasm/onnx-proto.js', 'wasm/quant.js', 'wasm/sample.js', 'wasm/tune.js', 'wasm/verify.js',
    'wasm/worker-protocol.js', 'wasm/worker-script.d.ts', 'wasm/worker-script.js', 'wasm/worker-script.node.js',
    'wasm/worker.d.ts', 'wasm/worker.js', 'wasm/worker.node.js',
  ]);
  const meta = JSON.parse(readFileSync(path.join(pkg.installed, 'package.json'), 'utf8'));
  assert.equal(meta.type, 'module');
  // only the worker scripts run anything when imported (so `import 'onnx-cle/worker-script'` is kept)
  assert.deepEqual(meta.sideEffects, ['./wasm/worker-script.js', './wasm/worker-script.node.js']);
  assert.equal(meta.bin['onnx-cle'], 'bin/onnx-cle.js');
  assert.equal(meta.engines.node, '>=18');
  assert.equal(meta.dependencies, undefined);
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
    assert.equal(meta.scripts?.[hook], undefined, `no ${hook} script`);
  assert.deepEqual(Object.keys(meta.exports['.']), ['types', 'node', 'browser', 'default']);
  assert.deepEqual(Object.keys(meta.exports['./worker']), ['types', 'node', 'browser', 'default']);
  assert.deepEqual(meta.exports['./onnx-cle.wasm'], { types: './wasm/onnx-cle.wasm.d.ts', default: './dist/onnx-cle.wasm' });
  // for bundlers that read no `exports` (Parcel 2 unless told to): the browser files by the old fields
  assert.equal(meta.module, './wasm/index.js');
  assert.equal(meta.main, './wasm/index.node.js');
  for (const sub of ['./worker', './worker-script', './onnx-cle.wasm'])
    assert.equal(meta.browser[sub], meta.exports[sub].browser ?? meta.exports[sub].default, sub);
  assert.ok(readFileSync(path.join(pkg.installed, 'dist/onnx-cle.wasm')).length > 10000);
});

// GitHub's anchor for a heading
const slug = (heading) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

test('every link in the shipped docs works in the tarball: files shipped, anchors defined', () => {
  const docs = pkg.files.filter((f) => f.endsWith('.md'));
  assert.ok(docs.includes('README.md') && docs.includes('docs/check-schema.md'));
  let links = 0;
  for (const doc of docs) {
    const text = readFileSync(path.join(pkg.installed, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
    const anchors = new Set([...text.matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1])));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      links++;
      if (/^[a-z]+:/.test(target)) continue; // absolute
      const [file, anchor] = target.split('#');
      if (file) assert.ok(pkg.files.includes(path.posix.join(path.posix.dirname(doc), file)), `${doc}: ${target} is not in the tarball`);
      else assert.ok(anchors.has(anchor), `${doc}: no heading for #${anchor}`);
    }
  }
  assert.ok(links >= 8, `${links} links`);
});

test('publint --strict: no errors, no warnings', async () => {
  const tarball = readFileSync(pkg.tarball);
  const { messages } = await publint({
    pkgDir: 'package', // the folder inside the tarball
    pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.length) },
    level: 'suggestion',
    strict: true,
  });
  // one suggestion, kept on purpose: the `browser` field that Parcel 2 reads where it ignores `exports`
  assert.deepEqual(messages.map((m) => [m.type, m.code, m.path.join('.')]),
    [['suggestion', 'USE_EXPORTS_OR_IMPORTS_BROWSER', 'browser']]);
});

test('ESM in Node: import, equalize and check a real model', () => {
  copyFileSync(det, path.join(pkg.dir, 'det.onnx'));
  const file = write('esm.mjs', `
import { readFile, writeFile } from 'node:fs/promises';
import { info, check, equalize, OnnxCleError } from 'onnx-cle';
const bytes = await readFile('det.onnx');
const { model, report } = await equalize(bytes, { pow2Scales: true, relu6: 'skip' });
await writeFile('det.cle.onnx', model);
let checked = null;
try { checked = await check(bytes); } catch (e) { if (!(e instanceof OnnxCleError)) throw e; checked = e.message; }
console.log(JSON.stringify({ info: await info(bytes), report, checked }));
`);
  const r = node(file);
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  const out = path.join(pkg.dir, 'native.onnx');
  const cli = native('equalize', det, '-o', out, '--json', '--pow2-scales', '--relu6=skip');
  assert.deepEqual(got.report, JSON.parse(cli.stdout));
  assert.ok(readFileSync(path.join(pkg.dir, 'det.cle.onnx')).equals(readFileSync(out)));
  assert.deepEqual(got.info, JSON.parse(native('info', det, '--json').stdout));
  if (!checkMissing(String(got.checked))) {
    const { file, ...printed } = JSON.parse(native('check', det, '--json').stdout); // the CLI's line names the model
    assert.equal(file, det);
    assert.deepEqual(got.checked, printed);
  }
});

test('CommonJS: await import() from a .cjs file', () => {
  const file = write('common.cjs', `
const { readFileSync } = require('node:fs');
(async () => {
  const { info, equalize } = await import('onnx-cle');
  const { createWorker } = await import('onnx-cle/worker');
  const bytes = readFileSync(${JSON.stringify(fixture('vgg_like_bn.onnx'))});
  const a = await equalize(bytes);
  const worker = createWorker();
  const b = await worker.equalize(new Uint8Array(bytes));
  worker.terminate();
  console.log(JSON.stringify({ nodes: (await info(bytes)).node_count, same: Buffer.compare(a.model, b.model) === 0,
    layers: b.report.totals.layers }));
})();
`);
  const r = node(file);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { nodes: 20, same: true, layers: 6 });
});

test('the bin prints exactly what the native CLI prints', () => {
  const cli = path.join(pkg.dir, 'node_modules/.bin/onnx-cle');
  assert.ok(existsSync(cli));
  const a = path.join(pkg.dir, 'a.onnx');
  const b = path.join(pkg.dir, 'b.onnx');
  const cases = [
    ['info', det, '--json'],
    ['info', det],
    ['info', realModels['silero-v5'], '--json'],
    ['--help'],
    ['--version'],
    ['info', path.join(pkg.dir, 'nope.onnx')],
    ['info', det, '--bogus'],
    ['equalize', det, '--iterations=0', '-o', a],
    [],
  ];
  for (const args of cases) {
    const want = native(...args);
    const got = run(cli, args, { cwd: pkg.dir });
    assert.equal(got.status, want.status, args.join(' '));
    assert.deepEqual(got.stdout, want.stdout, args.join(' '));
    assert.equal(got.stderr, want.stderr, args.join(' '));
  }
  for (const extra of [['--json'], ['--no-hbf', '--json'], []]) {
    const want = native('equalize', det, '-o', a, ...extra);
    const got = run(cli, ['equalize', det, '-o', b, ...extra], { cwd: pkg.dir });
    assert.equal(got.status, want.status);
    assert.equal(got.stdout.toString(), want.stdout.toString().replaceAll(a, b));
    assert.ok(readFileSync(a).equals(readFileSync(b)), extra.join(' '));
  }
});

// The value exports a .d.ts declares (types and interfaces are not values).
function declaredValues(dts) {
  const names = new Set();
  for (const m of dts.matchAll(/^export declare (?:function|class|const|let) (\w+)/gm)) names.add(m[1]);
  for (const m of dts.matchAll(/^export \{([^}]*)\} from/gm))
    for (const n of m[1].split(',')) if (n.trim()) names.add(n.trim().split(/\s+as\s+/).pop());
  return [...names].sort();
}

test('the .d.ts files declare exactly what each entry point exports', async () => {
  const entries = [
    ['index.d.ts', ['index.node.js', 'index.js']],
    ['worker.d.ts', ['worker.node.js', 'worker.js']],
  ];
  for (const [dts, files] of entries) {
    const declared = declaredValues(readFileSync(path.join(pkg.installed, 'wasm', dts), 'utf8'));
    assert.ok(declared.length >= 2, dts);
    for (const file of files) {
      const mod = await import(path.join(pkg.installed, 'wasm', file));
      assert.deepEqual(Object.keys(mod).sort(), declared, `${file} against ${dts}`);
    }
  }
  assert.deepEqual(declaredValues(readFileSync(path.join(pkg.installed, 'wasm/worker-script.d.ts'), 'utf8')), []);
  // and the exports map sends Node to the Node files
  const file = write('resolve.mjs', `console.log(JSON.stringify([import.meta.resolve('onnx-cle'),
    import.meta.resolve('onnx-cle/worker'), import.meta.resolve('onnx-cle/onnx-cle.wasm')]));`);
  const r = node(file);
  assert.equal(r.status, 0, r.stderr);
  const [main, worker, wasm] = JSON.parse(r.stdout);
  assert.match(main, /onnx-cle\/wasm\/index\.node\.js$/);
  assert.match(worker, /onnx-cle\/wasm\/worker\.node\.js$/);
  assert.match(wasm, /onnx-cle\/dist\/onnx-cle\.wasm$/);
});

test('a TypeScript consumer type-checks (tsc --noEmit), as Node and as a bundler resolve', () => {
  write('ts/consumer.ts', readFileSync(new URL('./consumer.ts', import.meta.url), 'utf8'));
  const base = { strict: true, noEmit: true, target: 'es2022', lib: ['es2022', 'dom'], types: [], skipLibCheck: false };
  const configs = {
    'tsconfig.node.json': { ...base, module: 'nodenext', moduleResolution: 'nodenext' },
    'tsconfig.bundler.json': { ...base, module: 'esnext', moduleResolution: 'bundler' },
  };
  for (const [name, compilerOptions] of Object.entries(configs)) {
    write(`ts/${name}`, JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    const r = run(bin('tsc'), ['--noEmit', '-p', name], { cwd: path.join(pkg.dir, 'ts') });
    assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
  }
  // and it does check: a wrong use is an error
  write('ts/wrong.ts', "import { equalize } from 'onnx-cle';\nexport const n: number = equalize;\n");
  write('ts/tsconfig.wrong.json', JSON.stringify({ compilerOptions: configs['tsconfig.node.json'], files: ['wrong.ts'] }));
  const r = run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.wrong.json'], { cwd: path.join(pkg.dir, 'ts') });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout.toString(), /TS2322/);
});

test('arethetypeswrong: every entry point typed for node10, node16 and bundlers; ESM only, by design', () => {
  const r = run(bin('attw'), [pkg.tarball, '--format', 'json']);
  const { analysis } = JSON.parse(r.stdout);
  const entries = ['.', './worker', './worker-script', './onnx-cle.wasm'];
  assert.deepEqual(Object.keys(analysis.entrypoints).sort(), [...entries, './package.json'].sort());
  // the one problem: require() of the package is an error (Node 18 has no require(esm)): CommonJS uses import()
  assert.deepEqual(analysis.problems, entries.map((entrypoint) =>
    ({ kind: 'CJSResolvesToESM', entrypoint, resolutionKind: 'node16-cjs' })));
  const clean = run(bin('attw'), [pkg.tarball, '--ignore-rules', 'cjs-resolves-to-esm']);
  assert.equal(clean.status, 0, clean.stdout.toString());
});

test("README's opening commands run as written, and print what the native CLI prints", () => {
  const lines = readmeBlock('From a shell,', 'sh').split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  assert.ok(lines.length >= 2);
  copyFileSync(det, path.join(pkg.dir, 'model.onnx'));
  for (const line of lines) {
    const [npx, name, ...args] = line.split(/\s+/);
    assert.deepEqual([npx, name], ['npx', 'onnx-cle'], line);
    // npx runs the installed bin (offline: nothing is fetched); the native CLI writes elsewhere
    const got = run('npx', ['--offline', 'onnx-cle', ...args], { cwd: pkg.dir });
    const o = args.indexOf('-o') + 1;
    const want = run(nativeCli, args.map((a, i) => (o && i === o ? `native-${a}` : a)), { cwd: pkg.dir });
    assert.ok(got.status === 0 || (args[0] === 'check' && got.status === 1), `${line}: ${got.stderr}`);
    assert.equal(got.status, want.status, line);
    assert.equal(got.stdout.toString(), want.stdout.toString().replaceAll('native-', ''), line);
    if (o) assert.ok(readFileSync(path.join(pkg.dir, args[o])).equals(readFileSync(path.join(pkg.dir, `native-${args[o]}`))));
  }
});

test("README's opening example (Node) runs as written", (t) => {
  const example = readmeBlock('## Install and use', 'js');
  assert.ok(example.trim().split('\n').length <= 12, 'the example stays short');
  copyFileSync(det, path.join(pkg.dir, 'model.onnx'));
  const r = node(write('readme-example.mjs', example));
  if (r.status !== 0 && checkMissing(r.stderr)) return t.skip("the C library does not answer 'check' yet");
  assert.equal(r.status, 0, r.stderr);
  const out = path.join(pkg.dir, 'native.cle.onnx');
  const cli = native('equalize', det, '-o', out, '--pow2-scales', '--json');
  const { totals } = JSON.parse(cli.stdout);
  assert.match(r.stdout.toString(), new RegExp(`equalized ${totals.equalized} of ${totals.layers} layers`));
  assert.ok(readFileSync(path.join(pkg.dir, 'model.cle.onnx')).equals(readFileSync(out)));
});
