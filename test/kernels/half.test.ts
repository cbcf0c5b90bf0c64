// fp32 <-> bf16/f16 casting kernels: all 65536 16-bit patterns round-trip, random fp32 against the js oracle and
// against the tensor layer's independent conversion (src/tensor/dtype.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f32BitsToBf16, f32BitsToF16 } from '../../src/tensor/dtype.js';
import { makeBench, rng } from '../helpers/kernel-memory.js';

const isNaN16 = (h: number, t: 'bf16' | 'f16'): boolean =>
  t === 'bf16' ? (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0 : (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const quiet = (t: 'bf16' | 'f16'): number => (t === 'bf16' ? 0x40 : 0x200);

test('castFromHalf then castToHalf returns every 16-bit pattern (NaNs come back quiet)', () => {
  const b = makeBench(64);
  const n = 65536;
  const h = b.alloc(n, 2),
    f = b.alloc(n),
    back = b.alloc(n, 2);
  for (let i = 0; i < n; i++) b.u16[(h >>> 1) + i] = i;
  for (const t of ['bf16', 'f16'] as const) {
    for (const k of [b.wasm, b.js]) {
      k.castFromHalf(f, h, n, t, false);
      k.castToHalf(back, f, n, t);
      for (let i = 0; i < n; i++) {
        const got = b.u16[(back >>> 1) + i]!;
        const want = isNaN16(i, t) ? i | quiet(t) : i;
        if (got !== want)
          assert.fail(`${k.backend} ${t}: pattern 0x${i.toString(16)} came back as 0x${got.toString(16)}`);
      }
    }
    // accumulate adds the decoded values
    const one = b.alloc(8),
      hh = b.alloc(8, 2);
    b.f32.fill(1, one >>> 2, (one >>> 2) + 8);
    for (let i = 0; i < 8; i++) b.u16[(hh >>> 1) + i] = t === 'bf16' ? 0x4000 : 0x4000; // 2.0 in both formats
    b.wasm.castFromHalf(one, hh, 8, t, true);
    assert.deepEqual(Array.from(b.get(one, 8)), new Array(8).fill(3), `castFromHalf accumulate ${t}`);
  }
});

test('castToHalf on random fp32 (normals, subnormals, ties, overflow, specials) matches both oracles', () => {
  const b = makeBench(64);
  const n = 20011;
  const r = rng(7);
  const src = b.alloc(n);
  const u32 = new Uint32Array(b.memory.buffer);
  for (let i = 0; i < n; i++) {
    const kind = i % 5;
    let bits: number;
    if (kind === 0)
      bits = Math.floor(r(0, 4294967296)); // any pattern, NaNs included
    else if (kind === 1)
      bits = (Math.floor(r(0, 2)) << 31) | (Math.floor(r(100, 145)) << 23) | (Math.floor(r(0, 1 << 10)) << 13) | 0x1000; // f16 ties
    else if (kind === 2)
      bits = (Math.floor(r(0, 512)) << 23) | 0x8000 | (Math.floor(r(0, 1 << 7)) << 16); // bf16 ties
    else if (kind === 3)
      bits = Math.floor(r(0x33000000, 0x38800000)); // around f16 subnormals
    else bits = Math.floor(r(0x477fe000, 0x47800000)) | (i & 1 ? 0x80000000 : 0); // around f16 max
    u32[(src >>> 2) + i] = bits >>> 0;
  }
  u32.set([0x7f800000, 0xff800000, 0x7fc00000, 0xffffffff, 0, 0x80000000, 0x7f7fffff, 1], src >>> 2);
  for (const t of ['bf16', 'f16'] as const) {
    const dw = b.alloc(n, 2),
      dj = b.alloc(n, 2);
    b.wasm.castToHalf(dw, src, n, t);
    b.js.castToHalf(dj, src, n, t);
    for (let i = 0; i < n; i++) {
      const w = b.u16[(dw >>> 1) + i]!,
        j = b.u16[(dj >>> 1) + i]!;
      const bits = u32[(src >>> 2) + i]! >>> 0;
      if (w !== j) assert.fail(`${t}: 0x${bits.toString(16)}: wasm 0x${w.toString(16)}, js 0x${j.toString(16)}`);
      // The tensor layer's bit-pattern conversion: NaN payloads included.
      const o = t === 'bf16' ? f32BitsToBf16(bits) : f32BitsToF16(bits);
      if (o !== j)
        assert.fail(`${t}: 0x${bits.toString(16)}: kernels 0x${j.toString(16)}, tensor/dtype 0x${o.toString(16)}`);
    }
  }
});
