// plot.js: one layer's per-output-channel weight ranges (abs-max) before and
// after equalization, as a hand-drawn SVG: two lines over the channel index
// on a log scale.  It is drawn only when a layer is opened, at the width it
// gets then, so a model with thousands of layers costs nothing until asked.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// 10^k as people write it on an axis: 0.01, 1, 100; 1e-5 and 1e6 beyond
function decade(k) {
  if (k >= -3 && k <= 4) return String(Number((10 ** k).toPrecision(1)));
  return `1e${k}`;
}

const fixed = (v) => v.toFixed(1);

/**
 * An <svg> plotting `before` and `after` (arrays of equal length, one
 * abs-max per output channel; after may be null: one line) over the channel
 * index, log scale.  width: pixels available; label: what a screen reader
 * hears.  Narrow plots put the legend on a line of its own, below the title.
 */
export function rangePlot(before, after, { width, height = 190, label }) {
  after ??= [];
  const n = Math.max(before.length, after.length);
  const w = Math.max(240, Math.floor(width));
  const narrow = w < 420;
  const m = { left: 46, right: 12, top: narrow ? 38 : 22, bottom: 30 };
  height += m.top - 22;
  const svg = el('svg', { class: 'plot', viewBox: `0 0 ${w} ${height}`, width: w, height, role: 'img', 'aria-label': label });
  const positive = [...before, ...after].filter((v) => v > 0 && Number.isFinite(v));
  if (n === 0 || positive.length === 0) {
    svg.append(el('text', { x: m.left, y: height / 2 }, 'every channel is zero: nothing to plot'));
    return svg;
  }

  // whole decades, so the gridlines are round numbers
  let lo = Math.floor(Math.log10(Math.min(...positive)));
  let hi = Math.ceil(Math.log10(Math.max(...positive)));
  if (hi === lo) hi = lo + 1;
  const px = { x0: m.left, x1: w - m.right, y0: height - m.bottom, y1: m.top };
  const x = (i) => (n === 1 ? (px.x0 + px.x1) / 2 : px.x0 + (i * (px.x1 - px.x0)) / (n - 1));
  const y = (v) => px.y0 - ((Math.log10(v) - lo) * (px.y0 - px.y1)) / (hi - lo);

  // gridlines and labels: at most ~6 of them, every k-th decade
  const step = Math.ceil((hi - lo) / 6);
  for (let k = lo; k <= hi; k += step) {
    const yy = y(10 ** k).toFixed(1);
    svg.append(el('line', { class: 'grid', x1: px.x0, x2: px.x1, y1: yy, y2: yy }));
    svg.append(el('text', { x: px.x0 - 6, y: Number(yy) + 4, 'text-anchor': 'end' }, decade(k)));
  }
  svg.append(el('line', { class: 'axis', x1: px.x0, x2: px.x1, y1: px.y0, y2: px.y0 }));
  const ticks = n === 1 ? [0] : [...new Set([0, Math.floor((n - 1) / 2), n - 1])];
  for (const i of ticks) {
    svg.append(el('line', { class: 'axis', x1: x(i), x2: x(i), y1: px.y0, y2: px.y0 + 4 }));
    svg.append(el('text', { x: x(i), y: px.y0 + 16, 'text-anchor': 'middle' }, String(i)));
  }
  svg.append(el('text', { x: px.x1, y: height - 2, 'text-anchor': 'end' }, `output channel (${n})`));

  // a zero channel has no place on a log axis: a red mark on the floor
  const floor = 10 ** lo;
  const series = (values, cls) => {
    const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v > 0 ? v : floor).toFixed(1)}`);
    if (n > 1) svg.append(el('polyline', { class: cls, points: points.join(' ') }));
    if (n <= 64) {
      values.forEach((v, i) => {
        if (v > 0) svg.append(el('circle', { class: `dot ${cls}`, cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.4 }));
      });
    }
    values.forEach((v, i) => {
      if (!(v > 0)) svg.append(el('rect', { class: 'zero', x: x(i) - 2, y: px.y0 - 5, width: 4, height: 5 }));
    });
  };
  series(before, 'before');
  if (after.length) series(after, 'after');

  // title top left; legend top right, or on the next line when narrow
  svg.append(el('text', { x: px.x0, y: 14 }, 'abs-max per channel'));
  if (!after.length) return svg;
  const legend = [['before', 'before'], ['after', 'after']];
  let lx = narrow ? px.x0 : px.x1 - 150;
  const ly = narrow ? 30 : 10;
  for (const [cls, text] of legend) {
    svg.append(el('line', { class: cls, x1: lx, x2: lx + 18, y1: ly, y2: ly }));
    svg.append(el('text', { x: lx + 23, y: ly + 4 }, text));
    lx += 75;
  }
  return svg;
}

/** "spread 25.9 → 6.3", or what is known. */
export function spreadText(layer) {
  const a = layer.range_spread_before;
  const b = layer.range_spread_after;
  if (a == null) return 'spread not measured';
  return b == null || a === b ? `spread ${fixed(a)}` : `spread ${fixed(a)} → ${fixed(b)}`;
}
