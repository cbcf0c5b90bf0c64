// Elementwise, row-wise and reduction kernels: wasm against the js oracle on awkward sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, makeBench, randomArray, rng } from '../helpers/kernel-memory.js';

const SIZES = [1, 3, 4, 7, 8, 33, 1001];
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 5],
  [3, 4],
  [4, 7],
  [5, 33],
  [2, 130],
  [3, 1001],
];

test('bias add / backward, axpy, add, scale, fill, copy', () => {
  const b = makeBench();
  for (const [rows, cols] of SHAPES) {
    b.reset();
    const Y0 = randomArray(rows * cols, rows * 7 + cols),
      bias = b.put(randomArray(cols, 3));
    const Yw = b.put(Y0),
      Yj = b.put(Y0);
    b.wasm.biasAdd(Yw, bias, rows, cols);
    b.js.biasAdd(Yj, bias, rows, cols);
    assertClose(b.get(Yw, rows * cols), b.get(Yj, rows * cols), 0, 0, `biasAdd ${rows}x${cols}`);
    const db0 = randomArray(cols, 9),
      dw = b.put(db0),
      dj = b.put(db0);
    b.wasm.biasBackward(dw, Yw, rows, cols);
    b.js.biasBackward(dj, Yw, rows, cols);
    assertClose(b.get(dw, cols), b.get(dj, cols), 1e-6, 1e-6, `biasBackward ${rows}x${cols}`);
  }
  for (const n of SIZES) {
    b.reset();
    const x = b.put(randomArray(n, n)),
      y0 = randomArray(n, n + 1);
    const yw = b.put(y0),
      yj = b.put(y0);
    b.wasm.axpy(yw, -0.37, x, n);
    b.js.axpy(yj, -0.37, x, n);
    assertClose(b.get(yw, n), b.get(yj, n), 1e-6, 1e-7, `axpy n=${n}`);
    b.f32.copyWithin(yw >>> 2, yj >>> 2, (yj >>> 2) + n); // each op starts from identical inputs
    b.wasm.add(yw, yw, x, n);
    b.js.add(yj, yj, x, n);
    assertClose(b.get(yw, n), b.get(yj, n), 1e-6, 1e-7, `add in place n=${n}`);
    b.f32.copyWithin(yw >>> 2, yj >>> 2, (yj >>> 2) + n);
    b.wasm.scale(yw, 3.5, n);
    b.js.scale(yj, 3.5, n);
    assertClose(b.get(yw, n), b.get(yj, n), 1e-6, 1e-7, `scale n=${n}`);
    b.wasm.fill(yw, 2.25, n);
    assert.ok(
      b.get(yw, n).every((v) => v === 2.25),
      `fill n=${n}`,
    );
    for (const k of [b.wasm, b.js]) {
      const src = b.put(randomArray(n + 3, 4));
      k.copy(src + 4, src, n * 4); // overlapping forwards and backwards: memmove semantics
      assert.deepEqual(
        Array.from(b.get(src + 4, n)),
        Array.from(randomArray(n + 3, 4).subarray(0, n)),
        `${k.backend} copy up n=${n}`,
      );
      const src2 = b.put(randomArray(n + 3, 4));
      k.copy(src2, src2 + 8, n * 4);
      assert.deepEqual(
        Array.from(b.get(src2, n)),
        Array.from(randomArray(n + 3, 4).subarray(2, n + 2)),
        `${k.backend} copy down n=${n}`,
      );
    }
  }
});

test('gelu forward and backward', () => {
  const b = makeBench();
  for (const n of SIZES) {
    for (const acc of [false, true]) {
      b.reset();
      const X = b.put(randomArray(n, n, -6, 6)),
        dY = b.put(randomArray(n, n + 2));
      const Yw = b.alloc(n),
        Yj = b.alloc(n);
      b.wasm.geluForward(Yw, X, n);
      b.js.geluForward(Yj, X, n);
      assertClose(b.get(Yw, n), b.get(Yj, n), 1e-5, 1e-6, `gelu n=${n}`);
      const d0 = randomArray(n, 11),
        dw = b.put(d0),
        dj = b.put(d0);
      b.wasm.geluBackward(dw, X, dY, n, acc);
      b.js.geluBackward(dj, X, dY, n, acc);
      assertClose(b.get(dw, n), b.get(dj, n), 1e-5, 1e-6, `geluBackward n=${n} accumulate=${acc}`);
    }
  }
});

