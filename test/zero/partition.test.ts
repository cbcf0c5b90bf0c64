import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bucketedLayout,
  bucketize,
  flatLayout,
  ownerRanks,
  rankRange,
  shardSlices,
  type ParamShape,
} from '../../src/zero/partition.js';
import { rng, randInt } from '../helpers/rng.js';

function randomParams(r: () => number): ParamShape[] {
  const n = randInt(r, 0, 9);
  // uneven shapes like 7x15, scalars, empty tensors, the occasional large one
  return Array.from({ length: n }, (_, i) => {
    const kind = r();
    const numel =
      kind < 0.1
        ? 0
        : kind < 0.3
          ? randInt(r, 1, 3)
          : kind < 0.9
            ? randInt(r, 1, 17) * randInt(r, 1, 15)
            : randInt(r, 200, 700);
    return { name: `p${i}`, numel };
  });
}

const CASES = 400;

test('flat layout: offsets aligned, in order, no overlap; padding to worldSize x alignment', () => {
  const r = rng(1);
  for (let c = 0; c < CASES; c++) {
    const params = randomParams(r);
    const worldSize = randInt(r, 1, 8);
    const alignment = [1, 2, 4, 16][randInt(r, 0, 3)];
    const L = flatLayout(params, { worldSize, alignment });
    let end = 0;
    L.entries.forEach((e, i) => {
      assert.equal(e.numel, params[i].numel);
      assert.equal(e.index, i);
      assert.equal(e.offset % alignment, 0, 'offset aligned');
      assert.ok(e.offset >= end, 'no overlap');
      assert.ok(e.offset - end < alignment, 'gap only for alignment');
      end = e.offset + e.numel;
    });
    assert.equal(L.used, end);
    assert.equal(L.padded % (worldSize * alignment), 0);
    assert.ok(L.padded >= L.used && L.padded - L.used < worldSize * alignment, 'minimal padding');
    assert.equal(L.chunk * worldSize, L.padded);
    assert.equal(L.chunk % alignment, 0, 'chunk aligned');
  }
});

test('shard slices: every parameter element in exactly one rank, at the right flat and shard positions', () => {
  const r = rng(2);
  for (let c = 0; c < CASES; c++) {
    const params = randomParams(r);
    const worldSize = randInt(r, 1, 8);
    const alignment = [1, 4, 16][randInt(r, 0, 2)];
    const L = flatLayout(params, { worldSize, alignment });
    const owner = params.map((p) => new Int32Array(p.numel).fill(-1));
    const covered = new Uint8Array(L.padded);
    for (let rank = 0; rank < worldSize; rank++) {
      const { start, end } = rankRange(L, rank);
      assert.equal(start, rank * L.chunk);
      assert.equal(end - start, L.chunk);
      for (const s of shardSlices(L, rank)) {
        assert.equal(s.flatStart, L.entries[s.entry].offset + s.paramStart);
        assert.equal(s.shardStart, s.flatStart - start);
        assert.ok(s.shardStart >= 0 && s.shardStart + s.length <= L.chunk);
        for (let k = 0; k < s.length; k++) {
          assert.equal(owner[s.entry][s.paramStart + k], -1, 'no element owned twice');
          owner[s.entry][s.paramStart + k] = rank;
          assert.equal(covered[s.flatStart + k], 0);
          covered[s.flatStart + k] = 1;
        }
      }
    }
    owner.forEach((o, i) => {
      assert.ok(
        o.every((x) => x >= 0),
        `every element of ${params[i].name} owned`,
      );
      // ownerRanks agrees with the slices
      assert.deepEqual(
        ownerRanks(L, i),
        [...new Set(o)].sort((a, b) => a - b),
      );
    });
  }
});

