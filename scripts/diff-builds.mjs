#!/usr/bin/env node
// diff-builds.mjs — the native and the WebAssembly builds must answer alike:
// runs every model in the given folders (a fuzz corpus, say) through both
// CLIs — info, check and equalize, with several sets of options — and
// compares exit status, stdout, stderr and the files written, byte for byte.
//
//   node scripts/diff-builds.mjs [--limit N] [--spawn] [--keep DIR] [--wasm FILE] FOLDER|FILE...
//
// The native side is build/native/onnx-cle, one process per command (a
// model's commands run side by side, each in its own folder).  The
// wasm side is dist/onnx-cle.wasm's own command line (cle_cli, as
// bin/onnx-cle.js runs it) called in this process with a host that keeps
// outputs in memory, so thousands of commands take seconds; --spawn runs
// `node bin/onnx-cle.js` instead, the real thing, at ~0.1 s a command.  Each
// model is copied to a scratch folder as model.onnx beside a 64 KiB w.bin
// (the external data file tests/fuzz/make_seeds.py's models name, with the
// fuzz harness's values).  --limit N takes N files spread evenly over the
// sorted list.  --keep DIR copies each model that differs there.  --wasm FILE
// runs another build of the module (e.g. one made with -DCLE_WASM_SIMD=OFF).
// Exit status: 0 when every answer matches, 1 when one differs.
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeCli = path.join(root, 'build/native/onnx-cle');
const wasmCli = path.join(root, 'bin/onnx-cle.js');

// the commands each model goes through (model.onnx, out.onnx in the scratch folder)
export const COMMANDS = [
  ['info', 'model.onnx'],
  ['info', 'model.onnx', '--json'],
  ['check', 'model.onnx'],
  ['check', 'model.onnx', '--json'],
  ['check', 'model.onnx', '--sarif'],
  ['equalize', 'model.onnx', '-o', 'out.onnx', '--json'],
  ['equalize', 'model.onnx', '-o', 'out.onnx', '--objective=balance', '--batch-norm=keep', '--hbf',
    '--pow2-scales', '--relu6=relu', '--iterations=3', '--max-scale=100', '--json', '--ranges'],
  ['equalize', 'model.onnx', '-o', 'out.onnx', '--reference', '--inline-external'],
];
const OUTPUTS = ['out.onnx', 'out.onnx.data'];

/** tests/fuzz/fuzz_model.c's side file: 16384 float32 of mixed magnitude. */
export function sideFile() {
  const v = new Float32Array(16384);
  let x = 0x9e3779b9;
  for (let i = 0; i < v.length; i++) {
    const m = 2 ** (Math.floor(i / 7) % 16) / 256;
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    v[i] = i % 61 === 0 ? 0 : m * ((x >>> 8) / 8388608 - 1);
  }
  return new Uint8Array(v.buffer);
}

/** The files to run: FILE arguments, and the regular files in FOLDERs, sorted. */
export function listInputs(args, limit) {
  const files = [];
  for (const a of args) {
    const st = fs.statSync(a);
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(a).sort()) {
        const f = path.join(a, n);
        if (fs.statSync(f).isFile()) files.push(f);
      }
    } else {
      files.push(a);
    }
  }
  if (!limit || limit >= files.length) return files;
  return Array.from({ length: limit }, (_, i) => files[Math.floor((i * files.length) / limit)]);
}

/** The native CLI in its own process; the commands of one model run side by side. */
function runNative(dir, args) {
  return new Promise((resolve, reject) => {
    const child = spawnChild(nativeCli, args, { cwd: dir, env: { ...process.env, NO_COLOR: '1' }, timeout: 120000 });
    const out = { stdout: [], stderr: [] };
    child.stdout.on('data', (b) => out.stdout.push(b));
    child.stderr.on('data', (b) => out.stderr.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ status: code ?? `signal ${signal}`,
      stdout: Buffer.concat(out.stdout), stderr: Buffer.concat(out.stderr), files: collect(dir) }));
  });
}

function runSpawned(dir, args) {
  const r = spawnSync(process.execPath, [wasmCli, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' },
    timeout: 120000 });
  if (r.error) throw r.error;
  return { status: r.status ?? `signal ${r.signal}`, stdout: r.stdout, stderr: r.stderr, files: collect(dir) };
}

/** The outputs an equalize left in dir, removed as they are read. */
function collect(dir) {
  const files = {};
  for (const n of OUTPUTS) {
    const f = path.join(dir, n);
    if (fs.existsSync(f)) {
      files[n] = fs.readFileSync(f);
      fs.rmSync(f);
    }
  }
  return files;
}

