import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BYTES, modelStatesBytes, modelStatesBytesPadded } from '../../src/estimate/memory.js';
import { commBytesPerRank, commBytesPerRankPadded, commElementsPerRank } from '../../src/estimate/comm.js';
import { allLiveCounts, estimateZero2, estimateZero3, formatDsTable, zero3Rows } from '../../src/estimate/deepspeed.js';
import { bucketedLayout } from '../../src/zero/partition.js';
import { estimate } from '../../src/cli/estimate.js';

test("the ZeRO paper's table: Psi = 7.5e9, Nd = 64 -> 120, 31.4, 16.6, 1.9 GB", () => {
  const gb = [0, 1, 2, 3].map((s) => modelStatesBytes(7.5e9, 64, s as 0 | 1 | 2 | 3).total / 1e9);
  assert.deepEqual(
    gb.map((x) => Number(x.toFixed(1))),
    [120, 31.4, 16.6, 1.9],
  );
  assert.deepEqual(gb, [120, 31.40625, 16.640625, 1.875]);
});

test('formulas by component, mixed and fp32', () => {
  const P = 1000,
    N = 8;
  assert.deepEqual(modelStatesBytes(P, N, 0), { param: 2 * P, grad: 2 * P, optimizer: 12 * P, total: 16 * P });
  assert.deepEqual(modelStatesBytes(P, N, 1), {
    param: 2 * P,
    grad: 2 * P,
    optimizer: (12 * P) / N,
    total: 4 * P + (12 * P) / N,
  });
  assert.deepEqual(modelStatesBytes(P, N, 2), {
    param: 2 * P,
    grad: (2 * P) / N,
    optimizer: (12 * P) / N,
    total: 2 * P + (14 * P) / N,
  });
  assert.deepEqual(modelStatesBytes(P, N, 3), {
    param: (2 * P) / N,
    grad: (2 * P) / N,
    optimizer: (12 * P) / N,
    total: (16 * P) / N,
  });
  assert.equal(modelStatesBytes(P, N, 0, 'fp32').total, 16 * P);
  assert.equal(modelStatesBytes(P, N, 1, 'fp32').total, 8 * P + (8 * P) / N);
  assert.equal(modelStatesBytes(P, N, 2, 'fp32').total, 4 * P + (12 * P) / N);
  assert.equal(modelStatesBytes(P, N, 3, 'fp32').total, (16 * P) / N);
  assert.equal(modelStatesBytes(P, 1, 3).total, modelStatesBytes(P, 1, 0).total, 'one rank: nothing to partition');
  assert.throws(() => modelStatesBytes(P, 0, 0), /worldSize/);
});

test('padding-exact variant: equals the formula when nothing pads, exceeds it by at most the padding', () => {
  const shapes = [
    { name: 'w', numel: 7 * 15 },
    { name: 'b', numel: 7 },
    { name: 'x', numel: 33 },
  ];
  for (const worldSize of [1, 2, 3, 4, 5, 8]) {
    const L = bucketedLayout(shapes, { worldSize, bucketElements: 64 });
    const psi = 7 * 15 + 7 + 33;
    for (const stage of [0, 1, 2, 3] as const) {
      const exact = modelStatesBytesPadded(L, stage);
      const formula = modelStatesBytes(psi, worldSize, stage);
      assert.ok(exact.total >= formula.total - 1e-9);
      assert.ok(exact.total - formula.total <= 16 * (L.padded - psi) + 1e-9, `stage ${stage} N ${worldSize}`);
      if (L.padded === psi) assert.equal(exact.total, formula.total);
    }
    assert.ok(commBytesPerRankPadded(L, 2, 2) >= commBytesPerRank(psi, worldSize, 2, 2) - 1e-9);
  }
  const even = bucketedLayout([{ name: 'a', numel: 64 }], { worldSize: 4, bucketElements: 1e9 });
  assert.equal(modelStatesBytesPadded(even, 2, 'fp32').total, 4 * 64 + 12 * 16);
  assert.equal(commBytesPerRankPadded(even, 3, 4), commBytesPerRank(64, 4, 3, 4));
});

