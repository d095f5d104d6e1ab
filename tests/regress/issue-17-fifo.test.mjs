// Issue 17 (item 5): the native build hung when a model or its external
// data file was a FIFO: fopen() waits for a writer before the fstat() that
// would have refused it.  Now anything that is not a regular file is
// refused by its kind before it is opened (and opened without waiting), in
// one sentence, exit 2, the same bytes from the native and the wasm CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { nativeCli, wasmCli, fixture, run } from '../js/helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-fifo-'));
const mkfifo = (file) => assert.equal(spawnSync('mkfifo', [file]).status, 0);

// a hang is the bug: give each run 20 s
const clis = { native: (...a) => run(nativeCli, a, { timeout: 20000 }), wasm: (...a) => run(process.execPath, [wasmCli, ...a], { timeout: 20000 }) };

/** Runs args on both CLIs: exit 2, nothing on stdout, stderr as `want`, the same on both. */
function refused(args, want) {
  const got = {};
  for (const [who, cli] of Object.entries(clis)) {
    const r = cli(...args);
    assert.notEqual(r.status, null, `${who} ${args.join(' ')}: still running after 20 s`);
    assert.equal(r.status, 2, `${who}: ${r.stderr}`);
    assert.equal(r.stdout.length, 0, who);
    assert.equal(r.stderr, want, who);
    got[who] = r.stderr;
  }
  assert.equal(got.wasm, got.native);
}

test('external data that is a FIFO: refused with a sentence, no hang, no output', () => {
  const folder = path.join(dir, 'data-fifo');
  mkdirSync(folder);
  copyFileSync(fixture('external.onnx'), path.join(folder, 'external.onnx'));
  const data = path.join(folder, 'external.onnx.data');
  mkfifo(data);
  const model = path.join(folder, 'external.onnx');
  const want = `onnx-cle: ${model}: ${data} is a pipe, not a regular file\n`;
  refused(['info', model], want);
  refused(['check', model, '--json'], want);
  refused(['equalize', model, '-o', path.join(folder, 'out.onnx')], want);
  assert.deepEqual(readdirSync(folder).sort(), ['external.onnx', 'external.onnx.data']);
});

test('a model that is a FIFO, a folder, a device or a socket: refused by what it is', async () => {
  const fifo = path.join(dir, 'model-fifo.onnx');
  mkfifo(fifo);
  refused(['info', fifo], `onnx-cle: ${fifo} is a pipe, not a regular file\n`);
  refused(['info', dir], `onnx-cle: ${dir} is a folder, not a regular file\n`); // check takes folders (issue 18)
  refused(['info', '/dev/zero'], 'onnx-cle: /dev/zero is a device, not a regular file\n');
  const sock = path.join(dir, 'model.sock');
  const server = net.createServer().listen(sock);
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    refused(['info', sock], `onnx-cle: ${sock} is a socket, not a regular file\n`);
  } finally {
    server.close();
  }
});

test('a link to a FIFO is refused as the FIFO it leads to', () => {
  const folder = path.join(dir, 'data-link');
  mkdirSync(folder);
  copyFileSync(fixture('external.onnx'), path.join(folder, 'external.onnx'));
  mkfifo(path.join(folder, 'pipe'));
  assert.equal(spawnSync('ln', ['-s', 'pipe', path.join(folder, 'external.onnx.data')]).status, 0);
  refused(['info', path.join(folder, 'external.onnx')],
    `onnx-cle: ${path.join(folder, 'external.onnx')}: ${path.join(folder, 'external.onnx.data')} is a pipe, not a regular file\n`);
});
