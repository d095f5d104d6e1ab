// The page's graph view, its in-page proof and its accessibility, in
// headless Chromium (page-lib.mjs): a MobileNetV2-like model drawn with its
// CLE map, used by mouse and keyboard, searched and exported; equalized and
// proven with onnxruntime-web in the worker (loaded from the page's own
// origin, under the page's Content-Security-Policy); the proof cancelled
// and run again; the sample model with its dynamic batch dimension set by
// the user; the proof on an image dropped on it (a PNG made here); a model
// with nothing to equalize; the one-file demo's word on the proof; axe-core
// at desktop and phone sizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { fixture } from './helpers.mjs';
import { verify, tune } from '../../wasm/index.node.js';
import { readModel, readValues, storage } from '../../wasm/onnx-proto.js';
import { sampleModel } from '../../wasm/sample.js';
import { setUp, tearDown, onPage as openPage, answer, give, press, download, axeViolations, artifacts, demo } from './page-lib.mjs';

let env;
let origin;
let served;

before(async () => {
  env = await setUp();
  ({ origin, served } = env);
});

after(() => tearDown(env));

const onPage = (url, local, fn, size) => openPage(env, url, local, fn, size);
const inView = (page, sel) => page.$eval(sel, (e) => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; });
const proof = (page) => page.$eval('#proof-result', (e) => Object.fromEntries(Object.entries(e.dataset).map(([k, v]) => [k, Number(v)])));

