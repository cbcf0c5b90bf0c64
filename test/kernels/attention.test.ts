// Causal self-attention: wasm (GEMM per batch and head) against the js oracle (llm.c's loops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose, makeBench, randomArray } from '../helpers/kernel-memory.js';

const CASES: [number, number, number, number][] = [
  // B, T, C, nh
  [1, 1, 4, 1],
  [2, 5, 12, 3],
  [1, 9, 8, 2],
  [2, 33, 24, 2],
  [1, 70, 128, 2],
  [1, 130, 16, 2], // three causal row blocks of the wasm kernel
  [2, 7, 10, 2], // head size 5: not a multiple of the vector width
];

test('attention forward/backward: wasm equals js (accumulate on and off)', () => {
  const b = makeBench(512);
  for (const [B, T, C, nh] of CASES) {
    for (const acc of [false, true]) {
      b.reset();
      const qkv = b.put(randomArray(B * T * 3 * C, T * C, -2, 2));
      const dout = b.put(randomArray(B * T * C, T + C));
      const d0 = randomArray(B * T * 3 * C, 3);
      const res = [b.wasm, b.js].map((k) => {
        const out = b.alloc(B * T * C),
          att = b.alloc(B * nh * T * T);
        const scratch = b.alloc(k.attentionScratchBytes(B, T, C, nh) / 4);
        b.f32.fill(NaN, att >>> 2, (att >>> 2) + B * nh * T * T); // every entry must be written
        k.attentionForward(out, att, qkv, scratch, B, T, C, nh);
        const dqkv = b.put(d0);
        k.attentionBackward(dqkv, dout, qkv, att, scratch, B, T, C, nh, acc);
        return { out: b.get(out, B * T * C), att: b.get(att, B * nh * T * T), dqkv: b.get(dqkv, B * T * 3 * C) };
      });
      const what = `B=${B} T=${T} C=${C} nh=${nh} accumulate=${acc}`;
      assertClose(res[0]!.att, res[1]!.att, 1e-4, 1e-6, `att ${what}`);
      assertClose(res[0]!.out, res[1]!.out, 1e-4, 1e-5, `out ${what}`);
      assertClose(res[0]!.dqkv, res[1]!.dqkv, 1e-4, 1e-5, `dqkv ${what}`);
      // causal: nothing above the diagonal
      for (let t = 0; t < T; t++) for (let t2 = t + 1; t2 < T; t2++) assert.equal(res[0]!.att[t * T + t2], 0);
    }
  }
});

test('attention refuses C not divisible by nh', () => {
  const b = makeBench(64);
  assert.throws(() => b.wasm.attentionForward(b.alloc(64), b.alloc(64), b.alloc(64), b.alloc(64), 1, 2, 6, 4), {
    name: 'ShapeError',
  });
});