/** The wasm CLI in this process; outputs stay in memory.  Renewed after a trap. */
export async function wasmRunner(wasmFile = null) {
  const { loadRuntime } = await import(path.join(root, 'wasm/node.js'));
  let dir = null;
  let out = null;
  const written = new Map();
  let next = 0;
  const open = new Map();
  const abs = (name) => path.resolve(dir, name);
  const host = {
    print(fd, bytes) {
      out[fd === 2 ? 'stderr' : 'stdout'].push(Buffer.from(bytes));
    },
    color: () => false,
    tty: () => false,
    fileSize(name) {
      let st;
      try {
        st = fs.statSync(abs(name));
      } catch {
        throw new Error(`cannot open ${name}: No such file or directory`);
      }
      if (!st.isFile()) throw Object.assign(new Error(`${name} is not a regular file`), { refused: true });
      return st.size;
    },
    fileRead(name, within, view) {
      const bytes = fs.readFileSync(abs(name));
      view().set(bytes);
    },
    outCheck() {},
    outOpen(name) {
      open.set(next, { name, parts: [] });
      return next++;
    },
    outWrite(handle, bytes) {
      open.get(handle).parts.push(Buffer.from(bytes));
    },
    outClose(handle, commit) {
      const o = open.get(handle);
      open.delete(handle);
      if (commit) written.set(o.name, Buffer.concat(o.parts));
    },
  };
  let runtime = await loadRuntime(wasmFile ? { wasmBinary: fs.readFileSync(wasmFile) } : {}, host);
  return async (workDir, args) => {
    dir = workDir;
    out = { stdout: [], stderr: [] };
    written.clear();
    let status;
    try {
      status = runtime.cli(args);
    } catch (e) {
      status = `trap: ${e.message}`;
      runtime = await runtime.renew();
    }
    const files = {};
    for (const n of OUTPUTS) if (written.has(n)) files[n] = written.get(n);
    return { status, stdout: Buffer.concat(out.stdout), stderr: Buffer.concat(out.stderr), files };
  };
}

/** The first way two answers differ, or null. */
export function difference(a, b) {
  if (a.status !== b.status) return `exit status ${a.status} (native) vs ${b.status} (wasm)`;
  for (const k of ['stdout', 'stderr']) {
    if (!a[k].equals(b[k])) {
      let i = 0;
      while (i < a[k].length && a[k][i] === b[k][i]) i++;
      const at = (s) => JSON.stringify(s.subarray(Math.max(0, i - 40), i + 80).toString());
      return `${k} differs at byte ${i}: native ${at(a[k])} vs wasm ${at(b[k])}`;
    }
  }
  const names = [...new Set([...Object.keys(a.files), ...Object.keys(b.files)])];
  for (const n of names) {
    if (!a.files[n] || !b.files[n]) return `${n} written by ${a.files[n] ? 'native' : 'wasm'} only`;
    if (!a.files[n].equals(b.files[n])) return `${n} differs (${a.files[n].length} vs ${b.files[n].length} bytes)`;
  }
  return null;
}

/** Runs every file through both builds; calls report(file, args, why) per difference. */
export async function diffBuilds(files, { spawn = false, wasmFile = null, report = () => {}, commands = COMMANDS,
  parallel = 4 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-cle-diff-'));
  const wasm = spawn ? async (d, args) => runSpawned(d, args) : await wasmRunner(wasmFile);
  let runs = 0;
  let differences = 0;
  let written = 0; // output files both builds wrote, compared
  const statuses = new Set();
  try {
    // one scratch folder per command and model in flight: the native commands
    // of `parallel` models run side by side (process start-up dominates)
    const side = sideFile();
    const slots = Array.from({ length: parallel }, (_, m) => commands.map((_, k) => {
      const d = path.join(dir, `${m}-${k}`);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'w.bin'), side);
      return d;
    }));
    for (let i = 0; i < files.length; i += parallel) {
      const chunk = files.slice(i, i + parallel);
      const native = await Promise.all(chunk.map((f, m) => {
        for (const d of slots[m]) fs.copyFileSync(f, path.join(d, 'model.onnx'));
        return Promise.all(commands.map((args, k) => runNative(slots[m][k], args)));
      }));
      for (let m = 0; m < chunk.length; m++) {
        for (let k = 0; k < commands.length; k++) {
          const b = await wasm(slots[m][k], commands[k]);
          runs++;
          statuses.add(native[m][k].status);
          written += Object.keys(native[m][k].files).filter((n) => n in b.files).length;
          const why = difference(native[m][k], b);
          if (why) {
            differences++;
            report(chunk[m], commands[k], why);
          }
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { files: files.length, runs, differences, written, statuses };
}

async function main(argv) {
  let limit = 0;
  let spawn = false;
  let keep = null;
  let wasmFile = null;
  const inputs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--limit') limit = Number(argv[++i]);
    else if (argv[i].startsWith('--limit=')) limit = Number(argv[i].slice(8));
    else if (argv[i] === '--spawn') spawn = true;
    else if (argv[i] === '--keep') keep = argv[++i];
    else if (argv[i].startsWith('--keep=')) keep = argv[i].slice(7);
    else if (argv[i] === '--wasm') wasmFile = argv[++i];
    else if (argv[i].startsWith('--wasm=')) wasmFile = argv[i].slice(7);
    else inputs.push(argv[i]);
  }
  if (inputs.length === 0 || !(limit >= 0)) {
    process.stderr.write('usage: node scripts/diff-builds.mjs [--limit N] [--spawn] [--keep DIR] [--wasm FILE] FOLDER|FILE...\n');
    return 2;
  }
  const files = listInputs(inputs, limit);
  const started = Date.now();
  const differing = new Set();
  const r = await diffBuilds(files, {
    spawn,
    wasmFile,
    report(f, args, why) {
      process.stdout.write(`DIFF ${f}: onnx-cle ${args.join(' ')}: ${why}\n`);
      if (keep && !differing.has(f)) {
        fs.mkdirSync(keep, { recursive: true });
        fs.copyFileSync(f, path.join(keep, path.basename(f)));
      }
      differing.add(f);
    },
  });
  process.stdout.write(`diff-builds: ${r.files} models, ${r.runs} commands, ${r.differences} differences ` +
    `(${differing.size} models) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return r.differences ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exitCode = await main(process.argv.slice(2));