test('communication: 2 Psi (N-1)/N for stages 0-2, 3 Psi (N-1)/N for stage 3', () => {
  assert.equal(commElementsPerRank(1000, 4, 0), 1500);
  assert.equal(commElementsPerRank(1000, 4, 1), 1500);
  assert.equal(commElementsPerRank(1000, 4, 2), 1500);
  assert.equal(commElementsPerRank(1000, 4, 3), 2250);
  assert.equal(commBytesPerRank(1000, 4, 3, 2), 4500);
  assert.equal(commElementsPerRank(1000, 1, 3), 0);
  assert.deepEqual(BYTES.mixed, { param: 2, grad: 2, optimizer: 12 });
});

test("DeepSpeed's estimators (values from its formulas, 1.5 buffer factor)", () => {
  const hw = { nodes: 1, gpusPerNode: 8 };
  const P = 2851e6,
    L = 65e6;
  assert.deepEqual(estimateZero2(P, hw, false), {
    cpuBytes: Math.trunc(P * 4 * 8 * 1.5),
    gpuBytes: 4 * P + 2 * P,
    options: 'cpu_offload=0',
  });
  assert.equal(estimateZero2(P, hw, true).gpuBytes, 2 * P);
  assert.equal(estimateZero2(P, hw, true).cpuBytes, Math.trunc(P * 32 * 1.5));
  const none = estimateZero3(P, L, hw, { offloadOptimizer: false, offloadParam: false, zeroInit: true });
  assert.equal(none.gpuBytes, 4 * L + Math.trunc((18 * P) / 8));
  const all = estimateZero3(P, L, hw, { offloadOptimizer: true, offloadParam: true, zeroInit: true });
  assert.equal(all.gpuBytes, 4 * L);
  assert.equal(all.cpuBytes, Math.trunc(P * 18 * 1.5));
  assert.equal(zero3Rows(P, L, hw).length, 6);
  const table = formatDsTable('t', P, hw, zero3Rows(P, L, hw), L);
  assert.match(table, /HW: Setup with 1 node, 8 GPUs per node\./);
  assert.match(table, /SW: Model with 2851M total params, 65M largest layer params\./);
  assert.match(table, / {2}per CPU {2}\| {2}per GPU \| {3}Options/);
  assert.match(table, /offload_param=cpu , offload_optimizer=cpu , zero_init=1/);
});

test('all_live counts: tied parameters once, largest layer by own parameters', () => {
  const wte = { id: 'wte', numel: 50 };
  const c = allLiveCounts([
    { params: [wte] },
    {
      params: [
        { id: 'w1', numel: 30 },
        { id: 'b1', numel: 3 },
      ],
    },
    { params: [wte] },
  ]);
  assert.deepEqual(c, { totalParams: 83, largestLayerParams: 50 });
});

test('zerots estimate prints the table and returns the rows', () => {
  const lines: string[] = [];
  const rows = estimate({
    params: 7.5e9,
    worldSize: 64,
    largestLayerParams: 1e8,
    json: true,
    print: (l) => lines.push(l),
  });
  assert.deepEqual(
    rows.map((r) => r.mixedBytes),
    [120e9, 31.40625e9, 16.640625e9, 1.875e9],
  );
  const text = lines.join('\n');
  for (const s of ['120.0 GB', '31.41 GB', '16.64 GB', '1.88 GB', '2 Psi + 14 Psi/N', 'per CPU', 'zero_init=0'])
    assert.ok(text.includes(s), s);
  assert.equal(JSON.parse(lines[lines.length - 1]).world_size, 64);
  assert.throws(() => estimate({ params: -1, worldSize: 2, print: () => {} }), /params/);
  assert.throws(() => estimate({ params: 10, worldSize: 4, nodes: 3, print: () => {} }), /nodes/);
});