test('layernorm forward and backward', () => {
  const b = makeBench();
  for (const [rows, cols] of SHAPES.filter(([, c]) => c > 1)) {
    for (const acc of [false, true]) {
      b.reset();
      const X = b.put(randomArray(rows * cols, cols, -3, 5)),
        g = b.put(randomArray(cols, 2)),
        be = b.put(randomArray(cols, 3));
      const out = [b.wasm, b.js].map((k) => {
        const Y = b.alloc(rows * cols),
          mean = b.alloc(rows),
          rstd = b.alloc(rows);
        k.layerNormForward(Y, mean, rstd, X, g, be, rows, cols, 1e-5);
        const dY = b.put(randomArray(rows * cols, 5)),
          dX = b.put(randomArray(rows * cols, 6));
        const dG = b.put(randomArray(cols, 7)),
          dB = b.put(randomArray(cols, 8));
        k.layerNormBackward(dX, dG, dB, dY, X, mean, rstd, g, rows, cols, acc);
        return [
          b.get(Y, rows * cols),
          b.get(mean, rows),
          b.get(rstd, rows),
          b.get(dX, rows * cols),
          b.get(dG, cols),
          b.get(dB, cols),
        ];
      });
      const names = ['Y', 'mean', 'rstd', 'dX', 'dGamma', 'dBeta'];
      names.forEach((nm, i) =>
        assertClose(out[0]![i]!, out[1]![i]!, 2e-5, 2e-5, `layerNorm ${nm} ${rows}x${cols} accumulate=${acc}`),
      );
    }
  }
});

test('softmax (also in place) and cross-entropy', () => {
  const b = makeBench();
  for (const [rows, cols] of SHAPES) {
    b.reset();
    const x0 = randomArray(rows * cols, cols, -20, 20);
    const X = b.put(x0),
      Yw = b.alloc(rows * cols),
      Yj = b.alloc(rows * cols),
      Xin = b.put(x0);
    b.wasm.softmax(Yw, X, rows, cols);
    b.js.softmax(Yj, X, rows, cols);
    b.wasm.softmax(Xin, Xin, rows, cols);
    assertClose(b.get(Yw, rows * cols), b.get(Yj, rows * cols), 2e-5, 1e-7, `softmax ${rows}x${cols}`);
    assertClose(b.get(Xin, rows * cols), b.get(Yj, rows * cols), 2e-5, 1e-7, `softmax in place ${rows}x${cols}`);
    const r = rng(cols);
    const T = b.alloc(rows);
    for (let i = 0; i < rows; i++) b.i32[(T >>> 2) + i] = i === 1 ? -1 : Math.floor(r(0, cols));
    const lw = b.alloc(rows),
      lj = b.alloc(rows);
    b.wasm.crossEntropyForward(lw, X, T, rows, cols);
    b.js.crossEntropyForward(lj, X, T, rows, cols);
    assertClose(b.get(lw, rows), b.get(lj, rows), 1e-5, 1e-5, `crossEntropyForward ${rows}x${cols}`);
    const dw = b.alloc(rows * cols),
      dj = b.alloc(rows * cols),
      din = b.put(x0);
    b.wasm.crossEntropyBackward(dw, X, T, rows, cols, 0.25);
    b.js.crossEntropyBackward(dj, X, T, rows, cols, 0.25);
    b.wasm.crossEntropyBackward(din, din, T, rows, cols, 0.25);
    assertClose(b.get(dw, rows * cols), b.get(dj, rows * cols), 2e-5, 1e-7, `crossEntropyBackward ${rows}x${cols}`);
    assertClose(
      b.get(din, rows * cols),
      b.get(dj, rows * cols),
      2e-5,
      1e-7,
      `crossEntropyBackward in place ${rows}x${cols}`,
    );
  }
  const X = b.put([1, 2, 3]),
    T = b.alloc(1);
  b.i32[T >>> 2] = 3;
  for (const k of [b.wasm, b.js])
    assert.throws(() => k.crossEntropyForward(b.alloc(1), X, T, 1, 3), { name: 'ShapeError' });
});