test('graph: every layer of a MobileNetV2-like model drawn in its group colour; click, keys, search, export; then the proof', async () => {
  await onPage(`${origin}/web/`, served, async (page, requests) => {
    const got = await give(page, fixture('mobilenetv2_like_folded.onnx'));
    assert.equal(got.state, 'ready', got.message);
    // onnxruntime-web is not loaded before the proof needs it
    assert.deepEqual(requests.filter((u) => u.includes('/ort/')), []);
    const check = JSON.parse((await download(page, '#dl-check')).bytes);
    await page.click('#graph-fit');
    await page.waitForFunction(() => document.querySelectorAll('#graph svg *').length >= 100);
    const drawn = await page.evaluate(() => ({
      elements: document.querySelectorAll('#graph svg *').length,
      layers: [...document.querySelectorAll('#graph g.layer')].map((g) => ({ name: g.dataset.name, hue: g.style.getPropertyValue('--hue') })),
      boxes: document.querySelectorAll('#graph g.node').length,
    }));
    assert.ok(drawn.elements >= 100, `${drawn.elements} SVG elements`);
    assert.deepEqual(drawn.layers.map((l) => l.name).sort(), check.cle.layers.map((l) => l.node).sort());
    for (const l of check.cle.layers) {
      const hue = drawn.layers.find((d) => d.name === l.node).hue;
      assert.equal(hue === '', l.group === null, `${l.node}: group ${l.group}, hue '${hue}'`);
    }

    // click a layer: its attributes, its tensors with shapes, its weight's per-channel ranges
    const first = check.cle.layers[0].node;
    await page.click(`#graph g.node[data-name="${first}"]`);
    const details = await page.textContent('#graph-details');
    assert.match(details, new RegExp(`Conv ${first.replace(/[/.]/g, '\\$&')}`));
    assert.match(details, /Attributes.*kernel_shape/s);
    assert.match(details, /weight, float32 \[\d+, \d+, \d+, \d+\]/);
    assert.match(details, /Weight ranges per output channel/);
    assert.equal(await page.$$eval('#graph-details svg.plot polyline', (p) => p.length), 1);

    // by keyboard: focus the graph, go down the chain, fit, zoom
    await page.focus('#graph');
    await page.keyboard.press('Home');
    const start = await page.textContent('#graph-said');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    const moved = await page.textContent('#graph-said');
    assert.notEqual(moved, start);
    assert.match(moved, /^\w+ .+: /);
    const before = await page.$eval('#graph svg', (s) => s.getAttribute('viewBox'));
    await page.keyboard.press('+');
    await page.waitForFunction((v) => document.querySelector('#graph svg').getAttribute('viewBox') !== v, before);

    // search: matches counted, Enter goes to each in turn
    await page.fill('#graph-search', 'conv');
    assert.match(await page.textContent('#graph-found'), /^\d+ found/);
    await page.press('#graph-search', 'Enter');
    assert.match(await page.textContent('#graph-found'), /^1 of \d+$/);
    assert.match(await page.textContent('#graph-details h3'), /^Conv /);

    // export: the whole graph as one SVG file, every box in it
    const svg = await download(page, '#graph-export');
    assert.equal(svg.name, 'mobilenetv2_like_folded.graph.svg');
    const text = svg.bytes.toString('utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((text.match(/<g class="node/g) ?? []).length, drawn.boxes);

    // Equalize: the proof runs by itself (a small model) and says the function is kept and INT8 is better
    const done = await press(page, '#equalize');
    assert.equal(done.state, 'ready', done.message);
    assert.match(done.message, /^Equalized 18 of 18 layers .* Proof: outputs within \d\.\de-\d+; INT8 output SQNR per tensor/);
    const r = await proof(page);
    assert.ok(r.maxRelErr <= 1e-3, `relative difference ${r.maxRelErr}`);
    assert.ok(r.sqnrAfterDb > r.sqnrBeforeDb, `per tensor ${r.sqnrBeforeDb} → ${r.sqnrAfterDb} dB`);
    assert.ok(Number.isFinite(r.sqnrPcBeforeDb) && Number.isFinite(r.sqnrPcAfterDb));
    assert.match(await page.textContent('#proof-result'), /one scale per tensor.*one scale per channel/s);
    // loaded from the page's own origin, only now
    assert.ok(requests.some((u) => u === `${origin}/web/ort/ort-wasm-simd-threaded.wasm`), requests.join('\n'));
    // a layer's details now plot its ranges before and after
    await page.click(`#graph g.node[data-name="${first}"]`);
    assert.equal(await page.$$eval('#graph-details svg.plot polyline', (p) => p.length), 2);

    await page.screenshot({ path: path.join(artifacts, 'page-graph-1280.png'), fullPage: true });
    assert.deepEqual(await axeViolations(page), [], 'axe-core at 1280 px');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#tab-lists');
    assert.deepEqual(await axeViolations(page), [], 'axe-core at 390 px, lists');
    await page.click('#tab-graph');
    assert.deepEqual(await axeViolations(page), [], 'axe-core at 390 px, graph');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `the page is ${wide} px wide at 390`);
    await page.screenshot({ path: path.join(artifacts, 'page-graph-390.png'), fullPage: true });
  });
});

test('cancel during the proof: the equalized model stays; the proof runs again on request', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const got = await give(page, fixture('mobilenetv2_like_bn.onnx'));
    assert.equal(got.state, 'ready', got.message);
    const cancelled = await answer(page, async () => {
      await page.click('#equalize');
      await page.waitForFunction(() => /Proof: /.test(document.getElementById('eq-message').textContent), null, { timeout: 60000 });
      assert.ok(await inView(page, '#eq-cancel'));
      await page.click('#eq-cancel');
    });
    assert.equal(cancelled.message, 'Cancelled. The report above is still the last one.');
    assert.equal(await page.isHidden('#proof-result'), true);
    assert.match(await page.getAttribute('#dl-model', 'href'), /^blob:/);
    const again = await press(page, '#proof-run');
    assert.equal(again.state, 'ready', again.message);
    assert.match(again.message, /^Proof: outputs within/);
    const r = await proof(page);
    assert.ok(r.maxRelErr <= 1e-3 && r.sqnrAfterDb > r.sqnrBeforeDb, JSON.stringify(r));
  });
});

