// 16-bit training, gradient accumulation and fp16 loss scaling on 2 ranks.
// Stated tolerances against the fp32 single-process reference after 5 AdamW steps (lr 3e-3): losses within 1e-4
// relative; fp32 master parameters within 1e-2 (bf16: 8-bit gradients flip the sign-like Adam update of
// near-zero-gradient elements, up to ~3 lr-steps) or 1e-3 (fp16). Within one precision every stage rounds the
// 16-bit data at the same points, so losses agree bit for bit; the fp32 masters differ only through the clipping
// coefficient (stage 0 sums squares in f64 locally, stages 1-3 all-reduce fp32 partial sums): 1e-6 relative.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from './fake-world.js';
import { reference } from './reference.js';
import type { LockstepCase } from './lockstep-common.js';
import type { EngineResult } from './ranks/engine-ranks.js';

const ranks = new URL('./ranks/engine-ranks.js', import.meta.url);

test('bf16 and fp16 (stages 0-3, N = 2), accumulation (stages 2, 3) and fp16 overflow skipping', async () => {
  const cases: LockstepCase[] = [];
  for (const precision of ['bf16', 'fp16'] as const) {
    for (const stage of [0, 1, 2, 3] as const) cases.push({ stage, precision, worldSize: 2, gas: 1, steps: 5, clip: 0.5, kernels: 'js', strict3: true });
  }
  const accum: LockstepCase[] = [
    { stage: 1, precision: 'fp32', worldSize: 2, gas: 3, steps: 3, clip: 0.5, kernels: 'js' },
    { stage: 2, precision: 'fp32', worldSize: 2, gas: 3, steps: 3, clip: 0.5, kernels: 'js' },
    { stage: 3, precision: 'fp32', worldSize: 2, gas: 2, steps: 3, clip: 0.5, kernels: 'js' }, // default persistence, reuse, prefetch
  ];
  const overflow: LockstepCase = { stage: 2, precision: 'fp16', worldSize: 2, gas: 1, steps: 4, clip: 0, kernels: 'js', scalePower: 40 };
  const all = [...cases, ...accum, overflow];
  const res = await fakeWorld<EngineResult[]>({ worldSize: 2, module: ranks, fn: 'trainMany', args: all });
  const at = (k: number) => res.map((r) => r[k]);

  cases.forEach((c, k) => {
    const tag = `stage ${c.stage} ${c.precision}`;
    const ref = reference({ ...c, precision: 'fp32' });
    const r = at(k);
    r[0].losses.forEach((_, s) => {
      const mean = (r[0].losses[s] + r[1].losses[s]) / 2;
      assert.ok(Math.abs(mean - ref.losses[s]) <= 1e-4 * ref.losses[s], `${tag} loss at step ${s}: ${mean} vs ${ref.losses[s]}`);
    });
    const tol = c.precision === 'bf16' ? 1e-2 : 1e-3;
    for (const name of Object.keys(ref.params)) {
      ref.params[name].forEach((want, i) => assert.ok(Math.abs(r[0].params![name][i] - want) <= tol, `${tag} ${name}[${i}]`));
    }
    // bit-equal to stage 0 of the same precision
    const k0 = cases.findIndex((x) => x.precision === c.precision && x.stage === 0);
    assert.deepEqual(r[0].losses, at(k0)[0].losses, `${tag} losses equal stage 0's`);
    for (const name of Object.keys(ref.params)) {
      r[0].params![name].forEach((v, i) => {
        const w = at(k0)[0].params![name][i];
        assert.ok(Math.abs(v - w) <= 1e-6 * Math.max(1e-2, Math.abs(w)), `${tag} ${name}[${i}] ${v} vs stage 0's ${w}`);
      });
    }
  });

  accum.forEach((c, q) => {
    const tag = `stage ${c.stage} gas ${c.gas}`;
    const ref = reference(c); // one big batch of gas x N x micro sequences
    const r = at(cases.length + q);
    r[0].losses.forEach((_, s) => {
      const mean = (r[0].losses[s] + r[1].losses[s]) / 2;
      assert.ok(Math.abs(mean - ref.losses[s]) <= 1e-5 * ref.losses[s], `${tag} loss at step ${s}`);
      assert.ok(Math.abs(r[0].norms[s] - ref.norms[s]) <= 1e-5 * ref.norms[s], `${tag} clipping norm at step ${s}: ${r[0].norms[s]} vs ${ref.norms[s]}`);
    });
    for (const name of Object.keys(ref.params)) {
      ref.params[name].forEach((want, i) => assert.ok(Math.abs(r[0].params![name][i] - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${tag} ${name}[${i}]`));
    }
  });

  // 2^40 overflows fp16 gradients: steps are skipped on every rank alike, and counted, until the scale comes down
  const o = at(all.length - 1);
  assert.deepEqual(o[0].applied, o[1].applied, 'ranks agree on overflow');
  assert.equal(o[0].applied[0], false, 'first step skipped');
  assert.equal(o[0].skipped, o[0].applied.filter((a) => !a).length, 'skipped steps counted');
});
