// bench/headroom.mjs — how much could an equalization of the kind we make
// gain on a model if its strength were chosen by the measured outcome (an
// oracle a data-free tool does not have)?  The models between the model
// (as shipped, or --from) and an equalized copy (bench/interpolate.py: every
// scale raised to alpha; alpha 0 is the first, 1 the copy), scored as
// `npm run bench:quant` scores them (bench/quant_lib.mjs: same inputs, W8 per
// tensor and per channel, means over dithered roundings), beside `shipped`,
// `aimet-exact` and `default` of the same run, against issue 14's lines.
//
//   node bench/headroom.mjs --model=silero-v5 [options]
// options:
//   --toward=ARGS      the equalized copy: onnx-cle equalize ARGS, split at
//                      spaces (default "--objective=balance --no-hbf": full
//                      range balance; "" for the default)
//   --from=ARGS        the other end, alpha 0, made the same way (default:
//                      the model as shipped; for a model whose equalization
//                      also folds nodes, "--max-scale=1 --no-hbf
//                      --batch-norm=fold" with --batch-norm=fold in --toward:
//                      folded alike, only the scales differ)
//   --alphas=a,b,...   one alpha for every scale (default 0.25,0.5,...,1.5)
//   --regions=a,b,...  Silero v5/v6 instead: every combination of these
//                      alphas for the three encoder regions apart
//   --dither=N         roundings per mean (default 8, as the tables)
//   --family=NAME      score on these inputs instead of the model's own
//                      (bench/quant_inputs.py; vad-heldout: Silero on clips
//                      the choices were not made on)
//   --quick            fewer inputs
// Only for equalizations that rescale alone (interpolate.py refuses others).
// bench/QUALITY.md's section "Headroom" has the runs and what they say.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { dbDiff, equalizeCommand, evaluate, fmtDb, modelInfo, root } from './quant_lib.mjs';

const PY = '/usr/bin/python3';

function parseArgs(argv) {
  const o = { toward: ['--objective=balance', '--no-hbf'], from: null, alphas: [0.25, 0.5, 0.75, 1, 1.25, 1.5], dither: 8 };
  const nums = (v) => v.split(',').filter(Boolean).map(Number);
  for (const a of argv) {
    const [key, ...rest] = a.split('=');
    const val = rest.join('=');
    if (key === '--model') o.model = val;
    else if (key === '--toward') o.toward = val.split(/\s+/).filter(Boolean);
    else if (key === '--from') o.from = val.split(/\s+/).filter(Boolean);
    else if (key === '--alphas') o.alphas = nums(val);
    else if (key === '--regions') o.regions = nums(val);
    else if (key === '--dither') o.dither = Math.max(1, Number(val) | 0);
    else if (key === '--family') o.family = val;
    else if (a === '--quick') o.quick = true;
    else throw new Error(`unknown option '${a}' (see the top of bench/headroom.mjs)`);
  }
  if (!o.model) throw new Error('--model=NAME is needed (a bench/quant_lib.mjs model name)');
  return o;
}

// cmd args, failing on an exit status above maxOk (onnx-cle's 1 is findings)
function run(cmd, args, maxOk = 0) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  if (r.status === null || r.status > maxOk) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const info = modelInfo(o.model);
  const dir = path.join(root, 'bench/quant-data/headroom', info.name);
  mkdirSync(dir, { recursive: true });
  const [cmd, pre] = equalizeCommand();
  const make = (name, args) => {
    const file = path.join(dir, name);
    run(cmd, [...pre, 'equalize', info.path, '-o', file, ...args], 1);
    return file;
  };
  const toward = make('toward.onnx', o.toward);
  const from = o.from ? make('from.onnx', o.from) : info.path;

  const points = o.regions
    ? o.regions.flatMap((a) => o.regions.flatMap((b) => o.regions.map((c) => [a, b, c])))
    : o.alphas.map((a) => [a]);
  const variants = [{ name: 'shipped' }, { name: 'aimet-exact', args: ['--reference', '--relu6=exact'] }, { name: 'default', args: [] }];
  for (const p of points) {
    const file = path.join(dir, `alpha_${p.join('_')}.onnx`);
    run(PY, [path.join(root, 'bench/interpolate.py'), from, toward, file, ...p.map(String)]);
    variants.push({ name: p.join(','), file });
  }
  const log = (line) => process.stderr.write(line + '\n');
  const r = await evaluate({
    model: o.model, family: o.family, variants, modes: ['fp32', 'w8_tensor_dither', 'w8_channel_dither'],
    quick: o.quick, dither: o.dither, workDir: dir, log: o.quick ? log : () => {},
  });
  const db = (v, m) => r.variants[v]?.[m]?.db;
  const t = (v) => db(v, 'w8_tensor_dither');
  const c = (v) => db(v, 'w8_channel_dither');
  const gain = (x) => { const d = dbDiff(x, t('aimet-exact')); return `${d >= 0 ? '+' : ''}${d.toFixed(1)}`; };
  // issue 14's lines, as tests/js/quality.test.mjs holds them
  const tLine = Math.max(t('shipped') - 0.2, t('aimet-exact') - 0.5);
  const cLine = c('shipped') - 1.5;
  const rows = points.map((p) => p.join(',')).map((v) => ({ v, fp32: db(v, 'fp32'), t: t(v), c: c(v) }));
  const L = [`${o.model}: from ${o.from ? `\`${o.from.join(' ')}\`` : 'the model as shipped'} toward ` +
    `\`${o.toward.join(' ') || 'the default'}\`, alpha ${o.regions ? 'per encoder region' : 'for every scale'}; ` +
    `W8 means over ${o.dither} roundings${o.family ? `, inputs ${o.family}` : ''}. Lines: per tensor >= ${fmtDb(tLine)}, per channel >= ${fmtDb(cLine)} ` +
    `(W8 per tensor / per channel: shipped ${fmtDb(t('shipped'))} / ${fmtDb(c('shipped'))}, aimet-exact ` +
    `${fmtDb(t('aimet-exact'))} / ${fmtDb(c('aimet-exact'))}, default ${fmtDb(t('default'))} / ${fmtDb(c('default'))}).`, '',
  '| alpha | FP32 | W8 per tensor | W8 per channel | per tensor − aimet-exact | both lines |', '|---|---:|---:|---:|---:|---|'];
  for (const x of rows) {
    L.push(`| ${x.v} | ${fmtDb(x.fp32)} | ${fmtDb(x.t)} | ${fmtDb(x.c)} | ${gain(x.t)} | ` +
      `${x.t >= tLine && x.c >= cLine ? 'yes' : 'no'} |`);
  }
  const best = (list) => list.reduce((a, x) => (a === null || x.t > a.t ? x : a), null);
  const all = best(rows);
  const ok = best(rows.filter((x) => x.t >= tLine && x.c >= cLine));
  L.push('', `Best per tensor: ${all.v}, ${fmtDb(all.t)} dB (${gain(all.t)} over aimet-exact, ` +
    `per channel ${fmtDb(all.c)}). Best meeting both lines: ` +
    (ok ? `${ok.v}, ${fmtDb(ok.t)} dB (${gain(ok.t)} over aimet-exact, per channel ${fmtDb(ok.c)}).` : 'none.'));
  console.log(L.join('\n'));
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