test('the sample model: no file needed; its dynamic batch size is chosen (1) and can be changed', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const got = await press(page, '#sample');
    assert.equal(got.state, 'ready', got.message);
    assert.match(got.message, /^Checked sample-mobilenet\.onnx .* CLE pairs 7 of 7 layers/);
    const done = await press(page, '#equalize');
    assert.equal(done.state, 'ready', done.message);
    assert.equal(await page.inputValue('#proof-sizes input[data-key="batch"]'), '1');
    assert.match(await page.textContent('#proof-result'), /image float32 \[1, 3, 32, 32\]/);
    await page.fill('#proof-sizes input[data-key="batch"]', '3');
    const again = await press(page, '#proof-run');
    assert.equal(again.state, 'ready', again.message);
    assert.match(await page.textContent('#proof-result'), /image float32 \[3, 3, 32, 32\]/);
    const r = await proof(page);
    assert.ok(r.maxRelErr <= 1e-3 && r.sqnrAfterDb > r.sqnrBeforeDb, JSON.stringify(r));
  });
});

// a PNG (8-bit RGB, no colour profile, so the browser decodes it as it is) of rgb(x, y) → [r, g, b]
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
function png(width, height, rgb) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, tail]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const rows = Buffer.alloc(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rows.set(rgb(x, y), y * (1 + 3 * width) + 1 + 3 * x);
  }
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}
// three 32 × 32 pictures for tuning, as pixel functions, and the page tuning on them (files STEM0.png ...)
const PICTURES = [
  (x, y) => [x * 8, 255 - y * 8, (x * y * 3) % 256],
  (x, y) => [(x ^ y) * 8, 128, y * 8],
  (x, y) => [200 - x * 4, (x + y) * 4, 60 + ((x * 7 + y * 13) % 150)],
];
const tuneOnPictures = (page, stem) => answer(page, () => page.setInputFiles('#tune-input',
  PICTURES.map((rgb, i) => ({ name: `${stem}${i}.png`, mimeType: 'image/png', buffer: png(32, 32, rgb) }))), 240000);

// a 32 × 32 picture's pixels as the NCHW input the page makes of it, each 0..255 value v of channel k as value(v, k)
function planes(rgb, value) {
  const data = new Float32Array(3 * 32 * 32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) rgb(x, y).forEach((v, k) => { data[(k * 32 + y) * 32 + x] = value(v, k); });
  }
  return data;
}
const imageProof = (page) => page.$eval('#proof-result', (e) => Object.fromEntries(Object.entries(e.dataset)
  .filter(([k]) => k.startsWith('image')).map(([k, v]) => [k, Number(v)])));

