// bench/proto_js.mjs — a JavaScript round trip of an ONNX model through a
// protobuf library from npm, for bench/run.mjs (issue 16): decode the
// ModelProto, encode it again.  No graph logic, no weight read: the floor of
// an equalizer written in JavaScript on such a library.
//
// usage: node bench/proto_js.mjs IN.onnx [--runs=N]   (prints JSON: best ms)
//
// The library: `onnx-proto` (protobufjs static code generated from
// onnx.proto) when it resolves from here or from ONNX_PROTO_DIR (e.g.
// `npm install --prefix /tmp/p onnx-proto`, ONNX_PROTO_DIR=/tmp/p/node_modules/onnx-proto);
// else protobufjs (in node_modules as onnxruntime-web's dependency) loading
// onnx.proto from python3-onnx, which builds the same reader and writer at
// run time.  Not a devDependency: neither is needed for anything else.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const PROTO = '/usr/lib/python3/dist-packages/onnx/onnx.proto';

/** { ModelProto, library } or null when no library is found. */
export function protoLibrary() {
  const tries = [process.env.ONNX_PROTO_DIR, 'onnx-proto'].filter(Boolean);
  for (const t of tries) {
    try {
      const mod = require(t);
      const onnx = mod.onnx || (mod.default && mod.default.onnx);
      if (onnx && onnx.ModelProto) return { ModelProto: onnx.ModelProto, library: 'onnx-proto' };
    } catch { /* next */ }
  }
  if (!existsSync(PROTO)) return null;
  try {
    const protobuf = require('protobufjs');
    const root = protobuf.loadSync(PROTO);
    return { ModelProto: root.lookupType('onnx.ModelProto'), library: "protobufjs + onnx.proto" };
  } catch {
    return null;
  }
}

function main() {
  const argv = process.argv.slice(2);
  const file = argv.find((a) => !a.startsWith('--'));
  const runsArg = argv.find((a) => a.startsWith('--runs='));
  const runs = runsArg ? Number(runsArg.split('=')[1]) : 3;
  const lib = protoLibrary();
  if (!lib) {
    console.log(JSON.stringify({ ms: null, library: null }));
    return;
  }
  const bytes = readFileSync(file);
  let best = Infinity, outLen = 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const m = lib.ModelProto.decode(bytes);
    const out = lib.ModelProto.encode(m).finish();
    best = Math.min(best, performance.now() - t);
    outLen = out.length;
  }
  console.log(JSON.stringify({ ms: best, library: lib.library, outBytes: outLen }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) main();
