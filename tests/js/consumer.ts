// A TypeScript consumer of the package; package.test.mjs type-checks it with
// tsc --noEmit from a project where the packed tarball is installed.
// It is never run: the types are the point.
import { init, info, check, equalize, prepare, tune, OnnxCleError } from 'onnx-cle';
import type { EqualizeOptions, InfoReport, EqualizeReport, CheckReport, OnnxCleErrorCode, OutputPart, TuneResult } from 'onnx-cle';
import { createWorker } from 'onnx-cle/worker';
import type { OnnxCleWorker } from 'onnx-cle/worker';
import wasmUrl from 'onnx-cle/onnx-cle.wasm';

export async function run(bytes: Uint8Array): Promise<number> {
  await init({ locateFile: (name: string) => new URL(name, 'https://example.com/') });
  await init({ wasmBinary: new Uint8Array(8) });
  await init({ locateFile: () => wasmUrl });
  // @ts-expect-error: the .wasm's URL, not its bytes
  await init({ wasmBinary: wasmUrl });
  const i: InfoReport = await info(bytes);
  const c: CheckReport = await check(bytes, { onProgress: (stage, fraction) => stage.length > fraction });
  const rules: string[] = c.findings.filter((f) => f.severity !== 'info').map((f) => `${f.rule}: ${f.fix}`);
  const blocked: Array<string | null> = c.cle.layers.map((l) => l.reason ?? l.input?.blocked ?? null);
  const options: EqualizeOptions = { hbf: false, pow2Scales: true, relu6: 'skip', iterations: 20, tolerance: 1e-4, maxScale: 1e4,
    externalData: { 'weights.bin': new Uint8Array(4) } };
  const ready: number = (await prepare(bytes.length)).bytes;
  // @ts-expect-error: the model's size, not its bytes
  await prepare(bytes);
  const { model, report } = await equalize(bytes, options);
  const r: EqualizeReport = report;
  const m: Uint8Array = model;
  const pieces: Uint8Array[] = [];
  const streamed = await equalize(bytes, { onOutput: (piece, part: OutputPart) => void (part.name ?? pieces.push(piece.slice())) });
  const none: null = streamed.model;
  const tuned: TuneResult = await tune(bytes, { inputs: [{ x: { data: new Float32Array(4), dims: [1, 4] } }], target: 'channel', budget: 8 });
  const again = await equalize(bytes, { ...tuned.choice, strength: tuned.choice?.strength ?? '0.5,3:1' });
  const viaRun = await tune(bytes, { run: async () => [{ y: new Float32Array(2) }], equalize: { relu6: 'skip' } });
  const corrected = await tune(bytes, { run: async () => [], biasCorrection: true });
  const fp32: number | null | undefined = corrected.bias?.fp32;
  // @ts-expect-error: true or false
  await tune(bytes, { run: async () => [], biasCorrection: 'tensor' });
  // @ts-expect-error: tune chooses the objective itself
  await tune(bytes, { run: async () => [], equalize: { objective: 'balance' } });
  // @ts-expect-error: not an option
  await equalize(bytes, { pow2scales: true });
  // @ts-expect-error: not a ReLU6 mode
  await equalize(bytes, { relu6: 'clip' });
  // @ts-expect-error: a number, not a string
  await equalize(bytes, { iterations: '20' });
  try {
    await info(new Uint8Array(0));
  } catch (e) {
    if (e instanceof OnnxCleError) {
      const code: OnnxCleErrorCode | string = e.code;
      return code.length + e.message.length;
    }
  }
  const w: OnnxCleWorker = createWorker({ url: './worker.js', wasmModule: undefined });
  const out = await w.equalize(bytes, { transfer: false, maxScale: 10, onProgress: () => false });
  const wReady: number = (await w.prepare(bytes.length)).bytes;
  const wTuned: number = (await w.tune(bytes, { inputs: [], transfer: false })).scores.chosen.tensor;
  // @ts-expect-error: a function cannot cross to the worker
  await w.tune(bytes, { run: async () => [] });
  w.cancel();
  w.terminate();
  return i.node_count + rules.length + blocked.length + c.summary.errors + r.totals.layers + m.length + pieces.length + (none ?? 0) + out.model.length + (await w.info(bytes)).file_bytes + ready + wReady +
    wTuned + again.model.length + viaRun.tried.length + (fp32 ?? 0);
}
