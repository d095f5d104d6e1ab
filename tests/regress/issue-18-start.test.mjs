// Issue 18 (item 8): `npm start` installed python3-torch and torchvision just
// to serve the page, and failed in a checkout that was moved or copied (the
// CMake cache kept the old path).  Now it installs only what serving needs
// (scripts/bootstrap.sh serve), builds only the WebAssembly module, and
// scripts/build.sh configures again a build folder whose cache names another
// checkout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync, readFileSync, existsSync, statSync, cpSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { root } from '../js/helpers.mjs';

/** Runs scripts/bootstrap.sh with args where apt knows no package is installed: what it would install. */
function bootstrap(...args) {
  const bin = mkdtempSync(path.join(tmpdir(), 'onnx-cle-apt-'));
  const log = path.join(bin, 'log');
  const fake = (name, body) => {
    writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  fake('dpkg-query', 'exit 1'); // nothing installed
  fake('apt-get', `echo "apt-get $*" >> '${log}'`);
  fake('sudo', '"$@"');
  fake('npm', `echo "npm $*" >> '${log}'`); // npm ls succeeds: node_modules is as the lock says
  const r = spawnSync('sh', [path.join(root, 'scripts/bootstrap.sh'), ...args],
    { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
  const calls = existsSync(log) ? readFileSync(log, 'utf8') : '';
  rmSync(bin, { recursive: true, force: true });
  const install = calls.split('\n').find((l) => l.startsWith('apt-get install')) || '';
  return { status: r.status, stdout: r.stdout, calls, packages: install.split(/\s+/).filter((w) => !w.startsWith('-')).slice(2) };
}

test('npm start installs what serving the page needs, and nothing for the tests', () => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.scripts.start, 'sh scripts/start.sh');
  const start = readFileSync(path.join(root, 'scripts/start.sh'), 'utf8');
  assert.match(start, /^sh scripts\/bootstrap\.sh serve$/m);
  assert.match(start, /^sh scripts\/build\.sh wasm$/m);

  const serve = bootstrap('serve');
  assert.equal(serve.status, 0);
  assert.deepEqual(serve.packages.sort(), ['cmake', 'emscripten', 'make', 'protobuf-c-compiler']);
  const all = bootstrap();
  for (const p of ['python3-torch', 'python3-torchvision', 'python3-onnx', 'chromium', 'clang', 'gcc', ...serve.packages])
    assert.ok(all.packages.includes(p), p);
  // --check installs nothing and says what is missing
  const check = bootstrap('serve', '--check');
  assert.equal(check.status, 1);
  assert.match(check.stdout, /missing apt packages: cmake make emscripten protobuf-c-compiler/);
  assert.doesNotMatch(check.calls, /apt-get/);
  assert.equal(bootstrap('bogus').status, 2);
});

test('a moved or copied checkout builds: the stale CMake cache is configured again', (t) => {
  const cache = path.join(root, 'build/wasm/CMakeCache.txt');
  assert.ok(existsSync(cache), 'the checkout has a configured build/wasm');
  const copy = mkdtempSync(path.join(tmpdir(), 'onnx-cle-moved-'));
  t.after(() => rmSync(copy, { recursive: true, force: true }));
  const files = spawnSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  assert.equal(files.status, 0, 'git ls-files');
  for (const f of files.stdout.split('\0').filter(Boolean)) {
    mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
    cpSync(path.join(root, f), path.join(copy, f));
  }
  // the build folder as a copy of the checkout would carry it
  cpSync(path.join(root, 'build/wasm'), path.join(copy, 'build/wasm'), { recursive: true });
  symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  const before = statSync(path.join(root, 'dist/onnx-cle.wasm')).mtimeMs;

  const r = spawnSync('sh', ['scripts/build.sh', 'wasm'], { cwd: copy, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const real = spawnSync('pwd', ['-P'], { cwd: root, encoding: 'utf8' }).stdout.trim();
  assert.match(r.stdout, new RegExp(`build: build/wasm was configured in ${real.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; configuring it again here`));
  // the module is written into the copy, never into the checkout it came from
  assert.ok(statSync(path.join(copy, 'dist/onnx-cle.wasm')).size > 100000);
  assert.equal(statSync(path.join(root, 'dist/onnx-cle.wasm')).mtimeMs, before);
  assert.match(readFileSync(path.join(copy, 'build/wasm/CMakeCache.txt'), 'utf8'),
    new RegExp(`^CMAKE_HOME_DIRECTORY:INTERNAL=${spawnSync('pwd', ['-P'], { cwd: copy, encoding: 'utf8' }).stdout.trim()}$`, 'm'));
});
