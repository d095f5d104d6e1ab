// bench/quant_layers.mjs — does the equalizer's noise estimate track the
// outcome, layer by layer?  For each layer, the model's output SQNR with
// that layer's weights alone fake-quantized to INT8 (bench/fake_quant.py,
// "only"), measured as bench/quant.mjs measures it (same inputs, same
// onnxruntime-web runs, against the shipped model's FP32 outputs), beside
// the estimate onnx-cle's JSON report gives for that layer
// (noise_db_before / noise_db_after; per channel: noise_pc_db_*), for the
// model as shipped and as each variant equalizes it.  The optimizer needs
// the estimate's changes to be right, so the last lines compare the changes
// too.
//
//   node bench/quant_layers.mjs --models=silero-v6,ppocr-cls [options]
// options:
//   --models=a,b            models (bench/quant_lib.mjs names; default silero-v5,silero-v6,ppocr-cls)
//   --variant NAME=ARGS     onnx-cle equalize ARGS (split at spaces); repeatable
//                           (default: default= , no options)
//   --per-channel           quantize per output channel (and read noise_pc_db_*)
//   --roundings=N           mean noise power over N roundings, each step widened by a
//                           random 0..1% (default 2; one rounding is a draw)
//   --quick                 fewer inputs
//   --cli=PATH              the onnx-cle that equalizes (default build/native/onnx-cle)
//   --out=FILE              also write the report there
// Layers whose output does not reach the score (Silero's 8 kHz branch: ∞)
// are listed and left out of the statistics.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { equalizeCommand, evaluate, fakeQuant, fmtDb, modelInfo, root } from './quant_lib.mjs';

function parseArgs(argv) {
  const o = { models: ['silero-v5', 'silero-v6', 'ppocr-cls'], variants: [], roundings: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [key, ...rest] = a.split('=');
    const val = rest.join('=');
    if (key === '--models') o.models = val.split(',').filter(Boolean);
    else if (a === '--per-channel') o.perChannel = true;
    else if (key === '--roundings') o.roundings = Math.max(1, Number(val) | 0);
    else if (a === '--quick') o.quick = true;
    else if (key === '--cli') o.cli = val;
    else if (key === '--out') o.out = val;
    else if (a === '--variant' || key === '--variant') {
      const spec = a === '--variant' ? argv[++i] : val;
      const eq = spec?.indexOf('=') ?? -1;
      if (eq <= 0) throw new Error(`--variant wants NAME=ARGS, got '${spec}'`);
      o.variants.push({ name: spec.slice(0, eq), args: spec.slice(eq + 1).split(/\s+/).filter(Boolean) });
    } else throw new Error(`unknown option '${a}' (see the top of bench/quant_layers.mjs)`);
  }
  if (!o.variants.length) o.variants = [{ name: 'default', args: [] }];
  return o;
}

