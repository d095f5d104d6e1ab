// render.js: the reports as DOM.  Every name shown comes from the model
// file, so text goes in through textContent only, never innerHTML.
import { rangePlot, spreadText } from './plot.js';
import { groupHue } from './graph-view.js';

/** An element: h('p', { class: 'x' }, 'text', child, ...); null children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') for (const [p, x] of Object.entries(v)) e.style.setProperty(p, x);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export function formatBytes(n) {
  if (n < 1000) return `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** A duration as people read it: "240 ms", "2.5 s". */
export const took = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const db = (v) => (v == null ? 'n/a' : `${v.toFixed(1)} dB`);

function signed(v, unit) {
  const s = `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)}${unit}`;
  return h('span', { class: v > 0.05 ? 'gain' : v < -0.05 ? 'loss' : 'muted' }, s);
}

function fact(term, ...value) {
  return h('div', {}, h('dt', {}, term), h('dd', {}, ...value));
}

function titled(el, title) {
  el.title = title;
  return el;
}

const shape = (s) => (s ? `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'no shape');

/** The model summary (info) and the check's counts, into a <dl>. */
export function renderFacts(dl, { info, check, extra }) {
  const ops = Object.entries(info.op_counts).sort((a, b) => b[1] - a[1]);
  const opsets = Object.entries(info.opset).map(([d, v]) => `${d || 'ai.onnx'} ${v}`).join(', ');
  const io = (list) => list.map((v) => h('div', { class: 'mono' }, `${v.name}: ${v.elem_type} ${shape(v.shape)}`));
  const producer = [info.producer.name, info.producer.version].filter(Boolean).join(' ') || 'not recorded';
  const s = check.summary;
  const weights = [`${formatBytes(info.initializer_bytes + info.constant_bytes)} in ` +
    `${plural(info.initializer_count, 'initializer')} and ${plural(info.constant_count, 'Constant node')}`];
  if (info.external_tensor_count > 0) {
    weights.push(h('div', { class: extra.length ? 'muted' : 'loss' },
      `${plural(info.external_tensor_count, 'tensor')} in external data` +
      (extra.length ? ` (given: ${extra.join(', ')})` : ': drop the data files together with the model to equalize it')));
  }
  const items = [
    fact('File', `${formatBytes(info.file_bytes)}`, h('span', { class: 'muted' }, `, IR ${info.ir_version}, opset ${opsets}`)),
    fact('Producer', producer),
    fact('Nodes', `${info.node_count}`, info.subgraph_count ? h('span', { class: 'muted' }, ` + ${plural(info.subgraph_count, 'subgraph')}`) : null),
    fact('Weights', ...weights),
    fact('Layers CLE works on', `${s.layers}: ${s.paired} paired in ${plural(s.groups, 'group')}`),
    fact('Inputs', ...io(info.inputs)),
    fact('Outputs', ...io(info.outputs)),
  ];
  const opsFact = fact('Ops', h('div', { class: 'chips' }, ops.map(([op, n]) => h('span', { class: 'chip' }, `${op} ${n}`))));
  opsFact.className = 'wide';
  dl.replaceChildren(...items, opsFact);
}

// what each rule is about, in a few words (the guideline it maps), and the
// ops it looks at, so a rule with no findings can say what it checked
const RULES = {
  'onnx-invalid': { about: 'the export must pass', ops: [] },
  'reshape-fixed-batch': { about: 'a Reshape fixes the batch size, as x.view(-1, 1024) exports', ops: ['Reshape'] },
  'resize-align-corners': { about: 'bilinear upsampling with align_corners=True', ops: ['Resize', 'Upsample'] },
  'conv-transpose': { about: 'deconvolution, which the reference tool does not support', ops: ['ConvTranspose'] },
};
const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 };

/** What a rule with no findings checked: "6 Resize nodes, none flagged". */
function passedLine(rule, opCounts) {
  const { about, ops } = RULES[rule];
  const seen = ops.filter((op) => opCounts[op]).map((op) => plural(opCounts[op], `${op} node`));
  const what = rule === 'onnx-invalid' ? 'the graph is well formed'
    : seen.length ? `${seen.join(' and ')} in the main graph, none flagged` : `no ${ops.join(' or ')} nodes`;
  return h('li', { dataset: { rule } }, h('code', {}, rule), ' ', about, ': ', h('span', { class: 'ok' }, what));
}

/**
 * Findings grouped by rule, each with node, op, message and fix; then the
 * rules that found nothing, with what they looked at (info's op counts).
 */
export function renderFindings(box, countsEl, check, opCounts) {
  const s = check.summary;
  countsEl.textContent = `${plural(s.errors, 'error')} · ${plural(s.warnings, 'warning')} · ${s.infos} info`;
  const byRule = new Map();
  for (const f of check.findings) {
    if (!byRule.has(f.rule)) byRule.set(f.rule, []);
    byRule.get(f.rule).push(f);
  }
  const worst = (list) => Math.min(...list.map((f) => SEVERITY_ORDER[f.severity] ?? 3));
  const rules = [...byRule].sort((a, b) => worst(a[1]) - worst(b[1]));
  const passed = Object.keys(RULES).filter((r) => !byRule.has(r));
  const parts = [
    check.findings.length === 0
      ? h('p', { class: 'clean' }, 'No findings: nothing in this model breaks the CLE guidelines.') : null,
    ...rules.map(([rule, list]) =>
      h('section', { class: 'rule', dataset: { rule } },
        h('h3', {}, h('code', {}, rule), RULES[rule]?.about ?? '', h('span', { class: 'muted' }, `(${list.length})`)),
        list.map((f) =>
          h('article', { class: `finding ${f.severity}` },
            h('div', { class: 'finding-head' },
              h('span', { class: `badge ${f.severity}` }, f.severity),
              f.node !== null ? h('code', { class: 'node' }, f.node) : h('span', {}, 'the whole model'),
              f.op ? h('span', { class: 'muted' }, f.op) : null),
            h('p', { class: 'msg' }, f.message),
            h('p', { class: 'fix' }, h('b', {}, 'Fix: '), f.fix))))),
    passed.length
      ? h('section', { class: 'passed' }, h('h3', {}, 'Rules with no findings'),
        h('ul', {}, passed.map((r) => passedLine(r, opCounts))))
      : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
}

// a group is a colour (never red, which means "stops") and a number: a dot and the number in plain ink
const groupBadge = (g) =>
  g === null ? h('span', { class: 'badge plain' }, 'not paired')
    : h('span', { class: 'badge group', style: { '--hue': groupHue(g) } }, h('span', { class: 'dot', 'aria-hidden': 'true' }), `group ${g}`);

function names(list, max = 6) {
  const shown = list.slice(0, max).map((n) => h('span', { class: 'chip node' }, n));
  if (list.length > max) shown.push(h('span', { class: 'chip' }, `+${list.length - max} more`));
  return h('span', { class: 'chips' }, shown);
}

const line = (label, content) => h('div', { class: 'line' }, h('span', { class: 'label' }, label), content);

/**
 * The CLE map: every layer with its group or why it has none, and every
 * chain between layers (a region: producers → the ops it passes through →
 * consumers) with why it stops, if it does.  Returns filter(text).
 */
export function renderMap({ summary, layers, regions }, check) {
  const s = check.summary;
  const alone = s.layers - s.paired;
  summary.textContent = s.layers === 0
    ? 'No Conv, ConvTranspose, Gemm or MatMul layers: there is nothing for CLE to equalize.'
    : `${plural(s.layers, 'layer')}: ${s.paired} paired in ${plural(s.groups, 'group')}` +
      `${s.beyond_reference ? ` (${s.beyond_reference} beyond the reference tool)` : ''}, ${alone} not paired.`;

  const groupOf = new Map(check.cle.layers.map((l) => [l.node, l.group]));
  const layerRows = check.cle.layers.map((l) =>
    h('li', { dataset: { search: `${l.node} ${l.op}`.toLowerCase(), node: l.node } },
      h('div', { class: 'row-head' }, groupBadge(l.group), h('span', { class: 'mono' }, l.node),
        h('span', { class: 'op' }, l.op),
        l.beyond_reference ? h('span', { class: 'badge info', title: 'the reference tool (AIMET) would not equalize it' }, 'beyond reference') : null),
      l.reason
        ? h('p', { class: 'why blocked' }, l.reason)
        : h('p', { class: 'why' }, l.partners.length ? `with ${l.partners.join(', ')}` : '')));
  if (layerRows.length === 0) layerRows.push(h('li', { class: 'empty' }, 'No layers.'));
  layers.replaceChildren(...layerRows);

  // A region with layers on one side only is one layer's side, already
  // explained in its row; the chains list shows the ones that link or pass through ops.
  const chains = check.cle.regions.filter((r) => r.through.length > 0 || (r.producers.length && r.consumers.length));
  const regionRows = chains.map((r) => {
    const g = r.blocked ? null : groupOf.get(r.producers[0] ?? r.consumers[0]);
    const text = [...r.producers, ...r.consumers, ...r.through.flatMap((t) => [t.node, t.op])].join(' ').toLowerCase();
    return h('li', { dataset: { search: text, region: r.id } },
      h('div', { class: 'row-head' },
        r.blocked ? h('span', { class: 'badge blocked' }, 'stops') : g !== null && g !== undefined ? groupBadge(g) : h('span', { class: 'badge ok' }, 'scaled'),
        r.channels > 0 ? h('span', {}, plural(r.channels, 'channel')) : null,
        r.joint ? h('span', { class: 'badge plain', title: 'more than one producer or consumer, scaled together' }, 'joint') : null,
        !r.reference && !r.blocked ? h('span', { class: 'badge info' }, 'beyond reference') : null),
      r.producers.length ? line('from', names(r.producers)) : line('from', h('span', { class: 'muted' }, 'no layer')),
      r.through.length
        ? line('through', h('span', { class: 'chips' }, r.through.map((t) =>
          h('span', { class: 'chip node', dataset: { op: t.op } }, h('b', {}, t.op), t.node))))
        : null,
      r.consumers.length ? line('into', names(r.consumers)) : line('into', h('span', { class: 'muted' }, 'no layer')),
      r.blocked ? h('p', { class: 'why blocked' }, r.blocked) : null);
  });
  const hidden = check.cle.regions.length - chains.length;
  if (hidden > 0) {
    regionRows.push(h('li', { class: 'empty' },
      `${plural(hidden, 'more region')} touch${hidden === 1 ? 'es' : ''} a layer on one side only; the layer's row says why it stops.`));
  }
  if (chains.length === 0 && hidden === 0) regionRows.push(h('li', { class: 'empty' }, 'No chains.'));
  regions.replaceChildren(...regionRows);

  return (text) => {
    const q = text.trim().toLowerCase();
    for (const li of [...layers.children, ...regions.children]) {
      if (li.dataset.search !== undefined) li.hidden = q !== '' && !li.dataset.search.includes(q);
    }
  };
}

