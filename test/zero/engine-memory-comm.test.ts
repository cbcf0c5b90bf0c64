// Measured per-rank memory by category and communication bytes per step against the closed forms of src/estimate
// (padding-exact, from the engine's own layout), for every stage, fp32 and bf16, on 3 ranks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from '../helpers/fake-world.js';
import type { LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';
import { modelStatesBytesPadded, commBytesPerRankPadded } from '../../src/estimate/index.js';
import type { BucketedLayout } from '../../src/zero/partition.js';
import { normSlots } from '../../src/zero/norm-exchange.js';

const ranks = new URL('../ranks/engine-ranks.js', import.meta.url);
const N = 3;

test('memory by category and comm bytes per step equal the formulas (N = 3, stages 0-3, fp32 and bf16)', async () => {
  const cases: LockstepCase[] = [];
  for (const precision of ['fp32', 'bf16'] as const) {
    for (const stage of [0, 1, 2, 3] as const)
      cases.push({ stage, precision, worldSize: N, gas: 1, steps: 2, clip: 0, kernels: 'js', strict3: true });
  }
  const res = await fakeWorld<EngineResult[]>({ worldSize: N, module: ranks, fn: 'trainMany', args: cases });
  cases.forEach((c, k) => {
    const tag = `stage ${c.stage} ${c.precision}`;
    for (const r of res.map((x) => x[k])) {
      // the formula over the engine's own layout (only padded, shardNumel and worldSize are read)
      const L = { padded: r.layout.padded, shardNumel: r.layout.shardNumel, worldSize: N } as BucketedLayout;
      const want = modelStatesBytesPadded(L, c.stage, c.precision === 'fp32' ? 'fp32' : 'mixed');
      for (const when of ['afterInit', 'afterStep'] as const) {
        const m = r.memory[when];
        assert.equal(m.param, want.param, `${tag} ${when} param bytes`);
        assert.equal(m.grad, want.grad, `${tag} ${when} grad bytes`);
        assert.equal(m.optimizer, want.optimizer, `${tag} ${when} optimizer bytes`);
        assert.equal(m.activation, 0, `${tag} ${when} activations freed`);
        assert.equal(m.workspace, 0, `${tag} ${when} workspace freed`);
      }
      // the step holds the model states (the paper's 16 Psi under mixed-precision DDP) plus at most one bucket
      // segment's fp32 gradients ([Note: bucket-sized step workspace]); fp32 reads the gradients in place. The old
      // step's workspace was this rank's whole partition (4 Psi at stage 0).
      const maxSegment = c.stage === 0 ? r.layout.largestGroup : r.layout.largestGroup / N;
      const ws = c.precision === 'fp32' ? 0 : 4 * maxSegment;
      assert.ok(r.stepWorkspace <= ws, `${tag} step workspace ${r.stepWorkspace} B > one segment's ${ws} B`);
      assert.ok(r.stepTransient <= ws, `${tag} step transient ${r.stepTransient} B > one segment's ${ws} B`);
      if (c.precision !== 'fp32') {
        const partition = 4 * (c.stage === 0 ? r.layout.padded : r.layout.shardNumel);
        assert.ok(r.stepWorkspace < partition, `${tag} step workspace ${r.stepWorkspace} B below the partition's`);
      }
      // communication: the paper's 2 Psi (N-1)/N (stages 0-2) or 3 Psi (N-1)/N (stage 3) over the padded buckets,
      // in the gradients' element size, plus the norm's scalar all-reduce in partitioned stages (5N+1 fp32 scalars:
      // each rank's f64 partial and order signature, [Note: exact norm exchange]); stage 3 gathers the
      // tied wte twice per pass (embedding and LM head) under strict release.
      const b = c.precision === 'fp32' ? 4 : 2;
      let bytes = commBytesPerRankPadded(L, c.stage, b);
      if (c.stage > 0) bytes += (2 * (N - 1) * 4 * normSlots(N)) / N; // norm partials and order signatures in one all-reduce
      if (c.stage === 3) bytes += (2 * r.layout.wtePadded * (N - 1) * b) / N;
      for (const got of r.commBytes)
        assert.ok(Math.abs(got - bytes) < 1e-6, `${tag} comm bytes per step ${got} vs ${bytes}`);
      if (c.stage >= 2) {
        // gradients reduced during backward, from the first step on: the own partition plus a few staged buckets
        // (the tied wte's stays open from the LM head's backward to the embedding's), never the full gradient
        const staged = r.gradPeak - r.layout.shardNumel * b;
        assert.ok(staged <= 3 * r.layout.largestGroup * b, `${tag} grad peak ${r.gradPeak}: ${staged} bytes staged`);
        assert.ok(r.gradPeak < r.layout.padded * b, `${tag} grad peak below the full gradient`);
      }
      if (c.stage === 3) {
        // never the full model: the own shard plus the groups one module needs (wte with the LM head)
        const fullBytes = r.layout.padded * b;
        assert.ok(
          r.paramPeak <= r.layout.shardNumel * b + 2 * r.layout.largestGroup * b,
          `${tag} param peak ${r.paramPeak}`,
        );
        assert.ok(r.paramPeak < fullBytes, `${tag} param peak ${r.paramPeak} < full model ${fullBytes}`);
      }
    }
  });
});
