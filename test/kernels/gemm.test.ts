// GEMM: the wasm packed kernel against the js oracle on awkward shapes, every transpose, accumulate on and off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWasmKernels, kernelScratchBytes } from '../../src/kernels/index.js';
import { CTRL_BYTES, ParallelGemm } from '../../src/kernels/parallel-gemm.js';
import { assertClose, makeBench, randomArray } from '../helpers/kernel-memory.js';

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 9, 1],
  [7, 1, 5],
  [2, 3, 4],
  [4, 8, 16],
  [5, 9, 17],
  [13, 11, 7],
  [31, 37, 41],
  [64, 64, 128],
  [65, 67, 129],
  [3, 600, 257],
  [130, 17, 300],
  [97, 513, 131],
  [73, 145, 72],
  [7, 300, 2100], // K large enough that the packed-B column block is narrower than N
];

test('matmul: wasm equals js for every shape, transpose and accumulate choice', () => {
  const b = makeBench(512);
  let seed = 1;
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const accumulate of [false, true]) {
          b.reset();
          const A = b.put(randomArray(M * K, seed++));
          const B = b.put(randomArray(K * N, seed++));
          const C0 = randomArray(M * N, seed++);
          const Cw = b.put(C0),
            Cj = b.put(C0);
          b.wasm.matmul(Cw, A, B, M, N, K, transA, transB, accumulate);
          b.js.matmul(Cj, A, B, M, N, K, transA, transB, accumulate);
          // fp32 sums of K products of numbers in [-1, 1): error grows like sqrt(K) ulps.
          assertClose(
            b.get(Cw, M * N),
            b.get(Cj, M * N),
            1e-5,
            2e-6 * Math.sqrt(K) * 4,
            `matmul M=${M} N=${N} K=${K} transA=${transA} transB=${transB} accumulate=${accumulate}`,
          );
        }
      }
    }
  }
});

test('matmul: K = 0 writes zeros, or leaves C when accumulating', () => {
  const b = makeBench(64);
  for (const k of [b.wasm, b.js]) {
    const C = b.put([1, 2, 3, 4, 5, 6]);
    k.matmul(C, C, C, 2, 3, 0, false, false, true);
    assert.deepEqual(Array.from(b.get(C, 6)), [1, 2, 3, 4, 5, 6]);
    k.matmul(C, C, C, 2, 3, 0, false, false, false);
    assert.deepEqual(Array.from(b.get(C, 6)), [0, 0, 0, 0, 0, 0]);
  }
});

test('gemmStrided: sub-matrix views with leading dimensions and alpha', () => {
  const b = makeBench(128);
  const w = createWasmKernels(b.memory, 65536);
  const M = 19,
    N = 23,
    K = 29,
    ld = 40;
  const Abig = randomArray(ld * ld, 5),
    Bbig = randomArray(ld * ld, 6);
  const A = b.put(Abig),
    B = b.put(Bbig);
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const C = b.put(new Float32Array(M * ld).fill(1));
      w.gemmStrided(C, ld, A, ld, B, ld, M, N, K, transA, transB, true, 0.5);
      const got = b.get(C, M * ld);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < ld; j++) {
          let s = 0;
          if (j < N)
            for (let k = 0; k < K; k++)
              s += (transA ? Abig[k * ld + i]! : Abig[i * ld + k]!) * (transB ? Bbig[j * ld + k]! : Bbig[k * ld + j]!);
          const want = 1 + (j < N ? 0.5 * s : 0);
          assert.ok(
            Math.abs(got[i * ld + j]! - want) < 1e-4,
            `C[${i},${j}] = ${got[i * ld + j]}, want ${want} (transA=${transA}, transB=${transB})`,
          );
        }
      }
    }
  }
});

test('ParallelGemm: rows split over a worker thread give the same C as the js oracle', async () => {
  const b = makeBench(256);
  const s1 = b.alloc(kernelScratchBytes() / 4),
    ctrl = b.alloc(CTRL_BYTES / 4);
  const pg = await ParallelGemm.start(b.memory, [65536, s1], ctrl);
  try {
    assert.equal(pg.threads, 2);
    for (const [M, N, K] of [
      [1, 5, 3],
      [37, 29, 41],
      [150, 70, 90],
    ] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const A = b.put(randomArray(M * K, M)),
            B = b.put(randomArray(K * N, N));
          const C0 = randomArray(M * N, K),
            Cp = b.put(C0),
            Cj = b.put(C0);
          pg.matmul(Cp, A, B, M, N, K, transA, transB, true);
          b.js.matmul(Cj, A, B, M, N, K, transA, transB, true);
          assertClose(
            b.get(Cp, M * N),
            b.get(Cj, M * N),
            1e-5,
            1e-4,
            `parallel M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`,
          );
        }
      }
    }
  } finally {
    await pg.close();
  }
});
