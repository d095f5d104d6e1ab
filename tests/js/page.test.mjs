// The web page in headless Chromium (Debian's, driven by playwright-core),
// as a user meets it: served by scripts/serve.mjs, and as the one-file demo
// (dist/onnx-cle-demo.html, from scripts/build-demo.mjs) opened from
// file://.  A real model no one here wrote (PP-OCRv4 detection) goes in
// through the file input; the equalized model comes out as a download and
// onnxruntime-web shows it computes what the original does.  Every request
// the browser makes is recorded.  Screenshots land in test-artifacts/.
// The graph, the in-page proof and axe-core's audit are in
// page-graph.test.mjs; the helpers here are shared with it (page-lib.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { realModels, fixture } from './helpers.mjs';
import { run, compare, randomFeeds, textPage } from './ort.mjs';
import { setUp, tearDown, onPage as openPage, answer, give, press, download, artifacts, demo } from './page-lib.mjs';

const det = realModels['ppocr-det'];

let env;
let origin;
let served;

before(async () => {
  env = await setUp();
  ({ origin, served } = env);
});

after(() => tearDown(env));

const onPage = (url, local, fn, size) => openPage(env, url, local, fn, size);

/**
 * The flow of issue 8 on an open page: check the detection model, see its
 * findings and CLE map, equalize with high-bias absorption off, download
 * the model and the reports, and run both models in onnxruntime-web.
 */
