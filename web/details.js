// details.js — what the page says about one graph node (its place in the
// CLE map, attributes, tensors with their known shapes, the weight's
// per-channel ranges) and about the proof (verify()'s numbers).  Text from
// the model goes in through textContent only.
import { h } from './render.js';
import { rangePlot } from './plot.js';
import { groupHue } from './graph-view.js';

const shape = (s) => (s ? `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]` : 'shape not recorded');

function groupBadge(g) {
  if (g === null || g === undefined) return h('span', { class: 'badge plain' }, 'not paired');
  return h('span', { class: 'badge group', style: { '--hue': groupHue(g) } }, h('span', { class: 'dot', 'aria-hidden': 'true' }), `group ${g}`);
}

function role(node, overlay) {
  if (node.kind === 'input') return [h('p', {}, 'A graph input: its values cannot be rescaled.')];
  if (node.kind === 'output') return [h('p', {}, 'A graph output: its values must stay as they are.')];
  const out = [];
  const layer = overlay?.layers.get(node.name);
  if (layer) {
    out.push(h('p', { class: 'role' }, 'Layer ', groupBadge(layer.group),
      layer.beyond_reference ? h('span', { class: 'badge info' }, 'beyond reference') : null));
    if (layer.partners.length) out.push(h('p', { class: 'why' }, `scaled with ${layer.partners.join(', ')}`));
    if (layer.reason) out.push(h('p', { class: 'why blocked' }, layer.reason));
  } else if (overlay?.through.has(node.name)) {
    const g = overlay.through.get(node.name);
    out.push(h('p', { class: 'role' }, 'Passes the channels of ', g === null ? 'a chain that stops' : groupBadge(g), ' through'));
  }
  for (const why of overlay?.stops.get(node.name) ?? []) out.push(h('p', { class: 'why blocked' }, h('b', {}, 'Stops a chain: '), why));
  return out;
}

function tensorRows(names, graph) {
  return names.filter(Boolean).map((t) => {
    const info = graph.tensors[t];
    return h('li', {}, h('span', { class: 'mono' }, t), ' ',
      h('span', { class: 'muted' }, info ? `${info.kind === 'value' ? '' : `${info.kind}, `}${info.type ?? '?'} ${shape(info.shape)}` : 'shape not recorded'));
  });
}

/**
 * The details of node into box.  eqLayers: the equalize report's layers by
 * node name (their ranges before and after), or null before equalizing.
 */
export function renderNodeDetails(box, node, { graph, overlay, eqLayers }) {
  if (!node) {
    box.replaceChildren(h('p', { class: 'muted' }, 'Nothing selected.'));
    return;
  }
  const parts = [
    h('h3', {}, h('span', { class: 'op' }, node.op), ' ', h('span', { class: 'mono' }, node.name)),
    ...role(node, overlay),
  ];
  if (node.attrs.length) {
    parts.push(h('h4', {}, 'Attributes'),
      h('dl', { class: 'attrs' }, node.attrs.map((a) => h('div', {}, h('dt', {}, a.name), h('dd', { class: 'mono' }, a.value)))));
  }
  if (node.subgraphs) parts.push(h('p', { class: 'muted' }, `${node.subgraphs} subgraph attribute${node.subgraphs === 1 ? '' : 's'} (not drawn)`));
  if (node.kind === 'op') {
    parts.push(h('h4', {}, 'Inputs'), h('ul', { class: 'tensors' }, tensorRows(node.inputs, graph)));
    parts.push(h('h4', {}, 'Outputs'), h('ul', { class: 'tensors' }, tensorRows(node.outputs, graph)));
  } else {
    parts.push(h('ul', { class: 'tensors' }, tensorRows([node.name], graph)));
  }
  const w = node.inputs[1] && graph.weights[node.inputs[1]];
  const eq = eqLayers?.get(node.name);
  if (w || eq?.ranges_before) {
    const width = Math.max(240, box.clientWidth - 8);
    let before;
    let after = null;
    if (eq?.ranges_before && eq.ranges_after) {
      before = eq.ranges_before;
      after = eq.ranges_after;
    } else {
      before = Array.from(w.min, (lo, c) => Math.max(Math.abs(lo), Math.abs(w.max[c])));
    }
    const pos = before.filter((v) => v > 0);
    const spread = pos.length ? Math.max(...pos) / Math.min(...pos) : null;
    parts.push(h('h4', {}, 'Weight ranges per output channel'),
      h('p', { class: 'muted' }, `${before.length} channel${before.length === 1 ? '' : 's'}` +
        (spread ? `; largest abs-max over the smallest: ${spread < 100 ? spread.toFixed(1) : spread.toExponential(1)}` : '') +
        (after ? '; before and after equalizing' : '')),
      rangePlot(before, after, { width, height: 150, label: `Per-channel weight ranges of ${node.name}${after ? ' before and after equalization' : ''}, log scale` }));
    if (w && !after) {
      parts.push(h('details', { class: 'minmax' }, h('summary', {}, 'min and max of each channel'),
        h('ol', { class: 'mono', start: 0, tabindex: 0, 'aria-label': 'min and max of each channel' }, Array.from(w.min, (lo, c) => h('li', {}, `${lo.toPrecision(4)} … ${w.max[c].toPrecision(4)}`)))));
    }
  }
  box.replaceChildren(...parts);
}

