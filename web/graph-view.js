// graph-view.js — the model as a graph (laid out in the worker by
// onnx-cle's graph()), with the CLE map on it: layers coloured by group,
// the ops a chain passes through tinted with it, the op that stops a chain
// marked with its reason.  Pan (drag, wheel, Shift+arrows), zoom (Ctrl+wheel,
// pinch, + and −), fit (0), search, select a node (click, or arrow keys from
// node to node), export as SVG.  Only what is in view (and a margin) is in
// the DOM, and names are dropped when zoomed far out, so a model of
// thousands of nodes pans as smoothly as a small one.

const NS = 'http://www.w3.org/2000/svg';
const MIN_SCALE = 0.01;
const MAX_SCALE = 4;
const FAR = 0.45; // below this scale, boxes lose their text
const OVERVIEW = 0.12; // below this, boxes of a kind are one path each (a few DOM nodes however big the model)

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// a hue per group number, spread around the wheel but never red (red means "stops")
const HUES = [210, 150, 35, 275, 185, 95, 320, 55, 245, 125, 195, 300];
export const groupHue = (g) => HUES[g % HUES.length];

/** Up to n characters, an ellipsis when cut. */
const cut = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * What the check report says of each node: { layers: name → layer row,
 * through: name → group (or null), stops: name → [sentences], regions }.
 * A region's or layer's reason names the op that stops it as "<Op> node
 * <name>"; the name is found among the graph's nodes.
 */
export function cleOverlay(check, names) {
  const layers = new Map(check.cle.layers.map((l) => [l.node, l]));
  const groupOf = (n) => layers.get(n)?.group ?? null;
  const through = new Map();
  const stops = new Map();
  const blame = (sentence) => {
    let at = sentence.indexOf(' node ');
    while (at >= 0) {
      const rest = sentence.slice(at + 6);
      // the longest known name the text goes on with, ending where a word does
      let best = null;
      for (let end = rest.length; end > 0; end--) {
        if (end < rest.length && !/[\s,;:]/.test(rest[end])) continue;
        if (names.has(rest.slice(0, end))) {
          best = rest.slice(0, end);
          break;
        }
      }
      if (best) {
        if (!stops.has(best)) stops.set(best, []);
        if (!stops.get(best).includes(sentence)) stops.get(best).push(sentence);
      }
      at = sentence.indexOf(' node ', at + 6);
    }
  };
  for (const r of check.cle.regions) {
    const g = r.blocked ? null : groupOf(r.producers[0] ?? r.consumers[0]);
    for (const t of r.through) if (!through.has(t.node) || g !== null) through.set(t.node, g);
    if (r.blocked) blame(r.blocked);
  }
  return { layers, through, stops };
}

/**
 * A view on `viewport` (a focusable element holding nothing else), telling
 * select(node|null) and say(text) what happens.
 */
