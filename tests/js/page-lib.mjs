// Shared by the browser tests of the page (page.test.mjs, page-graph.test.mjs):
// the one-file demo built as `npm run build:demo` makes it, the page served
// by scripts/serve.mjs, headless Debian Chromium driven by playwright-core,
// and the way a test acts on the page and waits for its answer.
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { root } from './helpers.mjs';
import { createPageServer } from '../../scripts/serve.mjs';

export const artifacts = path.join(root, 'test-artifacts');
export const demo = pathToFileURL(path.join(root, 'dist/onnx-cle-demo.html')).href;

/** Builds the demo, starts the server and the browser: { browser, server, origin, served(url) }. */
export async function setUp() {
  mkdirSync(artifacts, { recursive: true });
  const built = spawnSync(process.execPath, [path.join(root, 'scripts/build-demo.mjs')], { encoding: 'utf8' });
  assert.equal(built.status, 0, built.stderr);
  assert.ok(existsSync(path.join(root, 'web/ort/ort.wasm.min.mjs')), 'web/ort/ is missing: run `npm run build` (scripts/build.sh copies onnxruntime-web there)');
  const server = createPageServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
  return { browser, server, origin, served: (u) => u.startsWith(`${origin}/`) };
}

export async function tearDown(env) {
  await env?.browser?.close();
  env?.server?.close();
}

/**
 * Runs fn(page) on a fresh page at url; then there must have been no page
 * error, and no request but those local(url) allows (blob: URLs are the
 * page's own downloads and worker).
 */
export async function onPage(env, url, local, fn, { width = 1280, height = 900 } = {}) {
  const context = await env.browser.newContext({ acceptDownloads: true, viewport: { width, height } });
  try {
    const page = await context.newPage();
    const requests = [];
    const errors = [];
    context.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await fn(page, requests);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests.filter((u) => !u.startsWith('blob:') && !local(u)), []);
  } finally {
    await context.close();
  }
}

/**
 * Does what act() does to the page and waits for its answer: the page's
 * state goes busy and then ready or error (marked 'waiting' first, so an
 * answer from before cannot pass for this one).  The message is the one the
 * page last wrote: the status at the top, or the one in the Equalize card.
 */
export async function answer(page, act, timeout = 120000) {
  await page.evaluate(() => { document.body.dataset.state = 'waiting'; });
  await act();
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout });
  return page.evaluate(() => ({
    state: document.body.dataset.state,
    message: document.getElementById(document.body.dataset.status || 'message').textContent,
  }));
}

/** Drops files in through the file input. */
export const give = (page, files) => answer(page, () => page.setInputFiles('#file-input', files));
export const press = (page, selector, timeout) => answer(page, () => page.click(selector), timeout);

/** Clicks a download link or button; returns the file's name and bytes. */
export async function download(page, selector) {
  const [d] = await Promise.all([page.waitForEvent('download'), page.click(selector)]);
  return { name: d.suggestedFilename(), bytes: readFileSync(await d.path()) };
}

/**
 * axe-core's serious and critical violations on the page as it is now:
 * [{ id, help, nodes }].  axe is evaluated through the DevTools protocol,
 * which the page's Content-Security-Policy does not govern (a <script> it
 * would refuse).
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8'));
  const r = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
}