/**
 * The equalize report's totals into a <dl>.  limit: the rounds the
 * balancing was allowed (null when one pass was asked for), so that
 * reaching it is said.
 */
export function renderTotals(dl, t, ms, limit = null) {
  // no equalization: tune() kept the model as shipped (and corrected its biases)
  if (t === null) return dl.replaceChildren(fact('Equalized', h('span', { class: 'big' }, '0'), ' layers: the model as shipped scored best'));
  const change = (a, b) => (a == null || b == null ? h('span', {}, 'n/a')
    : h('span', {}, `${db(a)} → ${db(b)} `, signed(b - a, ' dB')));
  const spread = t.median_spread_before == null ? 'n/a'
    : `${t.median_spread_before.toFixed(1)} → ${t.median_spread_after.toFixed(1)}`;
  const bn = [t.bn_folded ? `${plural(t.bn_folded, 'BatchNormalization')} folded` : '',
    t.bn_rescaled ? `${plural(t.bn_rescaled, 'BatchNormalization')} kept and rescaled` : ''].filter(Boolean).join(', ');
  dl.replaceChildren(
    fact('Equalized', h('span', { class: 'big' }, `${t.equalized}`), ` of ${plural(t.layers, 'layer')}`),
    titled(fact('Estimated INT8 output SQNR', change(t.estimated_sqnr_db_before, t.estimated_sqnr_db_after)),
      'What INT8 weights (one step per tensor) would leave of the outputs, estimated without data from the model itself'),
    fact('Batch norm', bn || 'none'),
    titled(fact('Mean INT8 weight SQNR', change(t.mean_sqnr_before_db, t.mean_sqnr_after_db)),
      'The weights alone, per tensor, averaged over channels: a proxy, which can rise while the quantized model gets worse'),
    fact('Median range spread', spread),
    t.hbf_layers ? fact('High-bias absorption', `${plural(t.hbf_layers, 'layer')}`) : '',
    fact('Solved', `${plural(t.rounds, 'round')} (${t.passes.toFixed(1)} passes over the weights) in ${took(ms)}` +
      (t.clamped_channels ? `, ${plural(t.clamped_channels, 'channel')} clamped` : ''),
    limit !== null && t.rounds >= limit
      ? h('div', { class: 'warn-text' }, `the limit of ${plural(limit, 'round')} was reached before the scales settled: raise "Rounds at most" to go on`)
      : null),
  );
}