async function detFlow(page) {
  const got = await give(page, det);
  assert.equal(got.state, 'ready', got.message);
  assert.match(got.message, /^Checked ch_PP-OCRv4_det_infer\.onnx in .*: 0 errors, 2 warnings; CLE pairs \d+ of \d+ layers/);

  // findings by rule: the two ConvTranspose warnings, each with message and fix
  const findings = await page.$$eval('#findings section.rule', (rules) => rules.map((r) => ({
    rule: r.dataset.rule,
    items: [...r.querySelectorAll('article')].map((a) => ({
      node: a.querySelector('.node')?.textContent, msg: a.querySelector('.msg').textContent, fix: a.querySelector('.fix').textContent,
    })),
  })));
  assert.deepEqual(findings.map((r) => r.rule), ['conv-transpose']);
  assert.equal(await page.$eval('#findings', (box) => box.firstChild.tagName), 'SECTION');
  assert.deepEqual(findings[0].items.map((f) => f.node), ['p2o.ConvTranspose.0', 'p2o.ConvTranspose.2']);
  for (const f of findings[0].items) {
    assert.match(f.msg, /ConvTranspose p2o\.ConvTranspose\.\d is a deconvolution/);
    assert.match(f.fix, /^Fix: /);
  }
  // the Resize rule ran over the model's six (nearest) Resize nodes and says so
  const passed = await page.$eval('#findings .passed [data-rule="resize-align-corners"]', (li) => li.textContent);
  assert.match(passed, /6 Resize nodes in the main graph, none flagged/);
  // the CLE map: layers with groups or reasons, and the Resize nodes that chains pass through
  const map = await page.evaluate(() => ({
    layers: document.querySelectorAll('#map-layers li[data-node]').length,
    blocked: document.querySelectorAll('#map-layers .why.blocked').length,
    resize: [...document.querySelectorAll('#map-regions [data-op="Resize"]')].map((c) => c.textContent),
  }));
  assert.equal(map.layers, 64);
  assert.ok(map.blocked > 0 && map.blocked < 64, `${map.blocked} layers with a reason`);
  assert.deepEqual(map.resize.sort(), [0, 1, 2, 3, 4, 5].map((i) => `Resizep2o.Resize.${i}`));
  // the graph draws the model, with the map on it: every layer a box, Resize among the ops the chains
  // pass through (read from the exported SVG: in the page only what is in view is drawn)
  const svg = (await download(page, '#graph-export')).bytes.toString('utf8');
  assert.equal((svg.match(/<g class="node op layer/g) ?? []).length, 64);
  const through = [...svg.matchAll(/<g class="node op through[^"]*"[^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);
  assert.ok(through.filter((t) => /^p2o\.Resize\.\d — Resize/.test(t)).length >= 2, through.join('\n'));
  await page.click('#graph-fit');
  // fitted, an overview: one path per kind of box, far fewer elements than the 332 boxes
  await page.waitForSelector('#graph .overview path');
  const elements = await page.$$eval('#graph svg *', (e) => e.length);
  assert.ok(elements < 150, `${elements} SVG elements in the overview`);
  // the filter of the lists narrows the map to what matches
  await page.click('#tab-lists');
  await page.fill('#map-filter', 'resize');
  const shown = await page.$$eval('#map-regions li[data-region]', (li) => li.filter((x) => !x.hidden).length);
  assert.equal(shown, 2);
  await page.fill('#map-filter', '');

  const report = await download(page, '#dl-check');
  assert.equal(report.name, 'ch_PP-OCRv4_det_infer.check.json');
  assert.equal(JSON.parse(report.bytes).findings.length, 2);
  const sarif = await download(page, '#dl-sarif');
  assert.equal(sarif.name, 'ch_PP-OCRv4_det_infer.sarif');
  const log = JSON.parse(sarif.bytes);
  assert.equal(log.version, '2.1.0');
  assert.equal(log.runs[0].results.length, 2);
  assert.equal(log.runs[0].artifacts[0].location.uri, 'ch_PP-OCRv4_det_infer.onnx');

  assert.equal(await page.isChecked('#opt-hbf'), false, 'high-bias absorption is off by default');
  const done = await press(page, '#equalize');
  assert.match(done.message, /^Equalized \d+ of 64 layers in /);
  // the answer is beside the button pressed, in view
  assert.equal(await page.evaluate(() => document.body.dataset.status), 'eq-message');
  assert.ok(await page.$eval('#eq-message', (e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }));
  // per layer: ranges plotted (the first changed layer opens itself) and the SQNR gain
  const plot = await page.$eval('#eq-layers details[open] svg.plot', (svg) => ({
    lines: svg.querySelectorAll('polyline').length, label: svg.getAttribute('aria-label'),
  }));
  assert.equal(plot.lines, 2);
  assert.match(plot.label, /^Per-channel weight ranges of p2o\.Conv\.\d+ before and after/);
  const totals = await page.textContent('#eq-totals');
  assert.match(totals, /Estimated INT8 output SQNR-?\d+\.\d dB → -?\d+\.\d dB [+−]\d+\.\d dB/);
  assert.match(totals, /Mean INT8 weight SQNR\d+\.\d dB → \d+\.\d dB/);
  assert.match(done.message, /; estimated INT8 output SQNR -?\d+\.\d → -?\d+\.\d dB\./);

  const model = await download(page, '#dl-model');
  assert.equal(model.name, 'ch_PP-OCRv4_det_infer.equalized.onnx');
  const eq = JSON.parse((await download(page, '#dl-eq-report')).bytes);
  assert.ok(eq.totals.equalized > 0);
  const feeds = { x: textPage(64, 64) };
  const c = compare(await run(readFileSync(det), feeds), await run(model.bytes, feeds));
  assert.ok(c.relErr <= 1e-4, `relative error ${c.relErr}`);
  return eq;
}

test('served page: PP-OCRv4 detection checked, mapped, equalized and downloaded; nothing leaves the origin', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    await detFlow(page);
    await page.screenshot({ path: path.join(artifacts, 'page-1280-light.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => document.getElementById('eq-result').scrollIntoView());
    // the open plot is drawn again for the narrower width
    await page.waitForFunction(() => Number(document.querySelector('#eq-layers svg.plot').getAttribute('width')) < 390);
    await page.screenshot({ path: path.join(artifacts, 'page-390-dark.png') });
    // narrow: nothing wider than the screen
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `the page is ${wide} px wide at 390`);
  });
});

test('one-file demo from file://: the same flow, and no request at all beyond the file itself', async () => {
  await onPage(demo, (u) => u === demo, detFlow);
});

test('a file that is not a model, a truncated one, one too big: each gets a sentence; the next good file still works', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const png = { name: 'photo.onnx', mimeType: 'application/octet-stream', buffer: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex') };
    let got = await give(page, png);
    assert.equal(got.state, 'error');
    assert.match(got.message, /^Cannot check photo\.onnx: .*PNG.*\.$/);

    const whole = readFileSync(det);
    const cut = { name: 'cut.onnx', mimeType: 'application/octet-stream', buffer: whole.subarray(0, 100000) };
    got = await give(page, cut);
    assert.equal(got.state, 'error');
    assert.match(got.message, /^Cannot check cut\.onnx: .*truncated.*\.$/);
    assert.equal(await page.isHidden('#report'), true);

    // bigger than a wasm32 memory can hold: said before anything is read (a sparse file, no disk used)
    const huge = path.join(mkdtempSync(path.join(tmpdir(), 'onnx-cle-page-')), 'huge.onnx');
    writeFileSync(huge, '');
    truncateSync(huge, 5 * 2 ** 30);
    try {
      got = await give(page, huge);
    } finally {
      rmSync(path.dirname(huge), { recursive: true });
    }
    assert.equal(got.state, 'error');
    assert.match(got.message, /^huge\.onnx is 5\.4 GB, too big for this page: onnx-cle's WebAssembly memory holds 4 GiB in all.*Use the command line/);

    // the drop zone is a button: the keyboard reaches it, Enter asks the file input
    // for the chooser (counted here: whether headless Chromium then reports
    // the chooser to playwright in time varies from run to run)
    await page.evaluate(() => {
      window.chooserAsked = 0;
      document.getElementById('file-input').addEventListener('click', () => window.chooserAsked++);
    });
    // (from the sample button, the next stop after it: Shift+Tab)
    await page.focus('#sample');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'drop');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.chooserAsked === 1);
    got = await give(page, fixture('vgg_like_bn.onnx'));
    assert.equal(got.state, 'ready', got.message);
    assert.match(got.message, /^Checked vgg_like_bn\.onnx/);
    got = await press(page, '#equalize');
    assert.match(got.message, /^Equalized [1-9]\d* of \d+ layers/);
  });
});

