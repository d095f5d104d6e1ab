// Issue 17 (CSP): the one-file demo's policy allowed 'unsafe-inline' and
// blob: scripts, so any script that found its way into the page would run;
// and neither page said who may frame it.  Now the demo's inline script and
// style run by their SHA-256, blob: is a worker source only, and the served
// page may be framed by its own origin only (a <meta> policy cannot say
// frame-ancestors, so the file:// demo stays embeddable, on purpose).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { root, fixture } from '../js/helpers.mjs';
import { createPageServer } from '../../scripts/serve.mjs';

const demoFile = path.join(root, 'dist/onnx-cle-demo.html');
let browser;
let server;
let other; // another origin, which tries to frame the served page
let origin;

before(async () => {
  const built = spawnSync(process.execPath, [path.join(root, 'scripts/build-demo.mjs')], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  server = createPageServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  other = createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/html' })
    .end(`<!doctype html><link rel="icon" href="data:,"><iframe src="${origin}/web/"></iframe>`));
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
  other?.close();
});

const policyOf = (html) => {
  const m = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(m, 'the demo has a policy');
  return Object.fromEntries(m[1].split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
};
const sha = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

test("the demo's policy: its own inline script and style by hash, blob: for the worker only", () => {
  const html = readFileSync(demoFile, 'utf8');
  const csp = policyOf(html);
  assert.ok(!JSON.stringify(csp).includes('unsafe-inline'), JSON.stringify(csp));
  const scripts = [...html.matchAll(/<script type="module">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  // the page's own <style> elements, not the text of one inside its script (the graph's SVG export)
  const outside = html.replace(/<script type="module">[\s\S]*?<\/script>/g, '');
  const styles = [...outside.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  assert.equal(scripts.length, 1);
  assert.equal(styles.length, 1);
  assert.deepEqual(csp['script-src'].sort(), [sha(scripts[0]), "'wasm-unsafe-eval'"].sort());
  assert.deepEqual(csp['style-src'], [sha(styles[0])]);
  assert.deepEqual(csp['worker-src'], ['blob:']);
  for (const [k, v] of Object.entries(csp)) if (k !== 'worker-src') assert.ok(!v.includes('blob:'), `${k} allows blob:`);
  assert.deepEqual(csp['default-src'], ["'none'"]);
  assert.deepEqual(csp['connect-src'], ["'none'"]);
});

/** Opens url; returns the page and the CSP violations it reports. */
async function open(context, url) {
  const page = await context.newPage();
  const violations = [];
  page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
  page.on('pageerror', (e) => violations.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return { page, violations };
}

test('the demo from file:// runs under that policy: a model checked, no violation, an injected script refused', async () => {
  const context = await browser.newContext();
  try {
    const { page, violations } = await open(context, pathToFileURL(demoFile).href);
    await page.setInputFiles('#file-input', fixture('vgg_like_bn.onnx'));
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 60000 });
    assert.match(await page.textContent('#message'), /^Checked vgg_like_bn\.onnx/);
    assert.deepEqual(violations, []);
    // what 'unsafe-inline' let run: a script some other code put into the page
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true';
      document.body.append(s);
    });
    assert.equal(await page.evaluate(() => window.injected), undefined);
    assert.ok(violations.some((v) => /script/i.test(v)), violations.join('\n'));
  } finally {
    await context.close();
  }
});

test("the served page says frame-ancestors 'self': another origin cannot frame it, the embed example still works", async () => {
  const context = await browser.newContext();
  try {
    const { page, violations } = await open(context, `http://localhost:${other.address().port}/`);
    await page.waitForTimeout(500);
    const frame = page.frames().find((f) => f !== page.mainFrame());
    assert.equal(await frame.$('#file-input').catch(() => null), null, 'the page loaded in a frame of another origin');
    assert.ok(violations.some((v) => /frame-ancestors/.test(v)), violations.join('\n'));
    const embed = await open(context, `${origin}/examples/`);
    const demo = await (await embed.page.waitForSelector('iframe')).contentFrame();
    await demo.waitForSelector('#file-input', { state: 'attached' });
    assert.deepEqual(embed.violations, []);
  } finally {
    await context.close();
  }
});