const dbText = (v) => (v === Infinity ? '∞ dB' : v === -Infinity ? '−∞ dB' : `${v.toFixed(1)} dB`);
const diffText = (a, b) => {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return '';
  const d = b - a;
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} dB`;
};

// the SQNR table of one set of inputs: per tensor and per channel, before, after and the change
function sqnrTable(caption, sqnr) {
  const t = sqnr.perTensor;
  const c = sqnr.perChannel;
  const cell = (v, cls) => h('td', { class: cls }, v);
  const gainCls = (a, b) => (b - a > 0.05 ? 'gain' : b - a < -0.05 ? 'loss' : 'muted');
  return h('table', { class: 'proof-table' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Weights in INT8'), h('th', { scope: 'col' }, 'one scale per tensor'), h('th', { scope: 'col' }, 'one scale per channel'))),
    h('tbody', {},
      h('tr', {}, h('th', { scope: 'row' }, 'original'), cell(dbText(t.before)), cell(dbText(c.before))),
      h('tr', {}, h('th', { scope: 'row' }, 'equalized'), cell(dbText(t.after)), cell(dbText(c.after))),
      h('tr', {}, h('th', { scope: 'row' }, 'change'), cell(diffText(t.before, t.after), gainCls(t.before, t.after)),
        cell(diffText(c.before, c.after), gainCls(c.before, c.after)))));
}

// "Same function" for one set of inputs
function sameFunction(relErr, on) {
  const kept = relErr <= 1e-3;
  return h('p', { class: kept ? 'proof-ok' : 'loss' },
    h('b', {}, 'Same function: '), `the largest output difference${on} is ${relErr.toExponential(1)} of the largest output`,
    kept ? ' (float32 rounding).' : ': more than float rounding, so the outputs moved (high-bias absorption, ReLU6 as ReLU and bias correction for INT8 do that).');
}

const IMAGE_KEYS = ['imageMaxRelErr', 'imageSqnrBeforeDb', 'imageSqnrAfterDb', 'imageSqnrPcBeforeDb', 'imageSqnrPcAfterDb'];

/**
 * verify()'s result into box, numbers also as data attributes for tests and
 * scripts; with r.given (the image named imageName), its numbers beside the
 * seeded ones, as data-image-* attributes.
 */
export function renderProof(box, r, imageName = null) {
  const t = r.sqnrDb.perTensor;
  const c = r.sqnrDb.perChannel;
  Object.assign(box.dataset, {
    maxRelErr: String(r.maxRelErr), sqnrBeforeDb: String(t.before), sqnrAfterDb: String(t.after),
    sqnrPcBeforeDb: String(c.before), sqnrPcAfterDb: String(c.after),
  });
  for (const k of IMAGE_KEYS) delete box.dataset[k];
  const g = r.given;
  if (g) {
    Object.assign(box.dataset, {
      imageMaxRelErr: String(g.maxRelErr), imageSqnrBeforeDb: String(g.sqnrDb.perTensor.before),
      imageSqnrAfterDb: String(g.sqnrDb.perTensor.after), imageSqnrPcBeforeDb: String(g.sqnrDb.perChannel.before),
      imageSqnrPcAfterDb: String(g.sqnrDb.perChannel.after),
    });
  }
  const inputs = r.inputs.map((i) => `${i.name} ${i.type} [${i.shape.join(', ')}]`).join(', ');
  const caption = `Output SQNR with the ${r.layers} layers' weights in INT8 (symmetric, scale max|W|/127), against the original in float32`;
  const seededText = `${r.samples} seeded input${r.samples === 1 ? '' : 's'} (standard normal; seed ${r.seed}): ${inputs}`;
  const seeded = [
    sameFunction(r.maxRelErr, ''),
    sqnrTable(caption, r.sqnrDb),
    h('p', { class: 'muted' }, `On ${seededText}; ${(r.ms / 1000).toFixed(1)} s.`),
  ];
  let parts;
  if (g) {
    const name = imageName ?? g.names.join(', ');
    const shown = g.inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ');
    parts = [h('div', { class: 'proof-sets' },
      h('div', { class: 'proof-set', dataset: { set: 'seeded' } }, h('h4', {}, 'On seeded inputs'), ...seeded),
      h('div', { class: 'proof-set', dataset: { set: 'image' } }, h('h4', {}, `On ${name}`),
        sameFunction(g.maxRelErr, ` on ${name}`),
        sqnrTable(`Output SQNR with the same INT8 weights, against the original in float32, on ${name}`, g.sqnrDb),
        h('p', { class: 'muted' }, `As ${shown}, values in [0, 1].`)))];
  } else {
    parts = seeded;
  }
  if (r.notes.length) parts.push(h('p', { class: 'muted' }, `Left in float: ${r.notes.join('; ')}.`));
  box.replaceChildren(...parts);
  box.hidden = false;
}
