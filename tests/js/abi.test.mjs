// The wasm host ABI, listed once: src/wasm.c declares the imports
// (IMPORT(name) lines; CMake makes the linker's list from them) and
// wasm/core.js implements them.  This holds the built module, core.js and
// wasm.c to each other: names, kinds and parameter counts of the imports,
// and the exports the JS calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { instantiate } from '../../wasm/core.js';
import { root } from './helpers.mjs';

const wasmBytes = readFileSync(path.join(root, 'dist/onnx-cle.wasm'));
const module = new WebAssembly.Module(wasmBytes);

// The import object core.js hands to WebAssembly.instantiate.
async function coreImports() {
  const real = WebAssembly.instantiate;
  let imports;
  WebAssembly.instantiate = (m, i) => {
    imports = i;
    return real.call(WebAssembly, m, i);
  };
  try {
    await instantiate(module);
  } finally {
    WebAssembly.instantiate = real;
  }
  return imports;
}

const kindOf = (v) =>
  typeof v === 'function' ? 'function'
  : v instanceof WebAssembly.Memory ? 'memory'
  : v instanceof WebAssembly.Table ? 'table'
  : v instanceof WebAssembly.Global ? 'global'
  : typeof v;

// Parameter counts of the module's imported functions, from its type and
// import sections (WebAssembly.Module.imports does not give signatures).
function importParams(bytes) {
  let at = 8;
  const u32 = () => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  const name = () => {
    const n = u32();
    const s = new TextDecoder().decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const types = [];
  const params = new Map();
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = u32();
    const end = at + size;
    if (id === 1) {
      for (let n = u32(); n > 0; n--) {
        assert.equal(bytes[at++], 0x60, 'a function type');
        const p = u32();
        at += p;
        const r = u32(); // (at += u32() would add to the old at)
        at += r;
        types.push(p);
      }
    } else if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        const key = `${name()}.${name()}`;
        const kind = bytes[at++];
        if (kind === 0) params.set(key, types[u32()]);
        else if (kind === 1) { at++; const f = bytes[at++]; u32(); if (f & 1) u32(); } // table
        else if (kind === 2) { const f = bytes[at++]; u32(); if (f & 1) u32(); } // memory
        else at += 2; // global
      }
    }
    at = end;
  }
  return params;
}

test('the module imports exactly what core.js provides', async () => {
  const provided = await coreImports();
  const have = Object.entries(provided)
    .flatMap(([mod, obj]) => Object.entries(obj).map(([name, v]) => `${mod}.${name}:${kindOf(v)}`))
    .sort();
  const want = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}:${i.kind}`).sort();
  assert.deepEqual(have, want);
});

test('core.js takes as many arguments as the module passes', async () => {
  const provided = await coreImports();
  const params = importParams(wasmBytes);
  assert.ok(params.size > 0);
  for (const [key, n] of params) {
    const [mod, name] = key.split('.');
    const fn = provided[mod][name];
    // one that takes none ignores what it is given (emscripten_notify_memory_growth)
    if (fn.length !== 0 || /^\(\)\s*=>\s*\{\s*\}$/.test(String(fn)) === false)
      assert.equal(fn.length, n, `${key} takes ${n} arguments`);
  }
});

test("wasm.c's IMPORT declarations are the module's imports", () => {
  const src = readFileSync(path.join(root, 'src/wasm.c'), 'utf8');
  const declared = new Map(
    [...src.matchAll(/^IMPORT\((\w+)\)[^(]*\(([^)]*)\)/gm)].map(([, name, args]) => [
      name, args.trim() === 'void' || args.trim() === '' ? 0 : args.split(',').length,
    ]),
  );
  assert.ok(declared.size > 0);
  const params = importParams(wasmBytes);
  for (const i of WebAssembly.Module.imports(module)) {
    if (!i.name.startsWith('host_')) continue; // the runtime's own (emscripten_notify_memory_growth)
    assert.ok(declared.has(i.name), `${i.name} is declared in wasm.c`);
    assert.equal(params.get(`${i.module}.${i.name}`), declared.get(i.name), `${i.name}'s parameters`);
  }
});

test('the exports the JS calls exist', () => {
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const used = new Set();
  // core.js: x is the instance's exports
  for (const [, name] of readFileSync(path.join(root, 'wasm/core.js'), 'utf8').matchAll(/\bx\.(\w+)/g)) used.add(name);
  // bench and tests reach them as rt.exports.name (bench/run.mjs also as x.cle_*)
  for (const file of ['bench/run.mjs', 'tests/js/api.test.mjs', 'tests/js/memory.test.mjs']) {
    const text = readFileSync(path.join(root, file), 'utf8');
    for (const [, name] of text.matchAll(/\bexports\.(\w+)/g)) used.add(name);
    for (const [, name] of text.matchAll(/\bx\.(cle_\w+|malloc|free)\b/g)) used.add(name);
  }
  assert.ok(used.has('cle_request') && used.has('cle_bench_heap_top'));
  for (const name of used) assert.ok(exported.has(name), `onnx-cle.wasm exports ${name}`);
});
