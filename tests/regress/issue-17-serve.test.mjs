// Issue 17 (items 1 and 2): scripts/serve.mjs split the path on "/" before
// decoding it, so GET /web/..%2f..%2fetc%2fpasswd read files outside the
// checkout; it answered any Host header (a page on another name could reach
// it by DNS rebinding); and the request target `//` made `new URL` throw
// outside the try, which ended the process.  Requests go over raw sockets
// here, so nothing tidies them up on the way.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createPageServer } from '../../scripts/serve.mjs';

let server;
let port;
// a checkout of our own: the real layout, with links planted in it
const root = realpathSync(mkdtempSync(path.join(tmpdir(), 'onnx-cle-serve-')));
const secret = path.join(root, 'secret.txt'); // inside the checkout, but not served
const outside = path.join(path.dirname(root), `${path.basename(root)}-outside.txt`);

before(async () => {
  for (const dir of ['web', 'web/sub', 'wasm', 'dist', 'examples']) mkdirSync(path.join(root, dir));
  writeFileSync(path.join(root, 'web/index.html'), '<!doctype html><title>page</title>');
  writeFileSync(path.join(root, 'web/app.js'), 'export {};');
  writeFileSync(path.join(root, 'web/sub/index.html'), 'sub');
  writeFileSync(path.join(root, 'wasm/core.js'), 'export {};');
  writeFileSync(path.join(root, 'dist/onnx-cle.wasm'), 'wasm');
  writeFileSync(path.join(root, 'examples/index.html'), 'example');
  writeFileSync(secret, 'SECRET INSIDE');
  writeFileSync(outside, 'SECRET OUTSIDE');
  symlinkSync(outside, path.join(root, 'web/out.txt')); // a link out of the served folder
  symlinkSync(secret, path.join(root, 'web/secret.txt')); // a link to an unserved file
  symlinkSync('/etc', path.join(root, 'web/etc')); // a linked folder
  symlinkSync(path.join(root, 'web/app.js'), path.join(root, 'web/alias.js')); // a link that stays inside
  server = createPageServer({ root });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
});

after(() => server?.close());

/** Sends raw bytes; resolves with what came back before the server closed (or 2 s passed). */
function raw(bytes) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks = [];
    const done = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.setTimeout(2000, done);
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? done() : reject(e)));
    // not end(): the server may close a half-closed connection before it answers
    socket.write(bytes);
  });
}

/** GET target with a Host header (127.0.0.1:port unless given); resolves { status, headers, body }. */
async function get(target, host = `127.0.0.1:${port}`) {
  const text = await raw(`GET ${target} HTTP/1.1\r\n${host === null ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`);
  const [head, ...body] = text.split('\r\n\r\n');
  const [status, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(status.split(' ')[1]), headers, body: body.join('\r\n') };
}

const leaks = (r) => /root:|SECRET/.test(r.body);

test('encoded dots and slashes, backslashes and NUL never reach a file outside the served folders', async () => {
  const targets = [
    '/web/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/web/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd',
    '/web/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/web/%2e%2e/secret.txt',
    '/web/..%2fsecret.txt',
    '/web/..%5csecret.txt',
    '/web/..\\secret.txt',
    '/web/%00/index.html',
    '/web/index.html%00.js',
    '/web/../secret.txt',
    '/web/./../secret.txt',
    '/examples/..%2f..%2f..%2fetc%2fpasswd',
    '/wasm/..%2fsecret.txt',
    '/wasm/%2e%2e%2fsecret.js',
    '/dist/..%2fsecret.txt',
    '/web/%',
    '/web/%zz',
    '/web/%c0%ae%c0%ae/secret.txt',
  ];
  for (const target of targets) {
    const r = await get(target);
    assert.ok(r.status >= 400 && r.status < 500, `${target}: HTTP ${r.status}`);
    assert.ok(!leaks(r), `${target} leaked: ${r.body.slice(0, 80)}`);
  }
});

test('symbolic links are followed only while they stay inside the served folder', async () => {
  for (const target of ['/web/out.txt', '/web/secret.txt', '/web/etc/passwd', '/web/etc/']) {
    const r = await get(target);
    assert.equal(r.status, 404, `${target}: HTTP ${r.status}`);
    assert.ok(!leaks(r), `${target} leaked`);
  }
  const inside = await get('/web/alias.js');
  assert.equal(inside.status, 200);
  assert.equal(inside.body, 'export {};');
});

test('only Host localhost, 127.0.0.1 or [::1] with this port is answered (no DNS rebinding)', async () => {
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    const r = await get('/web/', host);
    assert.equal(r.status, 200, host);
    assert.equal(r.body, '<!doctype html><title>page</title>');
  }
  for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost:${port + 1}`,
    `127.0.0.1:${port}@evil.example`, '127.0.0.1', `localhost.:${port}`, '', null]) {
    const r = await get('/web/', host);
    assert.ok(r.status === 421 || r.status === 403 || r.status === 400, `${host}: HTTP ${r.status}`);
    assert.ok(!r.body.includes('<title>page'), `${host}: the page was served`);
  }
});

test('no request line ends the server; a normal request works after each', async () => {
  const lines = [
    'GET // HTTP/1.1', 'GET //web/ HTTP/1.1', 'GET * HTTP/1.1', 'OPTIONS * HTTP/1.1',
    'GET http://127.0.0.1/web/ HTTP/1.1', 'GET http://evil.example/../../etc/passwd HTTP/1.1',
    'GET ///etc/passwd HTTP/1.1', 'GET web/index.html HTTP/1.1', 'GET ?x HTTP/1.1', 'GET /%ZZ HTTP/1.1',
    `GET /web/${'a'.repeat(100000)} HTTP/1.1`, 'GARBAGE', '\x00\x01\x02\xff', 'GET', 'GET /web/ HTTP/9.9',
  ];
  for (const line of lines) {
    const r = await raw(`${line}\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    assert.ok(!/root:|SECRET/.test(r), `${line.slice(0, 40)} leaked`);
    if (r.startsWith('HTTP/1.1 200')) assert.ok(r.includes('<title>page'), `${line.slice(0, 40)}: ${r.slice(0, 60)}`);
    const ok = await get('/web/app.js');
    assert.equal(ok.status, 200, `after ${JSON.stringify(line.slice(0, 40))}`);
    assert.equal(ok.body, 'export {};');
  }
  assert.equal(server.listening, true);
});

test('the page, the package files and the redirect are served as before', async () => {
  assert.equal((await get('/')).status, 302);
  assert.equal((await get('/')).headers.location, '/web/');
  const page = await get('/web/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-security-policy'], /frame-ancestors 'self'/);
  assert.equal((await get('/web/sub/')).body, 'sub');
  assert.equal((await get('/wasm/core.js')).status, 200);
  assert.equal((await get('/dist/onnx-cle.wasm')).headers['content-type'], 'application/wasm');
  assert.equal((await get('/examples/')).body, 'example');
  assert.equal((await get('/web/app.js?v=1')).body, 'export {};');
  assert.equal((await get('/web/%61pp.js')).body, 'export {};'); // an encoded letter is just a letter
  assert.equal((await get('/secret.txt')).status, 404);
  assert.equal((await get('/web/nope.js')).status, 404);
  assert.equal(readFileSync(secret, 'utf8'), 'SECRET INSIDE');
});
