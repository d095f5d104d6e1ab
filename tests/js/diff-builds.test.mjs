// The native and the WebAssembly builds give the same answer — exit status,
// stdout, stderr and the files written, byte for byte — for every input
// (issue 17): the tiny seeds of tests/fuzz/make_seeds.py and the issue 17
// regression inputs, each through info, check and equalize with several sets
// of options (scripts/diff-builds.mjs; run it on a whole fuzz corpus with
// `node scripts/diff-builds.mjs build/fuzz/corpus`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from './helpers.mjs';
import { COMMANDS, diffBuilds, difference, listInputs } from '../../scripts/diff-builds.mjs';

test('native and wasm answer alike on the tiny seeds and the issue 17 inputs', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-cle-seeds-'));
  try {
    const r = spawnSync('/usr/bin/python3', [path.join(root, 'tests/fuzz/make_seeds.py'), dir]);
    assert.equal(r.status, 0, String(r.stderr));
    const regress = fs.readdirSync(path.join(root, 'tests/regress'))
      .filter((n) => n.startsWith('issue-17-') && n.endsWith('.onnx'))
      .map((n) => path.join(root, 'tests/regress', n));
    const files = [...listInputs([dir]), ...regress];
    assert.ok(files.length >= 100, `only ${files.length} inputs`);
    const differences = [];
    const result = await diffBuilds(files, {
      report: (f, args, why) => differences.push(`${path.basename(f)}: onnx-cle ${args.join(' ')}: ${why}`),
    });
    assert.deepEqual(differences, [], `${differences.length} differences:\n${differences.join('\n')}`);
    assert.equal(result.runs, files.length * COMMANDS.length);
    // not a comparison of nothing: the seeds are refused, checked and equalized
    assert.ok(result.statuses.has(0) && result.statuses.size >= 2, `statuses ${[...result.statuses]}`);
    assert.ok(result.written >= 100, `only ${result.written} output files compared`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a difference in status, output or written bytes is found', () => {
  const answer = (over = {}) => ({ status: 0, stdout: Buffer.from('ok\n'), stderr: Buffer.alloc(0),
    files: { 'out.onnx': Buffer.from([1, 2, 3]) }, ...over });
  assert.equal(difference(answer(), answer()), null);
  assert.match(difference(answer(), answer({ status: 1 })), /exit status 0 \(native\) vs 1 \(wasm\)/);
  assert.match(difference(answer(), answer({ stdout: Buffer.from('ok.\n') })), /stdout differs at byte 2/);
  assert.match(difference(answer(), answer({ files: { 'out.onnx': Buffer.from([1, 2, 4]) } })), /out\.onnx differs/);
  assert.match(difference(answer(), answer({ files: {} })), /out\.onnx written by native only/);
});
