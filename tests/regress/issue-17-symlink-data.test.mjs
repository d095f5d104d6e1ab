// Issue 17 (item 6): a symbolic link in the model's folder pointing outside
// it was followed: with the data file linked to a file elsewhere, equalize
// exited 0 and its output's data held that file's bytes.  "External data is
// never read from outside the model's folder" now holds for the resolved
// path (realpath of the file inside realpath of the folder), in the native
// and the wasm CLI alike.  (The Node API reads no side files: the caller
// hands them over in externalData.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, writeFileSync, symlinkSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, wasm, nativeCli, wasmCli, run, fixture } from '../js/helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-links-'));
const data = readFileSync(fixture('external.onnx.data'));
const outside = path.join(dir, 'outside');
mkdirSync(outside);
writeFileSync(path.join(outside, 'secret.data'), data); // bytes the model would accept
writeFileSync(path.join(outside, 'external.onnx.da'), data);

/** A folder holding external.onnx, and links made by links(folder). */
function folderWith(name, links, model = readFileSync(fixture('external.onnx'))) {
  const folder = path.join(dir, name);
  mkdirSync(folder);
  writeFileSync(path.join(folder, 'external.onnx'), model);
  links(folder);
  return folder;
}

// The same model whose tensor lives at 'd/external.onnx.da' (a location of
// the same length, so the protobuf lengths hold): a file in a subfolder.
function inSubfolder() {
  const bytes = readFileSync(fixture('external.onnx'));
  const from = Buffer.from('external.onnx.data');
  const to = Buffer.from('d/external.onnx.da');
  const at = bytes.indexOf(from);
  assert.ok(at > 0 && bytes.indexOf(from, at + 1) < 0, 'one location in the model');
  to.copy(bytes, at);
  return bytes;
}

function outsideRefused(folder, dataPath) {
  const model = path.join(folder, 'external.onnx');
  const want = `onnx-cle: ${model}: external data file ${dataPath} leads outside the model's folder through a symbolic link\n`;
  const out = path.join(folder, 'out.onnx');
  for (const [who, cli] of [['native', native], ['wasm', wasm]]) {
    for (const args of [['info', model, '--json'], ['equalize', model, '-o', out]]) {
      const r = cli(...args);
      assert.equal(r.status, 2, `${who} ${args[0]}: exit ${r.status}, ${r.stderr}`);
      assert.equal(r.stderr, want, who);
      assert.equal(r.stdout.length, 0);
      assert.ok(!existsSync(out), `${who}: an output was written`);
      assert.ok(!existsSync(`${out}.data`), `${who}: a data file was written`);
    }
  }
}

test('a data file linked to a file outside the folder is refused, native and wasm alike', () => {
  const folder = folderWith('file-link', (f) => symlinkSync(path.join(outside, 'secret.data'), path.join(f, 'external.onnx.data')));
  outsideRefused(folder, path.join(folder, 'external.onnx.data'));
  const relative = folderWith('relative-link', (f) => symlinkSync('../outside/secret.data', path.join(f, 'external.onnx.data')));
  outsideRefused(relative, path.join(relative, 'external.onnx.data'));
  const system = folderWith('passwd-link', (f) => symlinkSync('/etc/passwd', path.join(f, 'external.onnx.data')));
  outsideRefused(system, path.join(system, 'external.onnx.data'));
});

test('a subfolder linked outside is refused too; a real subfolder works', () => {
  const linked = folderWith('dir-link', (f) => symlinkSync(outside, path.join(f, 'd')), inSubfolder());
  outsideRefused(linked, path.join(linked, 'd/external.onnx.da'));
  const real = folderWith('real-subfolder', (f) => {
    mkdirSync(path.join(f, 'd'));
    writeFileSync(path.join(f, 'd/external.onnx.da'), data);
  }, inSubfolder());
  for (const cli of [native, wasm]) {
    const r = cli('info', path.join(real, 'external.onnx'), '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).external_tensor_count, 1);
  }
});

test('links that stay inside the folder, and a folder reached through a link, still work', () => {
  const folder = folderWith('inside-link', (f) => {
    writeFileSync(path.join(f, 'weights.bin'), data);
    symlinkSync('weights.bin', path.join(f, 'external.onnx.data'));
  });
  const via = path.join(dir, 'via');
  symlinkSync(folder, via); // the model's folder named through a link: its data is inside it all the same
  const outs = [];
  for (const [who, cli] of [['native', native], ['wasm', wasm]]) {
    for (const model of [path.join(folder, 'external.onnx'), path.join(via, 'external.onnx')]) {
      const out = path.join(dir, `out-${who}-${outs.length}.onnx`);
      const r = cli('equalize', model, '-o', out, '--no-hbf');
      assert.equal(r.status, 0, `${who}: ${r.stderr}`);
      outs.push(readFileSync(`${out}.data`));
    }
  }
  for (const o of outs) assert.deepEqual(o, outs[0]);
  // the model named without a folder: its folder is the working directory
  for (const [cmd, args] of [[nativeCli, []], [process.execPath, [wasmCli]]]) {
    const r = run(cmd, [...args, 'info', 'external.onnx', '--json'], { cwd: folder });
    assert.equal(r.status, 0, r.stderr);
    const bad = run(cmd, [...args, 'info', 'external.onnx', '--json'], { cwd: path.join(dir, 'file-link') });
    assert.equal(bad.stderr, "onnx-cle: external.onnx: external data file external.onnx.data leads outside the model's folder through a symbolic link\n");
  }
  assert.ok(readdirSync(folder).every((f) => !f.includes('onnx-cle')));
});
