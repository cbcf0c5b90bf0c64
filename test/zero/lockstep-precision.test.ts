// Gradient accumulation (k micro-batches equal one big batch, clipping norm equal to the unsharded one) and fp16
// loss scaling (overflowing steps skipped on every rank alike, and counted), on 2 ranks. The 16-bit lockstep tests
// are in lockstep.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from '../helpers/fake-world.js';
import { reference } from '../helpers/zero-reference.js';
import type { LockstepCase } from '../helpers/lockstep-cases.js';
import type { EngineResult } from '../ranks/engine-ranks.js';

const ranks = new URL('../ranks/engine-ranks.js', import.meta.url);

test('accumulation (stages 1-3) equals one big batch; fp16 overflow is skipped on every rank and counted', async () => {
  const accum: LockstepCase[] = [
    { stage: 1, precision: 'fp32', worldSize: 2, gas: 3, steps: 3, clip: 0.5, kernels: 'js' },
    { stage: 2, precision: 'fp32', worldSize: 2, gas: 3, steps: 3, clip: 0.5, kernels: 'js' },
    { stage: 3, precision: 'fp32', worldSize: 2, gas: 2, steps: 3, clip: 0.5, kernels: 'js' }, // default persistence, reuse, prefetch
  ];
  const overflow: LockstepCase = {
    stage: 2,
    precision: 'fp16',
    worldSize: 2,
    gas: 1,
    steps: 4,
    clip: 0,
    kernels: 'js',
    scalePower: 40,
  };
  const all = [...accum, overflow];
  const res = await fakeWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: all });
  const at = (k: number) => res.map((r) => r[k]);

  accum.forEach((c, q) => {
    const tag = `stage ${c.stage} gas ${c.gas}`;
    const ref = reference(c); // one big batch of gas x N x micro sequences
    const r = at(q);
    r[0].losses.forEach((_, s) => {
      const mean = (r[0].losses[s] + r[1].losses[s]) / 2;
      assert.ok(Math.abs(mean - ref.losses[s]) <= 1e-5 * ref.losses[s], `${tag} loss at step ${s}`);
      assert.ok(
        Math.abs(r[0].norms[s] - ref.norms[s]) <= 1e-5 * ref.norms[s],
        `${tag} clipping norm at step ${s}: ${r[0].norms[s]} vs ${ref.norms[s]}`,
      );
    });
    for (const name of Object.keys(ref.params)) {
      ref.params[name].forEach((want, i) =>
        assert.ok(Math.abs(r[0].params![name][i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${tag} ${name}[${i}]`),
      );
    }
  });

  // 2^40 overflows fp16 gradients: steps are skipped on every rank alike, and counted, until the scale comes down
  const o = at(all.length - 1);
  assert.deepEqual(o[0].applied, o[1].applied, 'ranks agree on overflow');
  assert.equal(o[0].applied[0], false, 'first step skipped');
  assert.equal(o[0].skipped, o[0].applied.filter((a) => !a).length, 'skipped steps counted');
});
