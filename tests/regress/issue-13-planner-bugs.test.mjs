// The planner bugs tests/c/test_plan.c found (its rows name them), each on
// its smallest model (tests/fixtures/make_plan_models.py): equalized, the
// model must compute what it computed (onnxruntime-web on seeded inputs),
// where before equalizing changed it or failed:
//  - an Add joined a 4-channel tensor and a 1-channel one broadcast over it;
//  - a MatMul reading an NCHW tensor (its rows run over W) was paired with
//    the Conv before it;
//  - a MatMul's channels-last output went through a Flatten as if NCHW;
//  - an opset 9 BatchNormalization declaring its statistics outputs (training
//    mode) was folded;
//  - one main-graph weight read in both branches of an If was taken for two
//    weights, and writing failed ("bad edit of bytes").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { native, fixture } from '../js/helpers.mjs';
import { ort, run, compare, randomFeeds } from '../js/ort.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-plan-'));

for (const name of ['join_broadcast', 'matmul_nchw_same', 'matmul_flatten', 'bn_stats_unused', 'if_shared_branches']) {
  test(`${name}: equalized, the function is kept`, async () => {
    const model = fixture(`plan/${name}.onnx`), out = path.join(dir, `${name}.onnx`);
    for (const opts of [[], ['--objective=balance'], ['--batch-norm=keep']]) {
      const r = native('equalize', model, '-o', out, ...opts);
      assert.equal(r.status, 0, r.stderr);
      const session = await ort.InferenceSession.create(readFileSync(model));
      const meta = session.inputNames.map((n) => session.inputMetadata.find((m) => m.name === n));
      await session.release();
      const floats = meta.filter((m) => m.type === 'float32').map((m) => ({ name: m.name, shape: m.shape, dtype: 'float32' }));
      // an If's condition: both branches
      for (const cond of meta.some((m) => m.type === 'bool') ? [true, false] : [null]) {
        const feeds = randomFeeds(floats, 7, { scale: 2 });
        for (const m of meta.filter((x) => x.type === 'bool')) feeds[m.name] = new ort.Tensor('bool', [cond], []);
        const c = compare(await run(readFileSync(model), feeds), await run(readFileSync(out), feeds));
        assert.ok(c.relErr <= 1e-5, `${opts.join(' ') || 'default'} ${cond ?? ''}: relative error ${c.relErr}`);
      }
    }
  });
}
