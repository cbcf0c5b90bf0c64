// The fake transport is the oracle under the real ProcessGroup for zero/'s multi-rank tests: check it against
// hand-computed values (validation, sequence numbers and the byte log are the real group's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeWorld } from '../helpers/fake-world.js';
import { f32ToBf16, bf16ToF32 } from '../../src/tensor/dtype.js';

const ranks = new URL('../ranks/fake-transport-ranks.js', import.meta.url);

test('fake transport: collectives over 3 ranks equal the sequential reference', async () => {
  const N = 3;
  const res = await fakeWorld<Record<string, number[]>>({ worldSize: N, module: ranks, fn: 'collectives' });
  const input = (r: number) => Array.from({ length: 2 * N }, (_, i) => (r + 1) * 10 + i);
  const sum = input(0).map((_, i) => input(0)[i] + input(1)[i] + input(2)[i]);
  res.forEach((r, rank) => {
    assert.deepEqual(r.allReduce, sum);
    assert.deepEqual(r.reduceScatter, [sum[2 * rank] / 3, sum[2 * rank + 1] / 3].map(Math.fround));
    assert.deepEqual(r.allGather, [0, -0, 1, -1, 2, -2]);
    const want = Array.from({ length: N }, (_, i) =>
      bf16ToF32(f32ToBf16([0, 1, 2].reduce((a, q) => Math.fround(a + bf16ToF32(f32ToBf16(1 + q / 256 + i))), 0))),
    );
    assert.deepEqual(r.bf16, want);
    // ring bytes: all-reduce 2(N-1)/N, reduce-scatter and all-gather (N-1)/N of 6 f32, bf16 all-reduce of 3 elements
    assert.equal(r.bytes[0], (2 * (N - 1) * 24 + (N - 1) * 24 + (N - 1) * 24) / N + (2 * (N - 1) * 6) / N);
  });
});

test('fake transport: ranks calling different collectives fail with CollectiveMismatchError', async () => {
  await assert.rejects(
    fakeWorld({ worldSize: 2, module: ranks, fn: 'mismatch' }),
    /CollectiveMismatchError|called all_reduce/,
  );
});
