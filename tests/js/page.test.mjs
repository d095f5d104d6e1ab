// The web page in headless Chromium (Debian's, driven by playwright-core),
// as a user meets it: served by scripts/serve.mjs, and as the one-file demo
// (dist/onnx-cle-demo.html, from scripts/build-demo.mjs) opened from
// file://.  A real model no one here wrote (PP-OCRv4 detection) goes in
// through the file input; the equalized model comes out as a download and
// onnxruntime-web shows it computes what the original does.  Every request
// the browser makes is recorded.  Screenshots land in test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, mkdtempSync, writeFileSync, truncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { root, realModels, fixture } from './helpers.mjs';
import { run, compare, randomFeeds, textPage } from './ort.mjs';
import { createPageServer } from '../../scripts/serve.mjs';

const det = realModels['ppocr-det'];
const artifacts = path.join(root, 'test-artifacts');
const demo = pathToFileURL(path.join(root, 'dist/onnx-cle-demo.html')).href;

let browser;
let server;
let origin;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  // the one-file demo from the page as it is now, as `npm run build:demo` makes it
  const built = spawnSync(process.execPath, [path.join(root, 'scripts/build-demo.mjs')], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  server = createPageServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/**
 * Runs fn(page) on a fresh page at url; then there must have been no page
 * error, and no request but those local(url) allows (blob: URLs are the
 * page's own downloads and worker).
 */
async function onPage(url, local, fn) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    const requests = [];
    const errors = [];
    context.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await fn(page);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests.filter((u) => !u.startsWith('blob:') && !local(u)), []);
  } finally {
    await context.close();
  }
}

const served = (u) => u.startsWith(`${origin}/`);

/**
 * Does what act() does to the page and waits for its answer: the page's
 * state goes busy and then ready or error (marked 'waiting' first, so an
 * answer from before cannot pass for this one).
 */
async function answer(page, act) {
  await page.evaluate(() => { document.body.dataset.state = 'waiting'; });
  await act();
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout: 120000 });
  return page.evaluate(() => ({ state: document.body.dataset.state, message: document.getElementById('message').textContent }));
}

/** Drops files in through the file input. */
const give = (page, files) => answer(page, () => page.setInputFiles('#file-input', files));
const press = (page, selector) => answer(page, () => page.click(selector));

/** Clicks a download link or button; returns the file's name and bytes. */
async function download(page, selector) {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
}

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
  // the filter narrows the map to what matches
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
  // per layer: ranges plotted (the first changed layer opens itself) and the SQNR gain
  const plot = await page.$eval('#eq-layers details[open] svg.plot', (svg) => ({
    lines: svg.querySelectorAll('polyline').length, label: svg.getAttribute('aria-label'),
  }));
  assert.equal(plot.lines, 2);
  assert.match(plot.label, /^Per-channel weight ranges of p2o\.Conv\.\d+ before and after/);
  const totals = await page.textContent('#eq-totals');
  assert.match(totals, /Estimated INT8 output SQNR-?\d+\.\d dB → -?\d+\.\d dB [+−]\d+\.\d dB/);
  assert.match(totals, /Mean INT8 weight SQNR\d+\.\d dB → \d+\.\d dB/);
  assert.match(done.message, /; estimated INT8 output SQNR -?\d+\.\d → -?\d+\.\d dB\.$/);

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

    // the drop zone is a button: Tab reaches it, Enter asks the file input
    // for the chooser (counted here: whether headless Chromium then reports
    // the chooser to playwright in time varies from run to run)
    await page.evaluate(() => {
      window.chooserAsked = 0;
      document.getElementById('file-input').addEventListener('click', () => window.chooserAsked++);
    });
    await page.keyboard.press('Tab');
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
    await page.click('.more summary');
    // balancing runs the rounds it is given (the default stops when its estimate does)
    await page.selectOption('#opt-objective', 'balance');
    await page.fill('#opt-iterations', '10000');
    await page.fill('#opt-tolerance', '0');
    const cancelled = await answer(page, async () => {
      await page.click('#equalize');
      // the bar moves: a progress value above zero, shown before the end
      await page.waitForFunction(() => document.getElementById('progress').value > 0, null, { timeout: 60000 });
      await page.click('#cancel');
    });
    assert.equal(cancelled.message, 'Cancelled. The report above is still the last one.');
    assert.equal(await page.isVisible('#findings'), true);
    await page.fill('#opt-iterations', '20');
    const again = await press(page, '#equalize');
    assert.match(again.message, /^Equalized \d+ of \d+ layers/);
    assert.equal(JSON.parse((await download(page, '#dl-eq-report')).bytes).totals.rounds, 20);

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