test('cancel stops a long equalization; the page goes on with the next one, and the reference mode', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const got = await give(page, realModels['ppocr-rec']);
    assert.equal(got.state, 'ready', got.message);
    // the graph marks the ops that stop chains, each with its reason (here the first op of a hard-swish)
    await page.fill('#graph-search', 'p2o.Add.4');
    await page.press('#graph-search', 'Enter');
    assert.equal(await page.getAttribute('#graph g.selected', 'data-name'), 'p2o.Add.4');
    assert.match(await page.getAttribute('#graph g.selected', 'class'), /\bstops\b/);
    assert.match(await page.textContent('#graph-details'),
      /Stops a chain: tensor 'p2o\.Add\.3' is read by Add node p2o\.Add\.4, part of a HardSwish/);
    assert.ok(await page.$$eval('#graph g.stops', (g) => g.length) > 0);
    await page.click('.more summary');
    // balancing runs the rounds it is given (the default stops when its estimate does)
    await page.selectOption('#opt-objective', 'balance');
    await page.fill('#opt-iterations', '10000');
    await page.fill('#opt-tolerance', '0');
    const cancelled = await answer(page, async () => {
      await page.click('#equalize');
      // the bar moves: a progress value above zero, shown before the end
      await page.waitForFunction(() => document.getElementById('eq-progress').value > 0, null, { timeout: 60000 });
      // focus went from the button that disabled itself to Cancel, beside the bar, in view
      assert.equal(await page.evaluate(() => document.activeElement.id), 'eq-cancel');
      assert.ok(await page.$eval('#eq-progress', (e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }));
      await page.click('#eq-cancel');
    });
    assert.equal(cancelled.message, 'Cancelled. The report above is still the last one.');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'equalize');
    assert.equal(await page.isVisible('#findings'), true);
    await page.fill('#opt-iterations', '20');
    const again = await press(page, '#equalize');
    assert.match(again.message, /^Equalized \d+ of \d+ layers/);
    assert.equal(JSON.parse((await download(page, '#dl-eq-report')).bytes).totals.rounds, 20);
    // all the rounds it was given: the page says the limit stopped it
    assert.match(await page.textContent('#eq-totals'), /20 rounds \(\d+\.\d passes over the weights\) in .*the limit of 20 rounds was reached before the scales settled/);

    // reference only: one pass whatever the rounds field says, ReLU6 as ReLU
    await page.check('#opt-reference');
    assert.equal(await page.inputValue('#opt-relu6'), 'relu');
    assert.equal(await page.isDisabled('#opt-iterations'), true);
    const ref = await press(page, '#equalize');
    assert.match(ref.message, /^Equalized \d+ of \d+ layers/);
    assert.equal(JSON.parse((await download(page, '#dl-eq-report')).bytes).totals.rounds, 1);
  });
});

test('a model with its external-data file, dropped together: equalized into a model and a new data file', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const files = [fixture('vgg_like_external.onnx'), fixture('vgg_like_external.weights')];
    const got = await give(page, files);
    assert.equal(got.state, 'ready', got.message);
    assert.match(await page.textContent('#model-facts'), /in external data \(given: vgg_like_external\.weights\)/);
    await page.uncheck('#opt-hbf');
    const done = await press(page, '#equalize');
    assert.match(done.message, /^Equalized [1-9]\d* of \d+ layers/);
    const model = await download(page, '#dl-model');
    const data = await download(page, '#dl-data a');
    assert.equal(model.name, 'vgg_like_external.equalized.onnx');
    assert.equal(data.name, 'vgg_like_external.equalized.onnx.data');
    assert.ok(model.bytes.length < 10000, `the weights stay outside the model (${model.bytes.length} bytes)`);
    const feeds = randomFeeds([{ name: 'input', shape: [1, 3, 32, 32], dtype: 'float32' }], 3);
    const before = await run(readFileSync(files[0]), feeds, { externalData: { 'vgg_like_external.weights': readFileSync(files[1]) } });
    const after = await run(model.bytes, feeds, { externalData: { [data.name]: data.bytes } });
    const c = compare(before, after);
    assert.ok(c.relErr <= 1e-4, `relative error ${c.relErr}`);
  });
});

test('the embed example: the one-file demo in a sandboxed iframe checks a model', async () => {
  await onPage(`${origin}/examples/`, served, async (page) => {
    const frame = await (await page.waitForSelector('iframe')).contentFrame();
    await frame.waitForSelector('#file-input', { state: 'attached' });
    assert.match(frame.url(), /\/dist\/onnx-cle-demo\.html$/);
    const got = await answer(frame, () => frame.setInputFiles('#file-input', fixture('vgg_like_bn.onnx')));
    assert.equal(got.state, 'ready', got.message);
    assert.match(got.message, /^Checked vgg_like_bn\.onnx .*CLE pairs [1-9]/);
  });
});
