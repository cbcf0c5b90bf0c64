// Activation checkpointing through the engine (issue 9): every stage x fp32/bf16 on 2 ranks trains exactly as without
// it (losses, gradient norms and parameters bit for bit), moves the same bytes (stage 3's recompute reuses the gather
// that backward needs anyway, so the comm log and the number of gathers do not change), and keeps less activation
// memory at the peak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from '../helpers/fake-world.js';
import type { LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';

const ranks = new URL('../ranks/engine-ranks.js', import.meta.url);

test('checkpointing: bit-identical training and the same communication, stages 0-3 x fp32/bf16, 2 ranks', async () => {
  const cases: LockstepCase[] = [];
  for (const precision of ['fp32', 'bf16'] as const)
    for (const stage of [0, 1, 2, 3] as const)
      for (const checkpoint of [undefined, 'device', 'cpu'] as const) {
        if (checkpoint === 'cpu' && stage !== 3) continue;
        cases.push({ stage, precision, worldSize: 2, gas: 2, steps: 2, clip: 0.5, kernels: 'js', checkpoint });
        if (stage === 3) cases.push({ ...cases[cases.length - 1]!, strict3: true });
      }
  const res = await fakeWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: cases });
  cases.forEach((c, k) => {
    if (c.checkpoint === undefined) return;
    const j = cases.findIndex(
      (x) =>
        x.checkpoint === undefined && x.stage === c.stage && x.precision === c.precision && x.strict3 === c.strict3,
    );
    const tag = `stage ${c.stage} ${c.precision}${c.strict3 ? ' strict' : ''} checkpointing on the ${c.checkpoint}`;
    for (let r = 0; r < 2; r++) {
      const a = res[r]![k]!;
      const b = res[r]![j]!;
      assert.deepEqual(a.losses, b.losses, `${tag} rank ${r}: losses`);
      assert.deepEqual(a.norms, b.norms, `${tag} rank ${r}: gradient norms`);
      assert.deepEqual(a.commBytes, b.commBytes, `${tag} rank ${r}: bytes sent per step`);
      assert.deepEqual(a.payload, b.payload, `${tag} rank ${r}: payload per collective`);
      if (c.stage === 3) assert.equal(a.fetch?.gathers, b.fetch?.gathers, `${tag} rank ${r}: gathers`);
      if (r === 0) assert.deepEqual(a.params, b.params, `${tag}: parameters after the run`);
    }
  });
});