export function createGraphView(viewport, { onSelect = () => {}, say = () => {} } = {}) {
  const svg = el('svg', { class: 'graph', 'aria-hidden': 'true', focusable: 'false' });
  const defs = el('defs');
  defs.append(el('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }));
  defs.firstChild.append(el('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrow' }));
  const edgeLayer = el('g', { class: 'edges' });
  const nodeLayer = el('g', { class: 'nodes' });
  svg.append(defs, edgeLayer, nodeLayer);
  const overviewHolder = svg; // the overview layer goes in when needed
  viewport.replaceChildren(svg);

  let g = null; // the graph
  let overlay = null;
  let view = { x: 0, y: 0, s: 1 }; // graph point at the top left, pixels per unit
  let shown = new Map(); // node id → element
  let shownEdges = new Map();
  let drawn = null; // the graph rectangle the DOM holds
  let overview = false; // drawn as an overview (one path per kind of box)
  const overviewLayer = el('g', { class: 'overview' });
  let selected = -1;
  let byRank = []; // rank → ids by x
  let matches = [];
  let match = -1;
  let frame = 0;

  const size = () => ({ w: viewport.clientWidth || 600, h: viewport.clientHeight || 400 });

  function classesOf(n) {
    const c = ['node', n.kind];
    const o = overlay;
    if (n.kind === 'op' && o) {
      const l = o.layers.get(n.name);
      if (l) c.push(l.group === null ? 'layer alone' : 'layer');
      else if (o.through.has(n.name)) c.push('through');
      if (o.stops.has(n.name)) c.push('stops');
    }
    if (n.id === selected) c.push('selected');
    if (matches.length && matches.includes(n.id)) c.push('match');
    return c.join(' ');
  }

  function hueOf(n) {
    if (!overlay || n.kind !== 'op') return null;
    const l = overlay.layers.get(n.name);
    const grp = l ? l.group : overlay.through.get(n.name);
    return grp === null || grp === undefined ? null : groupHue(grp);
  }

  function nodeElement(n) {
    const hue = hueOf(n);
    const e = el('g', { class: classesOf(n), 'data-id': n.id, 'data-name': n.name, transform: `translate(${n.x - n.w / 2},${n.y - n.h / 2})` });
    if (hue !== null) e.style.setProperty('--hue', hue);
    e.append(el('rect', { width: n.w, height: n.h, rx: n.kind === 'op' ? 5 : 15 }));
    const label = n.kind === 'op' ? n.op : n.name;
    e.append(el('text', { x: n.w / 2, y: n.h / 2 + 4, 'text-anchor': 'middle' }, cut(label, Math.floor((n.w - 10) / 7))));
    if (overlay?.stops.has(n.name)) e.append(el('circle', { class: 'stop-mark', cx: n.w - 2, cy: 2, r: 6 }));
    return e;
  }

  function edgePath(p) {
    let d = `M${p[0]},${p[1]}`;
    for (let i = 2; i < p.length; i += 2) d += `L${p[i]},${p[i + 1]}`;
    return d;
  }

  function edgeElement(e) {
    const a = g.nodes[e.from];
    const b = g.nodes[e.to];
    const ha = hueOf(a);
    const same = ha !== null && ha === hueOf(b);
    const stop = overlay?.stops.has(b.name) && !overlay.stops.has(a.name);
    const p = el('path', { d: edgePath(e.points), class: `edge${same ? ' grouped' : ''}${stop ? ' into-stop' : ''}`, 'marker-end': 'url(#arrow)' });
    if (same) p.style.setProperty('--hue', ha);
    return p;
  }

  /** Puts in the DOM what lies in rect (graph units), takes out what does not. */
  function fill(rect) {
    const inside = (x0, y0, x1, y1) => x1 >= rect.x0 && x0 <= rect.x1 && y1 >= rect.y0 && y0 <= rect.y1;
    const keepNodes = new Map();
    for (const n of g.nodes) {
      if (!inside(n.x - n.w / 2, n.y - n.h / 2, n.x + n.w / 2, n.y + n.h / 2)) continue;
      keepNodes.set(n.id, shown.get(n.id) ?? nodeElement(n));
    }
    const keepEdges = new Map();
    g.edges.forEach((e, i) => {
      if (!e.points || !inside(e.box[0], e.box[1], e.box[2], e.box[3])) return;
      keepEdges.set(i, shownEdges.get(i) ?? edgeElement(e));
    });
    for (const [id, e] of shown) if (!keepNodes.has(id)) e.remove();
    for (const [id, e] of shownEdges) if (!keepEdges.has(id)) e.remove();
    for (const [id, e] of keepNodes) if (!shown.has(id)) nodeLayer.append(e);
    for (const [id, e] of keepEdges) if (!shownEdges.has(id)) edgeLayer.append(e);
    shown = keepNodes;
    shownEdges = keepEdges;
    drawn = rect;
  }

  /** The overview of what lies in rect: edges as one path, boxes as one path per kind. */
  function fillOverview(rect) {
    const inside = (x0, y0, x1, y1) => x1 >= rect.x0 && x0 <= rect.x1 && y1 >= rect.y0 && y0 <= rect.y1;
    const kinds = new Map(); // class and hue → path data
    let edges = '';
    for (const e of g.edges) if (e.points && inside(...e.box)) edges += edgePath(e.points);
    for (const n of g.nodes) {
      if (!inside(n.x - n.w / 2, n.y - n.h / 2, n.x + n.w / 2, n.y + n.h / 2)) continue;
      const key = `${classesOf(n)}|${hueOf(n) ?? ''}`;
      kinds.set(key, `${kinds.get(key) ?? ''}M${n.x - n.w / 2},${n.y - n.h / 2}h${n.w}v${n.h}h${-n.w}z`);
    }
    const parts = [el('path', { class: 'edge', d: edges || 'M0,0' })];
    for (const [key, d] of kinds) {
      const [cls, hue] = key.split('|');
      const g1 = el('g', { class: cls });
      if (hue) g1.style.setProperty('--hue', hue);
      g1.append(el('path', { d, class: 'box' }));
      parts.push(g1);
    }
    overviewLayer.replaceChildren(...parts);
    if (!overviewLayer.isConnected) overviewHolder.append(overviewLayer);
    drawn = rect;
  }

  function clearDrawn() {
    for (const e of [...shown.values(), ...shownEdges.values()]) e.remove();
    shown = new Map();
    shownEdges = new Map();
    overviewLayer.replaceChildren();
    overviewLayer.remove();
    drawn = null;
  }

  function render() {
    frame = 0;
    if (!g) return;
    const { w, h } = size();
    svg.setAttribute('viewBox', `${view.x} ${view.y} ${w / view.s} ${h / view.s}`);
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.classList.toggle('far', view.s < FAR);
    if ((view.s < OVERVIEW) !== overview) {
      overview = view.s < OVERVIEW;
      clearDrawn();
    }
    const vis = { x0: view.x, y0: view.y, x1: view.x + w / view.s, y1: view.y + h / view.s };
    if (!drawn || vis.x0 < drawn.x0 || vis.y0 < drawn.y0 || vis.x1 > drawn.x1 || vis.y1 > drawn.y1) {
      // a margin of half a screen each way, so that small pans touch no DOM
      const mx = (vis.x1 - vis.x0) / 2;
      const my = (vis.y1 - vis.y0) / 2;
      const rect = { x0: vis.x0 - mx, y0: vis.y0 - my, x1: vis.x1 + mx, y1: vis.y1 + my };
      if (overview) fillOverview(rect);
      else fill(rect);
    }
  }
  const later = () => {
    frame ||= requestAnimationFrame(render);
  };

  // some of the graph stays in view, however far it is dragged
  function setView(v) {
    if (!g) return;
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, v.s));
    const { w, h } = size();
    const keep = 40 / s;
    const clamp = (x, lo, hi) => Math.min(Math.max(x, lo), hi);
    view = { x: clamp(v.x, keep - w / s, g.width - keep), y: clamp(v.y, keep - h / s, g.height - keep), s };
    later();
  }

  function zoomAt(factor, px, py) {
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.s * factor));
    const gx = view.x + px / view.s;
    const gy = view.y + py / view.s;
    setView({ x: gx - px / s, y: gy - py / s, s });
  }

  function fit() {
    if (!g) return;
    const { w, h } = size();
    const s = Math.min(w / g.width, h / g.height, 1);
    setView({ x: -(w / s - g.width) / 2, y: -(h / s - g.height) / 2, s });
  }

  /** The top of the graph, as wide as fits (not below half size). */
  function home() {
    const { w } = size();
    const s = Math.max(0.5, Math.min(1, w / g.width));
    setView({ x: -(w / s - g.width) / 2, y: 0, s });
  }

  function centre(n) {
    const { w, h } = size();
    const s = Math.max(view.s, 0.6);
    setView({ x: n.x - w / s / 2, y: n.y - h / s / 2, s });
  }

  function restyle(id) {
    if (overview) {
      drawn = null; // the overview draws classes into its paths: draw it again
      later();
      return;
    }
    const e = shown.get(id);
    if (e) e.setAttribute('class', classesOf(g.nodes[id]));
  }

  function select(id, { centreOn = true } = {}) {
    const old = selected;
    selected = id;
    if (old >= 0) restyle(old);
    if (id >= 0) {
      restyle(id);
      if (centreOn) centre(g.nodes[id]);
    }
    onSelect(id >= 0 ? g.nodes[id] : null);
  }

  function show(graph, cle) {
    g = graph;
    g.nodes.forEach((n, i) => { n.id = i; });
    for (const e of g.edges) {
      if (!e.points) continue;
      let x0 = Infinity;
      let y0 = Infinity;
      let x1 = -Infinity;
      let y1 = -Infinity;
      for (let i = 0; i < e.points.length; i += 2) {
        x0 = Math.min(x0, e.points[i]);
        x1 = Math.max(x1, e.points[i]);
        y0 = Math.min(y0, e.points[i + 1]);
        y1 = Math.max(y1, e.points[i + 1]);
      }
      e.box = [x0, y0, x1, y1];
    }
    g.preds = g.nodes.map(() => []);
    g.succs = g.nodes.map(() => []);
    for (const e of g.edges) {
      g.succs[e.from].push(e.to);
      g.preds[e.to].push(e.from);
    }
    byRank = [];
    for (const n of g.nodes) (byRank[n.rank] ??= []).push(n.id);
    for (const row of byRank) row?.sort((a, b) => g.nodes[a].x - g.nodes[b].x);
    overlay = cle ? cleOverlay(cle, new Set(g.nodes.map((n) => n.name))) : null;
    selected = -1;
    matches = [];
    match = -1;
    clearDrawn();
    home();
  }

  function search(q) {
    const text = q.trim().toLowerCase();
    const old = matches;
    matches = text ? g.nodes.filter((n) => n.name.toLowerCase().includes(text) || n.op.toLowerCase() === text).map((n) => n.id) : [];
    match = -1;
    for (const id of new Set([...old, ...matches])) restyle(id);
    return matches.length;
  }

  function nextMatch(step = 1) {
    if (!matches.length) return null;
    match = (match + step + matches.length) % matches.length;
    select(matches[match]);
    return { at: match + 1, of: matches.length };
  }

  // the nearest by x among candidates
  const nearest = (ids, x) => ids.reduce((best, id) => (best < 0 || Math.abs(g.nodes[id].x - x) < Math.abs(g.nodes[best].x - x) ? id : best), -1);

  function move(key) {
    if (selected < 0) {
      const first = byRank.find((row) => row && row.length);
      if (first) select(first[0]);
      return;
    }
    const n = g.nodes[selected];
    let next = -1;
    if (key === 'ArrowDown') next = nearest(g.succs[selected], n.x);
    else if (key === 'ArrowUp') next = nearest(g.preds[selected], n.x);
    else {
      const row = byRank[n.rank];
      const i = row.indexOf(selected) + (key === 'ArrowRight' ? 1 : -1);
      if (i >= 0 && i < row.length) next = row[i];
      else {
        // along the ranks: the next rank that has a node on that side
        for (let r = n.rank + (key === 'ArrowRight' ? 1 : -1); r >= 0 && r < byRank.length && next < 0; r += key === 'ArrowRight' ? 1 : -1) {
          if (byRank[r]?.length) next = key === 'ArrowRight' ? byRank[r][0] : byRank[r][byRank[r].length - 1];
        }
      }
    }
    if (next >= 0) select(next);
    else say(key === 'ArrowDown' ? 'Nothing reads this node.' : key === 'ArrowUp' ? 'Nothing feeds this node.' : 'No node that way.');
  }

  // ---------------------------------------------------------------- input
  const pointers = new Map();
  let drag = null;
  viewport.addEventListener('pointerdown', (e) => {
    if (!g || (e.pointerType === 'mouse' && e.button !== 0)) return;
    viewport.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    drag = { x: e.clientX, y: e.clientY, view: { ...view }, moved: 0, target: e.target, pinch: pointers.size === 2 ? null : undefined };
  });
  viewport.addEventListener('pointermove', (e) => {
    if (!drag || !pointers.has(e.pointerId)) return;
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a.x - b.x, a.y - b.y);
      const r = viewport.getBoundingClientRect();
      if (drag.pinch == null) drag.pinch = { dist, s: view.s };
      else zoomAt((drag.pinch.s * dist) / drag.pinch.dist / view.s, (a.x + b.x) / 2 - r.left, (a.y + b.y) / 2 - r.top);
      drag.moved = Infinity;
      return;
    }
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    drag.moved = Math.max(drag.moved, Math.abs(dx) + Math.abs(dy));
    if (drag.moved > 3) setView({ x: drag.view.x - dx / view.s, y: drag.view.y - dy / view.s, s: view.s });
  });
  const release = (e) => {
    pointers.delete(e.pointerId);
    if (!drag) return;
    if (drag.moved <= 3 && e.type === 'pointerup') {
      const hit = drag.target?.closest?.('[data-id]');
      select(hit ? Number(hit.dataset.id) : boxAt(e), { centreOn: overview });
    }
    drag = pointers.size ? { ...drag, moved: Infinity } : null;
  };
  // in the overview boxes are paths: the box under the pointer (a few pixels around it count)
  function boxAt(e) {
    if (!overview) return -1;
    const r = viewport.getBoundingClientRect();
    const x = view.x + (e.clientX - r.left) / view.s;
    const y = view.y + (e.clientY - r.top) / view.s;
    const slack = 4 / view.s;
    const n = g.nodes.find((b) => Math.abs(b.x - x) <= b.w / 2 + slack && Math.abs(b.y - y) <= b.h / 2 + slack);
    return n ? n.id : -1;
  }
  viewport.addEventListener('pointerup', release);
  viewport.addEventListener('pointercancel', release);
  viewport.addEventListener('wheel', (e) => {
    if (!g) return;
    e.preventDefault();
    const r = viewport.getBoundingClientRect();
    if (e.ctrlKey || e.metaKey) zoomAt(Math.exp(-e.deltaY * 0.0025), e.clientX - r.left, e.clientY - r.top);
    else setView({ x: view.x + e.deltaX / view.s, y: view.y + e.deltaY / view.s, s: view.s });
  }, { passive: false });
  viewport.addEventListener('keydown', (e) => {
    if (!g || e.altKey || e.ctrlKey || e.metaKey) return;
    const { w, h } = size();
    const pan = 80 / view.s;
    const keys = {
      '+': () => zoomAt(1.25, w / 2, h / 2), '=': () => zoomAt(1.25, w / 2, h / 2), '-': () => zoomAt(0.8, w / 2, h / 2),
      0: fit, Home: () => select(byRank.find((row) => row?.length)?.[0] ?? -1), Escape: () => select(-1, { centreOn: false }),
    };
    if (e.key.startsWith('Arrow')) {
      if (e.shiftKey) {
        const d = { ArrowLeft: [-pan, 0], ArrowRight: [pan, 0], ArrowUp: [0, -pan], ArrowDown: [0, pan] }[e.key];
        setView({ x: view.x + d[0], y: view.y + d[1], s: view.s });
      } else move(e.key);
    } else if (keys[e.key]) keys[e.key]();
    else return;
    e.preventDefault();
  });
  const resize = new ResizeObserver(() => later());
  resize.observe(viewport);

  /** The whole graph as a standalone SVG document (every node, light colours). */
  function exportSvg() {
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    const out = [`<svg xmlns="${NS}" viewBox="0 0 ${g.width} ${g.height}" width="${g.width}" height="${g.height}" font-family="system-ui, sans-serif" font-size="12">`,
      '<style>.edge{fill:none;stroke:#8a93a3;stroke-width:1.2}.node rect{fill:#fff;stroke:#6b7280}.node text{fill:#1b1f27}' +
      '.input rect,.output rect{fill:#eef1f6}.stops rect{stroke:#b3261e;stroke-width:3}.alone rect{fill:#e5e7eb;stroke-dasharray:4 3}</style>'];
    for (const e of g.edges) {
      if (!e.points) continue;
      const a = hueOf(g.nodes[e.from]);
      const same = a !== null && a === hueOf(g.nodes[e.to]);
      out.push(`<path class="edge" d="${edgePath(e.points)}"${same ? ` style="stroke:hsl(${a} 60% 45%)"` : ''}/>`);
    }
    for (const n of g.nodes) {
      const hue = hueOf(n);
      const layer = overlay?.layers.get(n.name);
      const fillStyle = hue === null ? '' : ` style="fill:hsl(${hue} 70% ${layer ? 80 : 92}%);stroke:hsl(${hue} 55% 40%)"`;
      const title = [n.name, n.op, layer ? (layer.group === null ? 'not paired' : `group ${layer.group}`) : '',
        ...(overlay?.stops.get(n.name) ?? [])].filter(Boolean).join(' — ');
      out.push(`<g class="${esc(classesOf(n).replace(/ ?(selected|match)/g, ''))}" transform="translate(${n.x - n.w / 2},${n.y - n.h / 2})">` +
        `<title>${esc(title)}</title><rect width="${n.w}" height="${n.h}" rx="${n.kind === 'op' ? 5 : 15}"${fillStyle}/>` +
        `<text x="${n.w / 2}" y="${n.h / 2 + 4}" text-anchor="middle">${esc(cut(n.kind === 'op' ? n.op : n.name, Math.floor((n.w - 10) / 7)))}</text></g>`);
    }
    out.push('</svg>');
    return out.join('\n');
  }

  return {
    show, fit, home, search, nextMatch, select: (id) => select(id), exportSvg,
    zoom: (f) => { const { w, h } = size(); zoomAt(f, w / 2, h / 2); },
    find: (name) => (g ? g.nodes.findIndex((n) => n.name === name) : -1),
    get graph() { return g; },
    get overlay() { return overlay; },
    get selected() { return selected; },
    clear: () => {
      g = null;
      clearDrawn();
    },
  };
}
