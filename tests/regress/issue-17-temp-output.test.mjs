// Issue 17 (item 7): the temporary output `OUT.tmp-PID` had a name anyone
// could predict and was opened without O_EXCL or O_NOFOLLOW, so a link
// planted there had its target overwritten.  Now it is
// `.OUT.onnx-cle-PID-XXXXXX` in OUT's folder (six random letters and
// digits), created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, removed on
// any failure and on SIGINT, SIGTERM and SIGHUP; what a SIGKILLed run left
// is removed by the next run writing the same OUT once the PID in its name
// is gone.  Native and wasm alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, symlinkSync, lstatSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { nativeCli, wasmCli, realModels, native } from '../js/helpers.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-temp-'));
const clis = { native: [nativeCli], wasm: [process.execPath, wasmCli] };
const det = realModels['ppocr-det'];
const rec = realModels['ppocr-rec'];
const expected = (() => {
  const out = path.join(dir, 'expected.onnx');
  assert.equal(native('equalize', det, '-o', out).status, 0);
  return readFileSync(out);
})();

const start = (who, args) => {
  const [cmd, ...pre] = clis[who];
  return spawn(cmd, [...pre, ...args], { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
};
const finished = async (child) => {
  const [code, signal] = child.exitCode !== null || child.signalCode !== null
    ? [child.exitCode, child.signalCode] : await once(child, 'exit');
  return { code, signal };
};
const tempsOf = (folder, out) => readdirSync(folder).filter((f) => f.startsWith(`.${path.basename(out)}.onnx-cle-`));

test('a link planted at the old temporary name is never followed; the output is right', async () => {
  for (const who of Object.keys(clis)) {
    const folder = path.join(dir, `planted-${who}`);
    mkdirSync(folder);
    const victim = path.join(dir, `victim-${who}.txt`);
    writeFileSync(victim, 'precious');
    const out = path.join(folder, 'out.onnx');
    const child = start(who, ['equalize', det, '-o', out]);
    symlinkSync(victim, `${out}.tmp-${child.pid}`); // before it writes anything (the model takes a while)
    const { code } = await finished(child);
    assert.equal(code, 0, who);
    assert.equal(readFileSync(victim, 'utf8'), 'precious', `${who}: the link's target was written`);
    assert.ok(lstatSync(out).isFile(), `${who}: OUT is not a regular file`);
    assert.ok(readFileSync(out).equals(expected), `${who}: the output`);
    assert.deepEqual(tempsOf(folder, out), []);
  }
});

test('what a killed run left is removed by the next run writing the same OUT, and nothing else', () => {
  const dead = spawnSync('true').pid; // a process that has ended
  for (const who of Object.keys(clis)) {
    const folder = path.join(dir, `stale-${who}`);
    mkdirSync(folder);
    const victim = path.join(dir, `stale-victim-${who}.txt`);
    writeFileSync(victim, 'precious');
    const at = (name) => path.join(folder, name);
    writeFileSync(at(`.out.onnx.onnx-cle-${dead}-abcDEF`), 'left by a killed run');
    symlinkSync(victim, at(`.out.onnx.onnx-cle-${dead}-ghiJK9`));
    const kept = [
      `.out.onnx.onnx-cle-${process.pid}-mnoPQR`, // its run is alive (this test)
      `.out.onnx.onnx-cle-${dead}-abc`, // not the pattern
      `.out.onnx.onnx-cle-${dead}-abcDEF.bak`,
      `.other.onnx.onnx-cle-${dead}-abcDEF`, // another output's
      'out.onnx.tmp-1',
    ];
    for (const name of kept) writeFileSync(at(name), 'keep');
    mkdirSync(at(`.out.onnx.onnx-cle-${dead}-xyzXYZ`)); // not a file
    const [cmd, ...pre] = clis[who];
    const r = spawnSync(cmd, [...pre, 'equalize', det, '-o', at('out.onnx')]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(readdirSync(folder).sort(), [...kept, `.out.onnx.onnx-cle-${dead}-xyzXYZ`, 'out.onnx'].sort(), who);
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
  }
});

/**
 * Starts an equalize and stops it (SIGSTOP) while its temporary output
 * exists; returns { child, temps } or null when the run ended first.
 */
function stoppedWhileWriting(who, out) {
  const folder = path.dirname(out);
  const child = start(who, ['equalize', rec, '-o', out, '--iterations=1']);
  const deadline = Date.now() + 60000;
  while (Date.now() < deadline && !existsSync(out)) {
    if (tempsOf(folder, out).length > 0) {
      process.kill(child.pid, 'SIGSTOP');
      const temps = tempsOf(folder, out); // looked at again with the process stopped
      if (temps.length > 0) return { child, temps };
      process.kill(child.pid, 'SIGCONT');
    }
  }
  return { child, temps: null };
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  test(`${signal} while the output is being written: the temporary file goes, the process ends of the signal`, async () => {
    for (const who of Object.keys(clis)) {
      let caught = false;
      for (let attempt = 0; attempt < 10 && !caught; attempt++) {
        const folder = path.join(dir, `${signal}-${who}-${attempt}`);
        mkdirSync(folder);
        const out = path.join(folder, 'out.onnx');
        const { child, temps } = stoppedWhileWriting(who, out);
        if (temps === null) { // it finished before we saw it writing: try again
          await finished(child);
          continue;
        }
        caught = true;
        let mode;
        try {
          assert.equal(temps.length, 1);
          assert.match(temps[0], new RegExp(`^\\.out\\.onnx\\.onnx-cle-${child.pid}-[A-Za-z0-9]{6}$`));
          mode = statSync(path.join(folder, temps[0])).mode & 0o777;
        } finally {
          process.kill(child.pid, signal); // even when an assertion failed: no process is left stopped
          process.kill(child.pid, 'SIGCONT');
        }
        // 0600 while written; the final mode is set just before the rename, where the stop may land
        assert.ok(mode === 0o600 || mode === (0o666 & ~process.umask()), `${who}: mode ${mode.toString(8)}`);
        const { code, signal: got } = await finished(child);
        assert.equal(got, signal, `${who}: exit ${code}, signal ${got}`);
        assert.deepEqual(readdirSync(folder), [], `${who}: left behind`);
      }
      assert.ok(caught, `${who}: never saw the temporary file in 10 runs`);
    }
  });
}