test('an image dropped on the proof: both models run on it too, its numbers beside the seeded ones; what onnxruntime says in Node', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    // no image offered before there is an equalized model
    assert.equal((await press(page, '#sample')).state, 'ready');
    assert.equal(await page.isHidden('#proof-image'), true);
    const done = await press(page, '#equalize');
    assert.equal(done.state, 'ready', done.message);
    assert.deepEqual(await imageProof(page), {});
    // the sample's input is image [batch, 3, 32, 32]: an image model, NCHW
    assert.equal(await page.isVisible('#proof-image-pick'), true);
    assert.match(await page.textContent('#proof-image-help'), /drop one on this area.*stretched to 32 × 32 pixels \(the input 'image', NCHW\), its RGB values scaled to \[0, 1\]/);

    // dropped on the proof: a 32 × 32 picture, drawn at its own size, so the input is its pixels / 255
    const rgb = (x, y) => [x * 8, 255 - y * 8, (x * y * 3) % 256];
    const bytes = png(32, 32, rgb);
    const got = await answer(page, () => page.evaluate((b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0))], 'gradient.png', { type: 'image/png' }));
      document.getElementById('proof-title').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes.toString('base64')));
    assert.equal(got.state, 'ready', got.message);
    assert.match(got.message, /^Proof: outputs within .*; on gradient\.png: within \d\.\de-\d+, per tensor -?\d+\.\d → -?\d+\.\d dB\.$/);
    const seeded = await proof(page);
    const img = await imageProof(page);
    assert.ok(img.imageMaxRelErr <= 1e-3, `relative difference on the image ${img.imageMaxRelErr}`);
    assert.ok(Number.isFinite(img.imageSqnrBeforeDb) && Number.isFinite(img.imageSqnrAfterDb) && Number.isFinite(img.imageSqnrPcAfterDb));
    assert.notEqual(img.imageSqnrBeforeDb, seeded.sqnrBeforeDb);
    assert.match(await page.textContent('#proof-result [data-set="image"]'), /On gradient\.png.*one scale per tensor.*As image \[1, 3, 32, 32\], values in \[0, 1\]/s);
    assert.match(await page.getAttribute('#proof-image-preview', 'aria-label'), /^gradient\.png as the model sees it, 32 × 32 pixels$/);
    // the same models and the same picture through verify() in Node: the same numbers
    const eq = (await download(page, '#dl-model')).bytes;
    const data = planes(rgb, (v) => v / 255);
    const r = await verify(sampleModel().bytes, new Uint8Array(eq), { samples: 1, inputs: { image: { data, dims: [1, 3, 32, 32] } } });
    const near = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: page ${a}, Node ${b}`);
    near(img.imageMaxRelErr, r.given.maxRelErr, 'max rel diff');
    near(img.imageSqnrBeforeDb, r.given.sqnrDb.perTensor.before, 'per tensor before');
    near(img.imageSqnrAfterDb, r.given.sqnrDb.perTensor.after, 'per tensor after');
    near(img.imageSqnrPcBeforeDb, r.given.sqnrDb.perChannel.before, 'per channel before');
    near(img.imageSqnrPcAfterDb, r.given.sqnrDb.perChannel.after, 'per channel after');

    // picked: a picture of another size is stretched to the input, at the batch size chosen
    await page.fill('#proof-sizes input[data-key="batch"]', '2');
    const picked = await answer(page, () => page.setInputFiles('#proof-image-input',
      { name: 'wide.png', mimeType: 'image/png', buffer: png(60, 20, (x, y) => [x * 4, y * 12, 128]) }));
    assert.equal(picked.state, 'ready', picked.message);
    assert.match(picked.message, /on wide\.png: within/);
    assert.match(await page.textContent('#proof-image-help'), /^wide\.png \(60 × 20\) runs in the proof/);
    assert.match(await page.textContent('#proof-result [data-set="image"]'), /As image \[2, 3, 32, 32\]/);
    assert.ok((await imageProof(page)).imageMaxRelErr <= 1e-3);

    await page.locator('#proof').screenshot({ path: path.join(artifacts, 'page-image-1280.png') });
    assert.deepEqual(await axeViolations(page), [], 'axe-core at 1280 px, with the image proof');
    await page.setViewportSize({ width: 390, height: 844 });
    assert.deepEqual(await axeViolations(page), [], 'axe-core at 390 px, with the image proof');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `the page is ${wide} px wide at 390`);
    await page.locator('#proof').screenshot({ path: path.join(artifacts, 'page-image-390.png') });

    // a file that is no image: a sentence, and the last result stays
    const bad = await answer(page, () => page.setInputFiles('#proof-image-input',
      { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') }));
    assert.equal(bad.state, 'error');
    assert.match(bad.message, /^Cannot use notes\.png: this browser cannot decode it as an image/);
    assert.match(await page.textContent('#proof-image-help'), /^wide\.png/);
  });
});

test('tuned on images picked on the page: the choice tune() makes in Node on the same pixels, offered for download, then proven', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    assert.equal((await press(page, '#sample')).state, 'ready');
    assert.equal(await page.isHidden('#proof-tune'), true);
    const done = await press(page, '#equalize');
    assert.equal(done.state, 'ready', done.message);
    const first = (await download(page, '#dl-model')).bytes;
    assert.equal(await page.isVisible('#tune-pick'), true);
    assert.match(await page.textContent('#tune-help'), /choose the equalization by the outcome.*per channel within 1\.5 dB/);
    // three pictures, scaled as ImageNet models expect
    await page.selectOption('#tune-scale', 'imagenet');
    const got = await tuneOnPictures(page, 'p');
    assert.equal(got.state, 'ready', got.message);
    // the same pixels, scaled the same, through tune() in Node: the same choice and the same model
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const inputs = PICTURES.map((rgb) => {
      return { image: { data: planes(rgb, (v, k) => (v / 255 - mean[k]) / std[k]), dims: [1, 3, 32, 32] } };
    });
    const r = await tune(sampleModel().bytes, { inputs, equalize: { ranges: true, externalDataName: 'sample.tuned.onnx.data' } });
    const db = (x) => x.toFixed(1);
    if (r.choice) {
      assert.match(got.message, new RegExp(`^Tuned on 3 images in .*: INT8 output SQNR on them: as shipped ${db(r.scores.shipped.tensor)} per tensor, ` +
        `${db(r.scores.shipped.channel)} per channel; default ${db(r.scores.default.tensor)} .*; chosen ${db(r.scores.chosen.tensor)} per tensor.*` +
        `\\(onnx-cle equalize --objective=${r.choice.objective}.* --strength=${r.choice.strength.replace(/\./g, '\\.')} .*Proof: outputs within`));
      const tuned = await download(page, '#dl-model');
      assert.match(tuned.name, /\.tuned\.onnx$/);
      assert.deepEqual(tuned.bytes, Buffer.from(r.model));
      const report = JSON.parse((await download(page, '#dl-eq-report')).bytes);
      assert.deepEqual(report.tune.choice, r.choice);
      assert.deepEqual(report.tune.images, ['p0.png', 'p1.png', 'p2.png']);
      assert.equal(report.tune.scaled, 'ImageNet mean and std');
      assert.ok((await proof(page)).maxRelErr <= 1e-3, 'the proof ran on the tuned model');
    } else {
      assert.match(got.message, /no equalization beats the model as shipped on them/);
      assert.deepEqual((await download(page, '#dl-model')).bytes, first);
    }
    await page.locator('#eq-result').screenshot({ path: path.join(artifacts, 'page-tune-1280.png') });
    assert.deepEqual(await axeViolations(page), [], 'axe-core at 1280 px, after tuning');
    // again with biases corrected for per-tensor INT8: what tune() does in Node with biasCorrection
    await page.check('#tune-bias');
    const fixed = await tuneOnPictures(page, 'p');
    assert.equal(fixed.state, 'ready', fixed.message);
    const rb = await tune(sampleModel().bytes, { inputs, biasCorrection: true, equalize: { ranges: true, externalDataName: 'sample.tuned.onnx.data' } });
    assert.ok(rb.bias.kept, `bias correction wins on these pictures: ${JSON.stringify(rb.bias)} vs ${JSON.stringify(r.scores.chosen)}`);
    assert.match(fixed.message, new RegExp(`chosen ${db(rb.scores.chosen.tensor)} per tensor.*biases corrected\\)\\. Biases corrected for per-tensor INT8 ` +
      `on ${rb.bias.layers} layers: use this model only with per-tensor INT8 weights \\(its FP32 outputs are ${db(rb.bias.fp32)} dB`));
    // the same model but for the biases' last bits: the means come from the browser's onnxruntime-web run
    const inBrowser = new Uint8Array((await download(page, '#dl-model')).bytes);
    assert.equal(inBrowser.length, rb.model.length);
    const biases = (bytes) => {
      const { graph: g } = readModel(bytes);
      const named = new Map(g.initializers.map((t) => [t.name, t]));
      return g.nodes.filter((n) => n.inputs[2] && named.has(n.inputs[2])).map((n) => [...readValues(storage(named.get(n.inputs[2]), bytes))]);
    };
    const [mine, want] = [biases(inBrowser), biases(rb.model)];
    assert.ok(mine.length >= rb.bias.layers && mine.length === want.length);
    mine.flat().forEach((x, i) => assert.ok(Math.abs(x - want.flat()[i]) <= 1e-4 * (Math.abs(want.flat()[i]) + 1e-3), `${x} vs ${want.flat()[i]}`));
    const biasReport = JSON.parse((await download(page, '#dl-eq-report')).bytes);
    assert.deepEqual({ ...biasReport.tune.bias, scores: null, fp32: null }, { ...rb.bias, scores: null, fp32: null });
    const moved = await proof(page);
    assert.ok(moved.maxRelErr > 1e-3 && moved.sqnrAfterDb > moved.sqnrBeforeDb, `the proof runs on the corrected model: ${JSON.stringify(moved)}`);
    await page.uncheck('#tune-bias');
    // a file that is no image: a sentence
    const bad = await answer(page, () => page.setInputFiles('#tune-input',
      [{ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') }]));
    assert.equal(bad.state, 'error');
    assert.match(bad.message, /^Cannot tune: this browser cannot decode notes\.png as an image/);
  });
});

test('tuned with biases corrected where the model as shipped wins: its corrected copy offered, no equalization shown', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const bytes = new Uint8Array(readFileSync(fixture('decoder_folded.onnx')));
    assert.equal((await give(page, fixture('decoder_folded.onnx'))).state, 'ready');
    assert.equal((await press(page, '#equalize')).state, 'ready');
    await page.selectOption('#tune-scale', 'unit');
    await page.check('#tune-bias');
    const got = await tuneOnPictures(page, 'd');
    assert.equal(got.state, 'ready', got.message);
    const inputs = PICTURES.map((rgb) => ({ input: { data: planes(rgb, (v) => v / 255), dims: [1, 3, 32, 32] } }));
    const r = await tune(bytes, { inputs, biasCorrection: true, equalize: { ranges: true, externalDataName: 'decoder_folded.tuned.onnx.data' } });
    assert.ok(r.choice === null && r.bias.kept, `on these pictures the model as shipped wins and its correction helps: ${JSON.stringify(r.bias)}`);
    assert.match(got.message, /\(the model as shipped, biases corrected\)\. Biases corrected for per-tensor INT8 on \d+ layers/);
    assert.match(await page.textContent('#eq-totals'), /Equalized\s*0 layers: the model as shipped scored best/);
    assert.equal(await page.isHidden('#eq-layers-head'), true);
    assert.equal(await page.isHidden('#eq-layers'), true);
    const dl = await download(page, '#dl-model');
    assert.match(dl.name, /^decoder_folded\.tuned\.onnx$/);
    assert.equal(dl.bytes.length, r.model.length);
    assert.equal(JSON.parse((await download(page, '#dl-eq-report')).bytes).tune.choice, null);
    // equalizing again shows the equalization again
    assert.equal((await press(page, '#equalize')).state, 'ready');
    assert.equal(await page.isHidden('#eq-layers-head'), false);
    assert.ok(await page.$$eval('#eq-layers details', (d) => d.length) > 0);
  });
});

test('nothing to equalize: no download offered, and the page says why', async () => {
  await onPage(`${origin}/web/`, served, async (page) => {
    const got = await give(page, fixture('loop_scan.onnx'));
    assert.equal(got.state, 'ready', got.message);
    const done = await press(page, '#equalize');
    assert.equal(done.state, 'ready', done.message);
    assert.match(done.message, /Nothing to download: the model has no Conv, ConvTranspose, Gemm or MatMul layer\.$/);
    assert.equal(await page.isVisible('#eq-nothing'), true);
    assert.equal(await page.isHidden('#eq-downloads'), true);
    assert.equal(await page.isHidden('#proof'), true);
  });
});

test('one-file demo: the proof says it needs the served page; nothing is requested', async () => {
  await onPage(demo, (u) => u === demo, async (page) => {
    assert.equal((await press(page, '#sample')).state, 'ready');
    const done = await press(page, '#equalize');
    assert.match(done.message, /^Equalized 7 of 7 layers/);
    assert.match(await page.textContent('#proof-note'), /needs|served page/);
    assert.equal(await page.isHidden('#proof-form'), true);
    await page.click('#graph-fit');
    // the view draws in the next animation frame, which a loaded machine may delay
    await page.waitForFunction(() => document.querySelectorAll('#graph g.layer').length === 7, null, { timeout: 10000 })
      .catch(() => {});
    assert.equal(await page.$$eval('#graph g.layer', (g) => g.length), 7);
  });
});
