#!/usr/bin/env node
// build-demo.mjs: `npm run build:demo`.  Writes dist/onnx-cle-demo.html, the
// page of web/ as ONE file that works from file:// with no network: the
// stylesheet inlined, the page's scripts bundled by esbuild into one inline
// module (web/demo.js as entry), the worker script bundled as a classic script into a
// text block, started from a blob: URL (Chromium refuses module workers
// there), and dist/onnx-cle.wasm inlined as base64.  A
// Content-Security-Policy in the file lets it reach nothing: no fetch, no
// other origin, no eval (only WebAssembly compilation), and no inline code
// but its own (by SHA-256 hash).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { build } from 'esbuild';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const at = (p) => path.join(root, p);
const out = at('dist/onnx-cle-demo.html');

if (!existsSync(at('dist/onnx-cle.wasm'))) {
  console.error('build-demo: dist/onnx-cle.wasm is missing; run `npm run build` first');
  process.exit(2);
}

async function bundle(entry, format) {
  const r = await build({
    entryPoints: [at(entry)], bundle: true, format, minify: true, write: false,
    target: 'es2022', legalComments: 'none', logLevel: 'error',
  });
  const js = r.outputFiles[0].text;
  // with wasmBinary given, the worker never looks its .wasm up beside itself
  if (format === 'iife' && /import\.meta/.test(js)) throw new Error(`build-demo: ${entry} still uses import.meta`);
  // an inline script ends at the first '</script' (and '<!--' changes how it is read), whatever the JS means
  if (/<\/script|<!--/i.test(js)) throw new Error(`build-demo: ${entry} bundles to text containing '</script' or '<!--'`);
  return js;
}

const [page, worker] = await Promise.all([bundle('web/demo.js', 'esm'), bundle('wasm/worker-script.js', 'iife')]);
const wasm = readFileSync(at('dist/onnx-cle.wasm')).toString('base64').replace(/.{1,120}/g, '$&\n');
const css = readFileSync(at('web/style.css'), 'utf8');
let html = readFileSync(at('web/index.html'), 'utf8');

// Inline code runs by its hash, not by 'unsafe-inline': a script or style
// that anything else put in the page does not run.  The worker and .wasm
// blocks are data (type text/plain, application/octet-stream), never run.
const style = `\n${css}`;
const hash = (text) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
const CSP = [
  "default-src 'none'", `script-src ${hash(page)} 'wasm-unsafe-eval'`, `style-src ${hash(style)}`,
  // blob: for the worker only: a classic worker started from a blob: URL made of the
  // text block (file:// has no URL a worker could load, and Chromium refuses module workers from blob:)
  "img-src data:", "worker-src blob:", "connect-src 'none'", "base-uri 'none'", "form-action 'none'",
  // no frame-ancestors: a <meta> policy cannot say it (browsers ignore it there), and
  // docs sites embed this page in an iframe on purpose (examples/README.md)
].join('; ');

const swap = (from, to) => {
  if (!html.includes(from)) throw new Error(`build-demo: web/index.html no longer contains ${from}`);
  html = html.replace(from, () => to);
};
swap('<meta charset="utf-8">', `<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="${CSP}">`);
swap('<link rel="stylesheet" href="style.css">', `<style>${style}</style>`);
swap('<script type="module" src="main.js"></script>\n', '');
swap('</body>', [
  `<script type="text/plain" id="onnx-cle-worker">${worker}</script>`,
  `<script type="application/octet-stream" id="onnx-cle-wasm">\n${wasm}</script>`,
  `<script type="module">${page}</script>`,
  '</body>',
].join('\n'));

writeFileSync(out, html);
console.log(`build-demo: ${path.relative(root, out)} (${(html.length / 1e6).toFixed(2)} MB), one file, works from file://`);