// a layer's own share of the output noise, as SQNR at the outputs
const gainOf = (l) => (l.noise_db_before == null || l.noise_db_after == null ? -Infinity : l.noise_db_after - l.noise_db_before);
const ORDERS = {
  graph: () => 0,
  gain: (a, b) => gainOf(b) - gainOf(a),
  spread: (a, b) => (b.range_spread_before ?? -1) - (a.range_spread_before ?? -1),
};

/**
 * One row per layer of the equalize report: its numbers in the summary,
 * its plot drawn when the row is first opened.  Opens `open` rows.
 */
export function renderEqLayers(ol, layers, order = 'graph', open = 0) {
  const sorted = layers.map((l, i) => [l, i]).sort((a, b) => ORDERS[order](a[0], b[0]) || a[1] - b[1]);
  const rows = sorted.map(([l]) => {
    const gain = gainOf(l);
    const box = h('div', { class: 'plot-box' });
    const details = h('details', {},
      h('summary', {},
        h('span', { class: 'name' }, h('span', { class: 'mono' }, l.node), ' ', h('span', { class: 'op muted' }, l.op),
          l.hbf ? [' ', h('span', { class: 'badge info', title: 'high-bias absorption changed this layer' }, 'HBF')] : null,
          l.clamped_channels ? [' ', h('span', { class: 'badge info', title: 'output channels whose scale hit the limit (--max-scale): near-dead channels' },
            `${l.clamped_channels} at limit`)] : null),
        h('span', { class: `num ${l.changed ? '' : 'unchanged'}` }, l.changed ? spreadText(l) : 'unchanged'),
        h('span', { class: 'num', title: 'this layer\'s INT8 weights alone: estimated SQNR at the outputs' },
          l.noise_db_before == null ? 'est. n/a'
            : [`est. ${db(l.noise_db_before)} → ${db(l.noise_db_after)} `, signed(gain, ' dB')])),
      box);
    // drawn on first opening, and again when the width it gets has changed
    const draw = () => {
      const width = box.clientWidth || ol.clientWidth - 26 || 600;
      if (box.dataset.width === String(width)) return;
      box.dataset.width = String(width);
      const label = `Per-channel weight ranges of ${l.node} before and after equalization, log scale`;
      box.replaceChildren(
        l.ranges_before && l.ranges_after
          ? rangePlot(l.ranges_before, l.ranges_after, { width, label })
          : h('p', { class: 'plot-note' }, 'No per-channel ranges for this layer.'),
        l.note ? h('p', { class: 'plot-note' }, l.note) : '');
    };
    details.addEventListener('toggle', () => details.open && draw());
    return h('li', { class: 'eq-layer', dataset: { node: l.node } }, details);
  });
  if (rows.length === 0) rows.push(h('li', { class: 'empty' }, 'No layers to equalize.'));
  ol.replaceChildren(...rows);
  // open the first few that changed, so there is a plot to see at once
  let left = open;
  sorted.forEach(([l], i) => {
    if (left > 0 && l.changed && l.ranges_before) {
      rows[i].firstChild.open = true;
      left--;
    }
  });
}

/** Redraws the plots that are open, after the page changed width. */
export function redrawOpenPlots(ol) {
  for (const d of ol.querySelectorAll('details[open]')) d.dispatchEvent(new Event('toggle'));
}