test('the padding lies at the end, in the last partition(s)', () => {
  const L = flatLayout(
    [
      { name: 'w', numel: 7 * 15 },
      { name: 'b', numel: 7 },
    ],
    { worldSize: 4 },
  );
  assert.deepEqual([L.used, L.padded, L.chunk], [112, 112, 28]);
  const M = flatLayout(
    [
      { name: 'w', numel: 7 * 15 },
      { name: 'b', numel: 6 },
    ],
    { worldSize: 4 },
  );
  assert.deepEqual([M.used, M.padded, M.chunk], [111, 112, 28]);
  const last = shardSlices(M, 3);
  assert.equal(
    last.reduce((a, s) => a + s.length, 0),
    27,
    'last rank holds 27 real + 1 padding element',
  );
  const N = flatLayout([{ name: 'x', numel: 3 }], { worldSize: 8 });
  assert.deepEqual(shardSlices(N, 5), [], 'ranks past the data own only padding');
});

test('buckets: consecutive, in order, within the size unless one parameter is larger', () => {
  const r = rng(3);
  for (let c = 0; c < CASES; c++) {
    const params = randomParams(r);
    const size = randInt(r, 1, 400);
    const buckets = bucketize(params, size);
    assert.deepEqual(
      buckets.flat(),
      params.map((_, i) => i),
    );
    for (const b of buckets) {
      const total = b.reduce((a, i) => a + params[i].numel, 0);
      assert.ok(b.length > 0);
      assert.ok(total <= size || b.length === 1, 'over-size only for a single parameter');
    }
    // greedy: the next bucket's first parameter would not have fitted
    for (let k = 0; k + 1 < buckets.length; k++) {
      const total = buckets[k].reduce((a, i) => a + params[i].numel, 0);
      assert.ok(total + params[buckets[k + 1][0]].numel > size);
    }
  }
});

test('bucketed layout: buckets back to back, shard = chunk of every bucket, locate inverts', () => {
  const r = rng(4);
  for (let c = 0; c < CASES; c++) {
    const params = randomParams(r);
    const worldSize = randInt(r, 1, 8);
    const B = bucketedLayout(params, {
      worldSize,
      alignment: [1, 4][randInt(r, 0, 1)],
      bucketElements: randInt(r, 1, 300),
    });
    let flat = 0;
    let shard = 0;
    for (const b of B.buckets) {
      assert.equal(b.flatOffset, flat);
      assert.equal(b.shardOffset, shard);
      assert.equal(b.layout.padded % worldSize, 0);
      flat += b.layout.padded;
      shard += b.layout.chunk;
    }
    assert.equal(B.padded, flat);
    assert.equal(B.shardNumel * worldSize, B.padded);
    params.forEach((p, i) => {
      const [b, j] = B.locate[i];
      const e = B.buckets[b].layout.entries[j];
      assert.equal(e.index, i);
      assert.equal(e.numel, p.numel);
    });
  }
});

test('bad arguments are refused', () => {
  assert.throws(() => flatLayout([], { worldSize: 0 }), /worldSize/);
  assert.throws(() => flatLayout([{ name: 'a', numel: -1 }], { worldSize: 1 }), /parameter a/);
  assert.throws(() => rankRange(flatLayout([], { worldSize: 2 }), 2), /rank 2/);
  assert.throws(() => bucketize([], 0), /bucket size/);
});

test('grouped layout: explicit groups, each parameter in exactly one', async () => {
  const { groupedLayout, rangeSlices } = await import('../../src/zero/partition.js');
  const ps = [
    { name: 'a', numel: 5 },
    { name: 'b', numel: 3 },
    { name: 'c', numel: 4 },
  ];
  const G = groupedLayout(ps, [[0, 2], [1]], { worldSize: 2 });
  assert.deepEqual(G.locate, [
    [0, 0],
    [1, 0],
    [0, 1],
  ]);
  assert.deepEqual(
    G.buckets.map((b) => [b.flatOffset, b.layout.padded, b.shardOffset, b.layout.chunk]),
    [
      [0, 10, 0, 5],
      [10, 4, 5, 2],
    ],
  );
  assert.throws(() => groupedLayout(ps, [[0, 1]], { worldSize: 2 }), /c is in no group/);
  assert.throws(() => groupedLayout(ps, [[0, 1, 2], [1]], { worldSize: 2 }), /b is in two groups/);
  assert.deepEqual(
    rangeSlices(G.buckets[0].layout, 0, 10).map((s) => [s.name, s.length]),
    [
      ['a', 5],
      ['c', 4],
    ],
  );
});
