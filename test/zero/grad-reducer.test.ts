// Each reducer kind x world size: the optimizer's segment holds the rank-average of the gradients summed over the
// micro-steps (the sequential reference computed here in fp64), and stage 2's staging buffers are gone after backward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from '../helpers/fake-world.js';
import { contribution, type ReducerCase, type ReducerResult } from '../ranks/reducer-ranks.js';
import { bucketedLayout } from '../../src/zero/partition.js';
import type { GradientReducerKind } from '../../src/config/policy.js';
import { bf16ToF32, f32ToBf16 } from '../../src/tensor/dtype.js';

const ranks = new URL('../ranks/reducer-ranks.js', import.meta.url);
const shapes = [[7, 15], [7], [3, 5], [1], [11]];
const uses = [2, 1, 1, 3, 1];

function reference(worldSize: number, c: ReducerCase): Float64Array {
  const params = shapes.map((s, i) => ({ name: `p${i}`, numel: s.reduce((a, b) => a * b, 1) }));
  const L = bucketedLayout(params, { worldSize, bucketElements: c.bucketElements });
  const out = new Float64Array(L.padded);
  params.forEach((p, i) => {
    const [b, j] = L.locate[i];
    const at = L.buckets[b].flatOffset + L.buckets[b].layout.entries[j].offset;
    for (let r = 0; r < worldSize; r++)
      for (let m = 0; m < c.microSteps; m++)
        for (let k = 0; k < uses[i]; k++) {
          contribution(r, m, i, k, p.numel).forEach((v, e) => {
            out[at + e] += v / worldSize;
          });
        }
  });
  return out;
}

const kinds: GradientReducerKind[] = ['allreduce', 'reduce-scatter-after-backward', 'reduce-scatter-during-backward'];

for (const worldSize of [1, 2, 3]) {
  test(
    `gradient reducers, N = ${worldSize}: segment = average over ranks of the accumulated gradients; stage 2 ` +
      `frees staging`,
    async () => {
      const cases: ReducerCase[] = kinds.flatMap((kind) =>
        (['f32', 'bf16'] as const).map((dtype) => ({
          kind,
          dtype,
          shapes,
          bucketElements: 40,
          microSteps: 2,
          uses,
          overlapComm: worldSize === 2,
        })),
      );
      const res = await fakeWorld<ReducerResult[]>({ worldSize, module: ranks, fn: 'reduceMany', args: cases });
      cases.forEach((c, k) => {
        const { kind, dtype } = c;
        const ref = reference(worldSize, c);
        const tol = dtype === 'f32' ? 1e-6 : 2 ** -7; // bf16: 8 significant bits, values below 4 in magnitude
        res
          .map((x) => x[k])
          .forEach((r, rank) => {
            for (const s of r.segments) {
              s.values.forEach((v, e) => {
                const want = ref[s.start + e];
                assert.ok(
                  Math.abs(v - want) <= tol * Math.max(1, Math.abs(want)),
                  `${kind} ${dtype} N=${worldSize} rank ${rank} element ${s.start + e}: ${v} vs ${want}`,
                );
              });
            }
            if (kind === 'reduce-scatter-during-backward') {
              assert.equal(r.stagingAfter, 0, 'staging buffers freed after backward');
              const oneBucket = 40 * (dtype === 'f32' ? 4 : 2) + 7 * 15 * 4; // the largest bucket (p0 alone) bound
              assert.ok(
                c.overlapComm ? r.stagingBefore <= oneBucket : r.stagingBefore === 0,
                `reduced during backward (${r.stagingBefore} bytes staged)`,
              );
              const params = shapes.map((sh, i) => ({ name: `p${i}`, numel: sh.reduce((a, b) => a * b, 1) }));
              const L = bucketedLayout(params, { worldSize, bucketElements: 40 });
              assert.equal(
                r.gradInUse,
                L.shardNumel * (dtype === 'f32' ? 4 : 2),
                'only the own partition of gradients stays',
              );
            }
          });
      });
    },
  );
}

test('communication_data_type: bf16 gradients reduced in fp32 round once; fp32 gradients reduced in bf16 are rounded', async () => {
  const worldSize = 3;
  const cases: ReducerCase[] = kinds.flatMap((kind) =>
    (
      [
        ['bf16', 'f32'],
        ['f32', 'bf16'],
      ] as const
    ).map(([dtype, commDtype]) => ({
      kind,
      dtype,
      commDtype,
      shapes,
      bucketElements: 40,
      microSteps: 1, // stage 2 adds each micro-step's average into the shard: one reduction, one rounding
      uses,
      overlapComm: kind === 'reduce-scatter-during-backward',
    })),
  );
  const res = await fakeWorld<ReducerResult[]>({ worldSize, module: ranks, fn: 'reduceMany', args: cases });
  cases.forEach((c, k) => {
    const ref = reference(worldSize, c);
    let rounded = 0;
    res
      .map((x) => x[k])
      .forEach((r, rank) => {
        assert.ok(r.stagingAfter === 0);
        for (const s of r.segments)
          s.values.forEach((v, e) => {
            // the average of multiples of 1/16 over 3 ranks: a multiple of 1/48 (the fp64 reference, snapped)
            const want = Math.round(ref[s.start + e]! * 48) / 48 + 0; // + 0: no -0
            const where = `${c.kind} ${c.dtype} reduced in ${c.commDtype}, rank ${rank} element ${s.start + e}`;
            // the contributions are multiples of 1/16: every rank's bf16 sum is exact, so only the average rounds
            if (c.dtype === 'bf16') assert.equal(v, bf16ToF32(f32ToBf16(want)), `${where}: one rounding`);
            else {
              assert.equal(v, bf16ToF32(f32ToBf16(v)), `${where}: the reduction's bf16 value`);
              assert.ok(Math.abs(v - want) <= 2 ** -8 * Math.max(1, Math.abs(want)), `${where}: ${v} vs ${want}`);
              if (Math.abs(v - want) > 1e-6) rounded++;
            }
          });
      });
    if (c.dtype === 'f32') assert.ok(rounded > 0, `${c.kind}: the bf16 reduction rounded some averages`);
  });
});
