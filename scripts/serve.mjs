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
//
// It listens on 127.0.0.1 only, and answers only requests that name it so
// (Host: localhost, 127.0.0.1 or [::1] with its port): a page on another
// name that a DNS rebinding points at 127.0.0.1 gets 421.  A path is decoded
// first (encoded slashes, backslashes and NUL are refused), then resolved
// with symbolic links, and served only if it is still inside its folder.
import { createServer } from 'node:http';
import { readFile, realpath, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const checkout = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

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
// origin, and WebAssembly may compile ('wasm-unsafe-eval') while eval may not;
// only pages of this server may frame the page.
const CSP = [
  "default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'",
  "img-src 'self' data: blob:", "connect-src 'self'", "worker-src 'self'", "frame-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'self'",
].join('; ');

/** Whether a Host header names this server: a loopback name with the port it listens on. */
function ourHost(host, port) {
  const m = typeof host === 'string' && /^(localhost|127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?$/i.exec(host);
  if (!m) return false;
  return m[2] === undefined ? port === 80 : Number(m[2]) === port;
}

/**
 * The URL path of a request target, decoded: null when it is not a plain
 * path (`*`, absolute or `//` forms), holds encoded slashes, backslashes or
 * NUL, does not decode, or has a '..' segment.
 */
function decodedPath(target) {
  if (typeof target !== 'string' || !target.startsWith('/') || target.startsWith('//')) return null;
  const encoded = target.replace(/[?#].*$/s, '');
  if (/%(2f|5c|00)/i.test(encoded)) return null;
  let decoded;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    return null;
  }
  if (/[\\\0]/.test(decoded) || decoded.split('/').includes('..')) return null;
  return path.posix.normalize(decoded);
}

/** The folder a URL path is served from and the file it names there, or null. */
function placeOf(root, pathname) {
  const [top, ...rest] = pathname.split('/').slice(1);
  const name = rest.join('/');
  const at = (dir, folders) => ({ dir: path.join(root, dir), file: path.join(root, dir, name), folders });
  if (top === 'web' || top === 'examples') return at(top, true);
  if (top === 'wasm' && rest.length === 1 && name.endsWith('.js')) return at('wasm', false);
  if (top === 'dist' && (name === 'onnx-cle.wasm' || name === 'onnx-cle-demo.html')) return at('dist', false);
  return null;
}

/** The real path of file if it is inside dir (both resolved), else null. */
async function inside(dir, file) {
  try {
    const [d, f] = await Promise.all([realpath(dir), realpath(file)]);
    return f === d || f.startsWith(d + path.sep) ? f : null;
  } catch {
    return null;
  }
}

/** The regular file a URL path names (a folder's index.html), or null when it is not one we serve. */
async function fileFor(root, pathname) {
  const place = placeOf(root, pathname);
  if (!place) return null;
  let file = await inside(place.dir, place.file);
  if (file && place.folders && (await stat(file)).isDirectory()) file = await inside(place.dir, path.join(file, 'index.html'));
  // not a FIFO or a device, whose read would hang or never end
  return file && (await stat(file)).isFile() ? file : null;
}

const plain = (res, status, text, headers = {}) =>
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...headers })
    .end(`${text}\n`);

async function answer(root, req, res) {
  const port = req.socket.localPort;
  if (!ourHost(req.headers.host, port)) {
    plain(res, 421, `this server answers only to localhost, 127.0.0.1 or [::1] on port ${port}`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
    return;
  }
  const pathname = decodedPath(req.url);
  if (pathname === null) {
    plain(res, 400, 'not a path this server serves');
    return;
  }
  if (pathname === '/' || pathname === '/web') {
    res.writeHead(302, { Location: '/web/' }).end();
    return;
  }
  const file = await fileFor(root, pathname).catch(() => null);
  const body = file && (await readFile(file).catch(() => null));
  if (!body) {
    plain(res, 404, `not found: ${pathname}`);
    return;
  }
  const headers = {
    'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  // the page's policy; the one-file demo carries its own (inline scripts, a blob: worker, no
  // connections at all), and the example stands for a docs site, which has its own.  A worker
  // runs under the policy its script is served with, so the package's scripts get the page's
  // too: the worker (onnx-cle, and onnxruntime-web for the proof) is held to it as well
  if (pathname.startsWith('/web/') || pathname.startsWith('/wasm/')) headers['Content-Security-Policy'] = CSP;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The server for the checkout at root (this one unless a test gives another); call listen() on it. */
export function createPageServer({ root = checkout } = {}) {
  return createServer((req, res) => {
    // nothing a request holds may end the process
    answer(root, req, res).catch(() => {
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
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
