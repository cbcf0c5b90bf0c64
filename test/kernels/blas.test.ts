// The `blas` backend (OpenBLAS through koffi, on the device memory itself) against the js oracle: every shape,
// transpose and accumulate choice of the wasm GEMM test, K = 0, and a Device that asks for 'auto'.
// Skips with the reason when koffi or OpenBLAS is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blasStatus, createKernels } from '../../src/kernels/index.js';
import { Device } from '../../src/tensor/device.js';
import { assertClose, makeBench, randomArray } from '../helpers/kernel-memory.js';

const status = blasStatus();
const skip = status.ok ? false : `no native BLAS: ${status.reason}`;
if (skip) console.log(`# skipping the blas kernel tests: ${skip}`);

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 1, 5],
  [5, 9, 17],
  [31, 37, 41],
  [65, 67, 129],
  [3, 600, 257],
  [130, 17, 300],
  [97, 513, 131],
];

test('matmul: blas equals js for every shape, transpose and accumulate choice', { skip }, () => {
  const b = makeBench(512);
  const blas = createKernels({ memory: b.memory, scratch: 65536, backend: 'blas' });
  assert.equal(blas.backend, 'blas');
  let seed = 1;
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const accumulate of [false, true]) {
          b.reset();
          const A = b.put(randomArray(M * K, seed++));
          const B = b.put(randomArray(K * N, seed++));
          const C0 = randomArray(M * N, seed++);
          const Cb = b.put(C0),
            Cj = b.put(C0);
          blas.matmul(Cb, A, B, M, N, K, transA, transB, accumulate);
          b.js.matmul(Cj, A, B, M, N, K, transA, transB, accumulate);
          assertClose(
            b.get(Cb, M * N),
            b.get(Cj, M * N),
            1e-5,
            2e-6 * Math.sqrt(K) * 4,
            `blas matmul M=${M} N=${N} K=${K} transA=${transA} transB=${transB} accumulate=${accumulate}`,
          );
        }
      }
    }
  }
});

test('matmul: blas with K = 0 writes zeros, or leaves C when accumulating; NaN in C is overwritten', { skip }, () => {
  const b = makeBench(64);
  const blas = createKernels({ memory: b.memory, scratch: 65536, backend: 'blas' });
  const C = b.put([1, 2, 3, 4, 5, 6]);
  blas.matmul(C, C, C, 2, 3, 0, false, false, true);
  assert.deepEqual(Array.from(b.get(C, 6)), [1, 2, 3, 4, 5, 6]);
  blas.matmul(C, C, C, 2, 3, 0, false, false, false);
  assert.deepEqual(Array.from(b.get(C, 6)), [0, 0, 0, 0, 0, 0]);
  const A = b.put([1, 2]),
    B = b.put([3, 4]),
    D = b.put([Number.NaN]);
  blas.matmul(D, A, B, 1, 1, 2, false, false, false);
  assert.deepEqual(Array.from(b.get(D, 1)), [11]);
});

test("Device: kernels 'auto' runs blas when the library loads, and the other ops are the wasm ones", { skip }, () => {
  const d = new Device({ capacityBytes: 8 << 20 });
  assert.equal(d.kernels.backend, 'blas');
  assert.equal(new Device({ capacityBytes: 8 << 20, kernels: 'wasm' }).kernels.backend, 'wasm');
});