/** onnx-cle equalize --json: the model written to out, and its report's layers by node name. */
function equalize(cli, file, out, args) {
  const [cmd, pre] = equalizeCommand(cli);
  const r = spawnSync(cmd, [...pre, 'equalize', '--json', file, '-o', out, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status > 1) throw new Error(`onnx-cle equalize ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout).layers;
}

/** Output SQNR (dB) with each layer alone quantized: the mean noise power over the roundings. */
async function perLayer(model, file, tag, dir, opts, log) {
  const key = opts.perChannel ? 'per_channel' : 'per_tensor';
  const [{ layers }] = fakeQuant([{ job: 'layers', model: file }], dir, `${tag}.layers`);
  const jobs = [];
  for (let k = 0; k < layers.length; k++) {
    for (let d = 1; d <= opts.roundings; d++) {
      jobs.push({ job: 'weights', model: file, [key]: path.join(dir, `${tag}.L${k}.${d}.onnx`), only: k, jitter: d });
    }
  }
  fakeQuant(jobs, dir, `${tag}.only`);
  const variants = jobs.map((j, i) => ({ name: `L${Math.floor(i / opts.roundings)}.${(i % opts.roundings) + 1}`, file: j[key] }));
  const r = await evaluate({ model, variants, modes: ['fp32'], quick: opts.quick, workDir: dir, log });
  return layers.map((l, k) => {
    let p = 0;
    for (let d = 1; d <= opts.roundings; d++) p += 10 ** (-r.variants[`L${k}.${d}`].fp32.db / 10);
    return { ...l, db: -10 * Math.log10(p / opts.roundings) };
  });
}

const finite = (x) => typeof x === 'number' && Number.isFinite(x);

function pearson(x, y) {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

function ranks(x) {
  const order = x.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0]);
  const r = new Array(x.length);
  order.forEach(([, i], k) => { r[i] = k; });
  return r;
}

/** "Pearson 0.93, Spearman 1.00, offset -7.2 dB, spread 14.1 dB" of estimate x against measured y. */
function agreement(x, y) {
  if (x.length < 3) return `${x.length} layers: too few to compare`;
  const d = x.map((v, i) => v - y[i]);
  const off = d.reduce((a, b) => a + b, 0) / d.length;
  const spread = Math.sqrt(d.reduce((a, b) => a + (b - off) ** 2, 0) / d.length);
  return `Pearson ${pearson(x, y).toFixed(2)}, Spearman ${pearson(ranks(x), ranks(y)).toFixed(2)}, ` +
    `estimate − measured ${off >= 0 ? '+' : ''}${off.toFixed(1)} dB on average, ±${spread.toFixed(1)} dB about it (${x.length} layers)`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const est = opts.perChannel ? ['noise_pc_db_before', 'noise_pc_db_after'] : ['noise_db_before', 'noise_db_after'];
  const L = [`Per-layer output SQNR in dB, weights ${opts.perChannel ? 'per channel' : 'per tensor'}, one layer quantized at a time ` +
    `(mean noise over ${opts.roundings} roundings${opts.quick ? ', --quick inputs' : ''}): measured, and onnx-cle's estimate.`, ''];
  const log = (line) => process.stderr.write(line + '\n');
  for (const model of opts.models) {
    const info = modelInfo(model);
    const dir = path.join(root, 'bench/quant-data/layers', info.name);
    mkdirSync(dir, { recursive: true });
    const shipped = await perLayer(model, info.path, 'shipped', dir, opts, log);
    for (const v of opts.variants) {
      const file = path.join(dir, `${v.name}.onnx`);
      const report = equalize(opts.cli, info.path, file, v.args);
      const after = await perLayer(model, file, v.name, dir, opts, log);
      const rows = shipped.map((s, k) => {
        const r = report.find((x) => x.node === s.node || x.node.endsWith('/' + s.node));
        return { node: s.node, m0: s.db, m1: after[k].db, e0: r?.[est[0]], e1: r?.[est[1]] };
      });
      L.push(`### ${model}, ${v.name} (${v.args.join(' ') || 'no options'})`, '');
      L.push('| layer | shipped: measured | estimate | equalized: measured | estimate | change: measured | estimate |');
      L.push('|---|---:|---:|---:|---:|---:|---:|');
      for (const r of rows) {
        const ch = (a, b) => (finite(a) && finite(b) ? `${b - a >= 0 ? '+' : ''}${(b - a).toFixed(1)}` : '–');
        L.push(`| ${r.node} | ${fmtDb(r.m0)} | ${fmtDb(r.e0)} | ${fmtDb(r.m1)} | ${fmtDb(r.e1)} | ${ch(r.m0, r.m1)} | ${ch(r.e0, r.e1)} |`);
      }
      for (const r of rows) if (r.m0 === Infinity) r.m1 = Infinity; // not reached: its FP32 change alone
      const ok = rows.filter((r) => [r.m0, r.m1, r.e0, r.e1].every(finite));
      L.push('');
      L.push(`- as shipped: ${agreement(ok.map((r) => r.e0), ok.map((r) => r.m0))}`);
      L.push(`- equalized: ${agreement(ok.map((r) => r.e1), ok.map((r) => r.m1))}`);
      L.push(`- the change: ${agreement(ok.map((r) => r.e1 - r.e0), ok.map((r) => r.m1 - r.m0))}`);
      L.push('');
    }
  }
  const text = L.join('\n');
  console.log(text);
  if (opts.out) writeFileSync(opts.out, text + '\n');
}

await main();
