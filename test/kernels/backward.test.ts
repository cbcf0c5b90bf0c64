// Every backward kernel against central finite differences of its forward, on both backends.
// L = sum(R * forward(x)) for a fixed random R, so dL/dY = R is what the backward kernel receives.
// Differences are taken in float64 of fp32 outputs with a step of 1e-2; tolerance is relative to the largest
// gradient entry, which fp32 forward rounding and the O(h^2) truncation error stay well inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kernels } from '../../src/kernels/index.js';
import { makeBench, randomArray, type Bench } from '../helpers/kernel-memory.js';

const H = 1e-2;

/** Numerical gradient of loss() with respect to the n fp32 values at ptr. */
function numericGrad(b: Bench, ptr: number, n: number, loss: () => number): Float64Array {
  const g = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const j = (ptr >>> 2) + i,
      x = b.f32[j]!;
    b.f32[j] = x + H;
    const xp = b.f32[j]!,
      lp = loss();
    b.f32[j] = x - H;
    const xm = b.f32[j]!,
      lm = loss();
    b.f32[j] = x;
    g[i] = (lp - lm) / (xp - xm);
  }
  return g;
}

function dot(b: Bench, ptr: number, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += b.f32[(ptr >>> 2) + i]! * r[i]!;
  return s;
}

function assertGrad(analytic: ArrayLike<number>, numeric: Float64Array, what: string, rtol = 1e-2): void {
  let scale = 0;
  for (let i = 0; i < numeric.length; i++) scale = Math.max(scale, Math.abs(numeric[i]!));
  for (let i = 0; i < numeric.length; i++) {
    if (!(Math.abs(analytic[i]! - numeric[i]!) <= rtol * scale + 1e-4)) {
      assert.fail(`${what}: d[${i}] analytic ${analytic[i]}, numeric ${numeric[i]} (scale ${scale})`);
    }
  }
}

function eachBackend(fn: (b: Bench, k: Kernels) => void): void {
  const b = makeBench(64);
  for (const k of [b.wasm, b.js]) {
    b.reset();
    fn(b, k);
  }
}

test('gelu backward matches finite differences', () =>
  eachBackend((b, k) => {
    const n = 23;
    const X = b.put(randomArray(n, 1, -4, 4)),
      Y = b.alloc(n),
      R = randomArray(n, 2),
      dY = b.put(R),
      dX = b.alloc(n);
    k.geluBackward(dX, X, dY, n, false);
    assertGrad(
      b.get(dX, n),
      numericGrad(b, X, n, () => {
        k.geluForward(Y, X, n);
        return dot(b, Y, R);
      }),
      `${k.backend} gelu`,
    );
  }));

test('layernorm backward (dX, dGamma, dBeta) matches finite differences', () =>
  eachBackend((b, k) => {
    const rows = 3,
      cols = 7,
      n = rows * cols;
    const X = b.put(randomArray(n, 3, -2, 2)),
      g = b.put(randomArray(cols, 4)),
      be = b.put(randomArray(cols, 5));
    const Y = b.alloc(n),
      mean = b.alloc(rows),
      rstd = b.alloc(rows),
      R = randomArray(n, 6),
      dY = b.put(R);
    const dX = b.alloc(n),
      dG = b.put(new Float32Array(cols)),
      dB = b.put(new Float32Array(cols));
    const loss = (): number => {
      k.layerNormForward(Y, mean, rstd, X, g, be, rows, cols, 1e-5);
      return dot(b, Y, R);
    };
    loss();
    k.layerNormBackward(dX, dG, dB, dY, X, mean, rstd, g, rows, cols, false);
    assertGrad(b.get(dX, n), numericGrad(b, X, n, loss), `${k.backend} layernorm dX`);
    assertGrad(b.get(dG, cols), numericGrad(b, g, cols, loss), `${k.backend} layernorm dGamma`);
    assertGrad(b.get(dB, cols), numericGrad(b, be, cols, loss), `${k.backend} layernorm dBeta`);
  }));

test('bias backward matches finite differences', () =>
  eachBackend((b, k) => {
    const rows = 4,
      cols = 5,
      n = rows * cols;
    const X = b.put(randomArray(n, 7)),
      Y = b.alloc(n),
      bias = b.put(randomArray(cols, 8)),
      R = randomArray(n, 9);
    const loss = (): number => {
      k.copy(Y, X, n * 4);
      k.biasAdd(Y, bias, rows, cols);
      return dot(b, Y, R);
    };
    const db = b.put(new Float32Array(cols));
    k.biasBackward(db, b.put(R), rows, cols);
    assertGrad(b.get(db, cols), numericGrad(b, bias, cols, loss), `${k.backend} bias`);
  }));

test('embedding backward matches finite differences', () =>
  eachBackend((b, k) => {
    const V = 5,
      C = 3,
      n = 6;
    const table = b.put(randomArray(V * C, 10)),
      idx = b.alloc(n),
      out = b.alloc(n * C),
      R = randomArray(n * C, 11);
    b.i32.set([4, 1, 1, 0, 4, 1], idx >>> 2);
    const dt = b.put(new Float32Array(V * C));
    k.embeddingBackward(dt, idx, b.put(R), n, C);
    assertGrad(
      b.get(dt, V * C),
      numericGrad(b, table, V * C, () => {
        k.embeddingForward(out, idx, table, n, C);
        return dot(b, out, R);
      }),
      `${k.backend} embedding`,
    );
  }));

test('cross-entropy backward matches finite differences (ignored targets get 0)', () =>
  eachBackend((b, k) => {
    const N = 4,
      V = 6;
    const logits = b.put(randomArray(N * V, 12, -3, 3)),
      targets = b.alloc(N),
      losses = b.alloc(N);
    b.i32.set([2, -1, 5, 0], targets >>> 2);
    const dscale = 0.7;
    const loss = (): number => {
      k.crossEntropyForward(losses, logits, targets, N, V);
      let s = 0;
      for (let i = 0; i < N; i++) s += b.f32[(losses >>> 2) + i]!;
      return s * dscale;
    };
    const d = b.alloc(N * V);
    k.crossEntropyBackward(d, logits, targets, N, V, dscale);
    assertGrad(b.get(d, N * V), numericGrad(b, logits, N * V, loss), `${k.backend} cross-entropy`);
    assert.ok(
      b
        .get(d, N * V)
        .subarray(V, 2 * V)
        .every((v) => v === 0),
    );
  }));

test('attention backward matches finite differences', () =>
  eachBackend((b, k) => {
    const B = 2,
      T = 4,
      C = 8,
      nh = 2,
      n = B * T * 3 * C;
    const qkv = b.put(randomArray(n, 13, -1, 1)),
      out = b.alloc(B * T * C),
      att = b.alloc(B * nh * T * T);
    const scratch = b.alloc(k.attentionScratchBytes(B, T, C, nh) / 4),
      R = randomArray(B * T * C, 14);
    const loss = (): number => {
      k.attentionForward(out, att, qkv, scratch, B, T, C, nh);
      return dot(b, out, R);
    };
    loss();
    const dqkv = b.alloc(n);
    k.attentionBackward(dqkv, b.put(R), qkv, att, scratch, B, T, C, nh, false);
    assertGrad(b.get(dqkv, n), numericGrad(b, qkv, n, loss), `${k.backend} attention`);
  }));
