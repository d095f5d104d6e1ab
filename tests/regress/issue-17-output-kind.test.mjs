// Issue 17 (item 8): `-o /dev/full` as root replaced the device with a
// regular file: the output was renamed over whatever OUT was.  Now an OUT
// that exists and is not a regular file (device, FIFO, folder, socket) is
// refused with a sentence before any work, and so is such a file where the
// external data goes; an OUT that is a regular file keeps its mode (a 0600
// output stays 0600), a new one gets 0666 less the umask.  Native and wasm
// alike, and no partial output is left.  (No /dev node is used here: before
// the fix a run as root would have replaced it.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, statSync, readdirSync, chmodSync, readFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { nativeCli, wasmCli, run, fixture } from '../js/helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-outkind-'));
const clis = { native: (...a) => run(nativeCli, a, { timeout: 60000 }), wasm: (...a) => run(process.execPath, [wasmCli, ...a], { timeout: 60000 }) };
const model = fixture('conv_relu.onnx');
const external = fixture('vgg_like_external.onnx');

const kind = (file) => {
  const st = lstatSync(file);
  return st.isFIFO() ? 'fifo' : st.isDirectory() ? 'dir' : st.isSocket() ? 'socket' : st.isCharacterDevice() ? 'chr' : st.isFile() ? 'file' : '?';
};

/** Every name in folder but those given, which should be all there is. */
const leftovers = (folder, expected) => readdirSync(folder).filter((f) => !expected.includes(f));

test('an OUT that is a FIFO, a folder, a socket or a device is refused before any work and left as it was', async () => {
  const folder = path.join(dir, 'kinds');
  mkdirSync(folder);
  const fifo = path.join(folder, 'fifo.onnx');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const sub = path.join(folder, 'sub.onnx');
  mkdirSync(sub);
  const sock = path.join(folder, 'sock.onnx');
  const server = net.createServer().listen(sock);
  await new Promise((resolve) => server.once('listening', resolve));
  const cases = [[fifo, 'a pipe', 'fifo'], [sub, 'a folder', 'dir'], [sock, 'a socket', 'socket']];
  // a device node of our own (a copy of /dev/null's numbers), where we may make one
  const dev = path.join(folder, 'null.onnx');
  if (spawnSync('mknod', [dev, 'c', '1', '3']).status === 0) cases.push([dev, 'a device', 'chr']);
  try {
    for (const [out, what, was] of cases) {
      const outputs = {};
      for (const [who, cli] of Object.entries(clis)) {
        // a model that does not load: the refusal must come before reading it
        const r = cli('equalize', path.join(dir, 'no-such-model.onnx'), '-o', out);
        assert.equal(r.status, 2, `${who} ${what}: ${r.stderr}`);
        assert.equal(r.stderr, `onnx-cle: cannot write ${out}: it is ${what}, not a regular file\n`, who);
        assert.equal(r.stdout.length, 0);
        const good = cli('equalize', model, '-o', out);
        assert.equal(good.status, 2, `${who} ${what}: ${good.stderr}`);
        outputs[who] = good.stderr;
        assert.equal(kind(out), was, `${who}: ${out} was replaced`);
      }
      assert.equal(outputs.wasm, outputs.native);
    }
  } finally {
    server.close();
  }
  assert.deepEqual(leftovers(folder, ['fifo.onnx', 'sub.onnx', 'sock.onnx', 'null.onnx']), []);
});

test('where the external data goes is a FIFO or a folder: refused, and no model without its data', () => {
  for (const [name, make, what] of [['fifo', (f) => spawnSync('mkfifo', [f]), 'a pipe'], ['dir', (f) => mkdirSync(f), 'a folder']]) {
    const folder = path.join(dir, `data-${name}`);
    mkdirSync(folder);
    const out = path.join(folder, 'out.onnx');
    make(`${out}.data`);
    const said = {};
    for (const [who, cli] of Object.entries(clis)) {
      const r = cli('equalize', external, '-o', out, '--no-hbf');
      assert.equal(r.status, 2, `${who}: ${r.stderr}`);
      assert.equal(r.stderr, `onnx-cle: ${external}: cannot write ${out}.data: it is ${what}, not a regular file\n`);
      said[who] = r.stderr;
      assert.deepEqual(readdirSync(folder), ['out.onnx.data'], `${who}: something was left`);
    }
    assert.equal(said.wasm, said.native);
  }
});

test('a regular OUT keeps its mode; a new OUT gets 0666 less the umask; the data file likewise', () => {
  const folder = path.join(dir, 'modes');
  mkdirSync(folder);
  const umask = process.umask();
  for (const [who, cli] of Object.entries(clis)) {
    const kept = path.join(folder, `kept-${who}.onnx`);
    writeFileSync(kept, 'old');
    chmodSync(kept, 0o600);
    writeFileSync(`${kept}.data`, 'old');
    chmodSync(`${kept}.data`, 0o640);
    let r = cli('equalize', external, '-o', kept, '--no-hbf');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(kept).mode & 0o7777, 0o600, `${who}: the model's mode`);
    assert.equal(statSync(`${kept}.data`).mode & 0o7777, 0o640, `${who}: the data's mode`);
    assert.notEqual(readFileSync(kept, 'utf8'), 'old');

    const open = path.join(folder, `open-${who}.onnx`);
    writeFileSync(open, 'old');
    chmodSync(open, 0o664);
    assert.equal(cli('equalize', model, '-o', open).status, 0);
    assert.equal(statSync(open).mode & 0o7777, 0o664, `${who}: 0664 kept`);

    const fresh = path.join(folder, `new-${who}.onnx`);
    r = cli('equalize', external, '-o', fresh, '--no-hbf');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(fresh).mode & 0o7777, 0o666 & ~umask, `${who}: a new model's mode`);
    assert.equal(statSync(`${fresh}.data`).mode & 0o7777, 0o666 & ~umask, `${who}: a new data file's mode`);
  }
  assert.deepEqual(readdirSync(folder).filter((f) => f.startsWith('.')), []);
});
