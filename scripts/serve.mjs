#!/usr/bin/env node
// serve.mjs: serves the page on 127.0.0.1, with no dependencies.  The URL
// layout is the repository's, so web/app.js imports the package's own files
// by relative URL ('../wasm/worker.js', which finds '../dist/onnx-cle.wasm'):
// the page runs exactly the files the npm package ships.  Only these are
// served:
//
//   /web/...                   the page (index.html, *.js, style.css)
//   /wasm/*.js                 the package's JavaScript
//   /dist/onnx-cle.wasm        the package's WebAssembly
//   /dist/onnx-cle-demo.html   the one-file demo, once `npm run build:demo` made it
//   /examples/...              the embed example
//
// PORT picks the port (0: any free one); without it, 8080, or a free port
// when 8080 is taken.  Prints the page's URL.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.md': 'text/markdown; charset=utf-8',
};

// What the browser may load, said to the browser too: nothing from another
// origin, and WebAssembly may compile ('wasm-unsafe-eval') while eval may not.
const CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'",
  "img-src 'self' data: blob:", "connect-src 'self'", "worker-src 'self'", "frame-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');

/** The file a URL path names, or null when it is not one we serve. */
function fileFor(pathname) {
  const parts = pathname.split('/').slice(1).map(decodeURIComponent);
  if (parts.some((p) => p === '..' || p.includes('\\') || p.includes('\0'))) return null;
  const [top, ...rest] = parts;
  const name = rest.join('/');
  if (top === 'web' || top === 'examples') return path.join(root, top, name === '' ? 'index.html' : name);
  if (top === 'wasm' && rest.length === 1 && name.endsWith('.js')) return path.join(root, 'wasm', name);
  if (top === 'dist' && (name === 'onnx-cle.wasm' || name === 'onnx-cle-demo.html')) return path.join(root, 'dist', name);
  return null;
}

export function createPageServer() {
  return createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url.pathname === '/' || url.pathname === '/web') {
      res.writeHead(302, { Location: '/web/' }).end();
      return;
    }
    let file;
    try {
      file = fileFor(url.pathname);
      if (file && (await stat(file)).isDirectory()) file = path.join(file, 'index.html');
      const body = file && (await readFile(file));
      const headers = {
        'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'Content-Length': body.length,
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
      };
      // the page's policy; the one-file demo carries its own (inline scripts, a blob: worker, no
      // connections at all), and the example stands for a docs site, which has its own
      if (file.startsWith(path.join(root, 'web') + path.sep)) headers['Content-Security-Policy'] = CSP;
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
    }
  });
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = process.env.PORT;
  const server = createPageServer();
  let port;
  try {
    port = await listen(server, wanted === undefined || wanted === '' ? 8080 : Number(wanted));
  } catch (e) {
    if (e.code !== 'EADDRINUSE' || (wanted !== undefined && wanted !== '')) {
      console.error(`serve: cannot listen on 127.0.0.1:${wanted || 8080}: ${e.message}`);
      process.exit(1);
    }
    port = await listen(server, 0);
  }
  console.log(`onnx-cle page: http://127.0.0.1:${port}/web/`);
  console.log(`one-file demo: http://127.0.0.1:${port}/dist/onnx-cle-demo.html (or open the file itself), ` +
    `embedded: http://127.0.0.1:${port}/examples/`);
  console.log('(serving web/, wasm/*.js, dist/ and examples/ from this checkout; Ctrl-C stops)');
}