test('embedding forward and backward (repeated indices accumulate)', () => {
  const b = makeBench();
  const V = 11,
    C = 7,
    n = 9;
  const table = b.put(randomArray(V * C, 1));
  const idx = b.alloc(n);
  b.i32.set([3, 0, 10, 3, 3, 5, 0, 9, 1], idx >>> 2);
  const ow = b.alloc(n * C),
    oj = b.alloc(n * C);
  b.wasm.embeddingForward(ow, idx, table, n, C);
  b.js.embeddingForward(oj, idx, table, n, C);
  assertClose(b.get(ow, n * C), b.get(oj, n * C), 0, 0, 'embeddingForward');
  const d0 = randomArray(V * C, 2),
    dw = b.put(d0),
    dj = b.put(d0),
    dout = b.put(randomArray(n * C, 3));
  b.wasm.embeddingBackward(dw, idx, dout, n, C);
  b.js.embeddingBackward(dj, idx, dout, n, C);
  assertClose(b.get(dw, V * C), b.get(dj, V * C), 1e-6, 1e-6, 'embeddingBackward');
});

test('sumSquares and allFinite, fp32 and 16-bit', () => {
  const b = makeBench();
  for (const n of SIZES) {
    b.reset();
    const x = b.put(randomArray(n, n, -100, 100));
    const h = b.alloc(n, 2);
    for (const t of ['bf16', 'f16'] as const) {
      b.js.castToHalf(h, x, n, t);
      assert.ok(
        Math.abs(b.wasm.sumSquares16(h, n, t) - b.js.sumSquares16(h, n, t)) <= 1e-12 * b.js.sumSquares16(h, n, t),
        `sumSquares16 ${t} n=${n}`,
      );
      assert.equal(b.wasm.allFinite16(h, n, t), true);
      const bad = t === 'bf16' ? 0x7f80 : 0xfc00; // +Inf bf16, -Inf f16
      b.u16[(h >>> 1) + n - 1] = bad;
      assert.equal(b.wasm.allFinite16(h, n, t), false, `allFinite16 ${t} n=${n}`);
      assert.equal(b.js.allFinite16(h, n, t), false);
    }
    assert.ok(
      Math.abs(b.wasm.sumSquares(x, n) - b.js.sumSquares(x, n)) <= 1e-12 * b.js.sumSquares(x, n),
      `sumSquares n=${n}`,
    );
    for (const bad of [NaN, Infinity, -Infinity]) {
      const y = b.put(randomArray(n, 1));
      assert.equal(b.wasm.allFinite(y, n), true);
      b.f32[(y >>> 2) + Math.floor(n / 2)] = bad;
      assert.equal(b.wasm.allFinite(y, n), false, `allFinite ${bad} n=${n}`);
      assert.equal(b.js.allFinite(y, n), false);
    }
  }
});

test('a NaN in a row makes softmax and cross-entropy of that row NaN (so allFinite catches it)', () => {
  const b = makeBench(64);
  for (const k of [b.wasm, b.js]) {
    for (const cols of [3, 8, 13]) {
      b.reset();
      const x = randomArray(2 * cols, cols);
      x[cols + (cols >> 1)] = NaN;
      const X = b.put(x),
        Y = b.alloc(2 * cols),
        T = b.alloc(2),
        L = b.alloc(2);
      b.i32.set([0, 1], T >>> 2);
      k.softmax(Y, X, 2, cols);
      assert.ok(b.get(Y, cols).every(Number.isFinite), `${k.backend} softmax clean row cols=${cols}`);
      assert.ok(b.get(Y + cols * 4, cols).every(Number.isNaN), `${k.backend} softmax NaN row cols=${cols}`);
      k.crossEntropyForward(L, X, T, 2, cols);
      assert.ok(
        Number.isFinite(b.f32[L >>> 2]!) && Number.isNaN(b.f32[(L >>> 2) + 1]!),
        `${k.backend} cross-entropy cols=${cols}`,
      );
    }
  }
});
