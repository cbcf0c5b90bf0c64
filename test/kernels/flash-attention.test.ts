// The fused causal attention (saves lse, not the probabilities): wasm against its js oracle, both against the
// current kernel (which saves att [B,nh,T,T]), and finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, makeBench, randomArray, type Bench } from '../helpers/kernel-memory.js';
import type { Kernels } from '../../src/kernels/index.js';

const CASES: [number, number, number, number][] = [
  // B, T, C, nh
  [1, 1, 4, 1],
  [2, 5, 12, 3],
  [2, 33, 24, 2],
  [1, 70, 128, 2], // two query blocks, the second partial
  [1, 130, 16, 2], // three query blocks
  [2, 7, 10, 2], // head size 5: not a multiple of the vector width
];

function runFlash(
  b: Bench,
  k: Kernels,
  qkv: number,
  dout: number,
  d0: ArrayLike<number>,
  dims: number[],
  acc: boolean,
) {
  const [B, T, C, nh] = dims;
  const out = b.alloc(B * T * C),
    lse = b.alloc(B * nh * T);
  const scratch = b.alloc(k.flashAttentionScratchBytes(B, T, C, nh) / 4);
  b.f32.fill(Number.NaN, scratch >>> 2, (scratch >>> 2) + k.flashAttentionScratchBytes(B, T, C, nh) / 4);
  k.flashAttentionForward(out, lse, qkv, scratch, B, T, C, nh);
  const dqkv = b.put(d0);
  k.flashAttentionBackward(dqkv, dout, qkv, lse, scratch, B, T, C, nh, acc);
  return { out: b.get(out, B * T * C), lse: b.get(lse, B * nh * T), dqkv: b.get(dqkv, B * T * 3 * C) };
}

test('flash attention: wasm equals js, and both equal the kernel that saves the probabilities', () => {
  const b = makeBench(512);
  for (const [B, T, C, nh] of CASES) {
    for (const acc of [false, true]) {
      b.reset();
      const qkv = b.put(randomArray(B * T * 3 * C, T * C + 1, -2, 2));
      const dout = b.put(randomArray(B * T * C, T + C + 1));
      const d0 = randomArray(B * T * 3 * C, 5);
      const [w, j] = [b.wasm, b.js].map((k) => runFlash(b, k, qkv, dout, d0, [B, T, C, nh], acc));
      // the current kernel (js oracle), probabilities saved
      const out = b.alloc(B * T * C),
        att = b.alloc(B * nh * T * T);
      b.js.attentionForward(out, att, qkv, b.alloc(1), B, T, C, nh);
      const dqkv = b.put(d0);
      b.js.attentionBackward(dqkv, dout, qkv, att, b.alloc(1), B, T, C, nh, acc);
      const what = `B=${B} T=${T} C=${C} nh=${nh} accumulate=${acc}`;
      assertClose(w!.out, j!.out, 1e-4, 1e-5, `wasm vs js out ${what}`);
      assertClose(w!.lse, j!.lse, 1e-5, 1e-5, `wasm vs js lse ${what}`);
      assertClose(w!.dqkv, j!.dqkv, 1e-4, 1e-5, `wasm vs js dqkv ${what}`);
      assertClose(j!.out, b.get(out, B * T * C), 1e-6, 1e-6, `flash vs probabilities-saving out ${what}`);
      assertClose(j!.dqkv, b.get(dqkv, B * T * 3 * C), 1e-5, 1e-6, `flash vs probabilities-saving dqkv ${what}`);
      // lse of row t is log sum exp of its t + 1 scaled scores: at t = 0 the single score itself
      const hs = C / nh;
      const q0 = b.get(qkv, 3 * C);
      let s = 0;
      for (let i = 0; i < hs; i++) s += q0[i]! * q0[C + i]!;
      assert.ok(Math.abs(j!.lse[0]! - s / Math.sqrt(hs)) < 1e-5, `lse[0] ${what}`);
    }
  }
});

test('flash attention backward matches finite differences (both backends)', () => {
  for (const backend of ['wasm', 'js'] as const) {
    const b = makeBench(64);
    const k = b[backend];
    const [B, T, C, nh] = [2, 5, 8, 2];
    const n = B * T * 3 * C;
    const qkvVals = randomArray(n, 21, -1, 1);
    const qkv = b.put(qkvVals);
    const R = randomArray(B * T * C, 22);
    const out = b.alloc(B * T * C),
      lse = b.alloc(B * nh * T),
      scratch = b.alloc(k.flashAttentionScratchBytes(B, T, C, nh) / 4);
    const loss = (): number => {
      k.flashAttentionForward(out, lse, qkv, scratch, B, T, C, nh);
      const o = b.get(out, B * T * C);
      let s = 0;
      for (let i = 0; i < o.length; i++) s += o[i]! * R[i]!;
      return s;
    };
    loss();
    const dqkv = b.alloc(n);
    k.flashAttentionBackward(dqkv, b.put(R), qkv, lse, scratch, B, T, C, nh, false);
    const g = b.get(dqkv, n);
    const f = b.f32;
    const eps = 1e-2;
    for (let i = 0; i < n; i++) {
      const x = f[(qkv >>> 2) + i]!;
      f[(qkv >>> 2) + i] = x + eps;
      const lp = loss();
      f[(qkv >>> 2) + i] = x - eps;
      const lm = loss();
      f[(qkv >>> 2) + i] = x;
      const num = (lp - lm) / (2 * eps);
      assert.ok(Math.abs(num - g[i]!) <= 2e-3 + 2e-2 * Math.abs(num), `${backend} dqkv[${i}]: ${g[i]} vs fd ${num}`);
    }
  }
});

test('flash attention workspace does not grow with the batch and is linear in T', () => {
  const k = makeBench(16).js;
  assert.equal(k.flashAttentionScratchBytes(1, 512, 64, 4), k.flashAttentionScratchBytes(16, 512, 64, 4));
  const r = k.flashAttentionScratchBytes(1, 2048, 64, 4) / k.flashAttentionScratchBytes(1, 1024, 64, 4);
  assert.ok(r > 1.9 && r < 2.1, `scratch ratio ${r}`);
});
