// The comm reduction kernels (wasm SIMD) against the reference reducer, and the reference's 16-bit conversions
// against an independent oracle: every 16-bit value round-trips, and fp32 values at, just below and just above the
// midpoint of two neighbouring 16-bit values round to nearest, ties to even.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reduceInto } from '../../src/comm/reduce-js.js';
import {
  bf16BitsToF32 as bf16ToF32,
  f16BitsToF32 as f16ToF32,
  f32ToBf16Bits as f32ToBf16,
  f32ToF16Bits as f32ToF16,
} from '../../src/kernels/half.js';
import { Reducer } from '../../src/comm/reducer.js';
import { copyAcross } from '../../src/comm/threads/copy.js';
import type { CommDType, ReduceOp } from '../../src/comm/types.js';
import { testDevice } from '../helpers/test-device.js';

const f = new Float32Array(1),
  u = new Uint32Array(f.buffer);
function nextUp(x: number): number {
  f[0] = x;
  u[0] = u[0]! + (x >= 0 ? 1 : -1);
  return f[0]!;
}
function nextDown(x: number): number {
  f[0] = x;
  u[0] = u[0]! - (x >= 0 ? 1 : -1);
  return f[0]!;
}

for (const [name, toF, fromF, maxFinite] of [
  ['bf16', bf16ToF32, f32ToBf16, 0x7f7f],
  ['f16', f16ToF32, f32ToF16, 0x7bff],
] as const) {
  test(`${name} conversions: round trip and round-to-nearest-even at every midpoint`, () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = toF(h);
      if (Number.isNaN(x)) {
        assert.ok(Number.isNaN(toF(fromF(x))), `${name} NaN ${h}`);
        continue;
      }
      assert.equal(fromF(x), h, `${name} round trip of ${h.toString(16)}`);
      if ((h & 0x7fff) >= maxFinite) continue;
      const next = h + 1,
        y = toF(next); // the neighbour away from zero
      const mid = Math.fround((x + y) / 2);
      assert.equal(mid, (x + y) / 2, 'midpoint is an fp32 value');
      const even = (h & 1) === 0 ? h : next;
      assert.equal(fromF(mid), even, `${name} tie between ${h.toString(16)} and ${next.toString(16)}`);
      assert.equal(fromF(mid >= 0 ? nextDown(mid) : nextUp(mid)), h, `${name} just below the midpoint`);
      assert.equal(fromF(mid >= 0 ? nextUp(mid) : nextDown(mid)), next, `${name} just above the midpoint`);
    }
  });
}

test('wasm reduce kernels equal the reference reducer (f32, bf16, f16 x sum, avg, max; 1-5 sources; tails)', () => {
  const dev = testDevice(4 << 20);
  const red = new Reducer(dev.memory);
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (const dtype of ['f32', 'bf16', 'f16'] as CommDType[]) {
    for (const op of ['sum', 'avg', 'max'] as ReduceOp[]) {
      for (const nsrc of [1, 2, 3, 5]) {
        for (const n of nsrc <= 2 ? [1, 7, 8, 9, 29, 0x10000 + 3] : [9, 1003]) {
          dev.reset();
          const srcs = Array.from({ length: nsrc }, (_, s) => {
            if (dtype === 'f32') {
              const a = dev.f32(n);
              for (let i = 0; i < n; i++) {
                u[0] = rnd();
                a[i] = (rnd() & 3) === 0 ? f[0]! : ((rnd() % 2001) - 1000) * 1e5 ** (s % 3);
              }
              return a;
            }
            const a = dev.u16(n);
            // every 16-bit pattern appears in the first source: conversions of all values, specials included
            for (let i = 0; i < n; i++) a[i] = s === 0 && n > 0xffff ? i & 0xffff : rnd() & 0xffff;
            return a;
          });
          const got = dtype === 'f32' ? dev.f32(n) : dev.u16(n);
          const want = dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);
          red.reduce(
            dtype,
            op,
            got.byteOffset,
            srcs.map((s) => s.byteOffset),
            n,
            nsrc,
          );
          reduceInto(want, srcs, dtype, op, nsrc);
          const toF = dtype === 'f32' ? (x: number) => x : dtype === 'bf16' ? bf16ToF32 : f16ToF32;
          for (let i = 0; i < n; i++) {
            const g = toF(got[i]!),
              w = toF(want[i]!);
            if (Object.is(g, w) || (Number.isNaN(w) && Number.isNaN(g))) continue;
            assert.fail(
              `${dtype} ${op} nsrc=${nsrc} n=${n} [${i}]: got ${g} (${got[i]}), want ${w} (${want[i]}); srcs ` +
                `${srcs.map((s) => s[i]).join(',')}`,
            );
          }
        }
      }
    }
  }
  // in place: dst is one of the sources
  dev.reset();
  const a = dev.f32(100),
    b = dev.f32(100);
  for (let i = 0; i < 100; i++) {
    a[i] = i;
    b[i] = 1e8;
  }
  red.reduce('f32', 'sum', b.byteOffset, [a.byteOffset, b.byteOffset], 100, 2);
  for (let i = 0; i < 100; i++) assert.equal(b[i], Math.fround(i + 1e8));
});

test('Reducer#move is memmove (overlap either way) and copyAcross copies exactly the range', () => {
  const dev = testDevice(1 << 20);
  const red = new Reducer(dev.memory);
  const bytes = new Uint8Array(dev.memory.buffer);
  const base = dev.u16(4096).byteOffset; // 8 KiB of room
  const fillPattern = (): void => {
    for (let i = 0; i < 8192; i++) bytes[base + i] = (i * 7 + 3) & 0xff;
  };
  for (const [dst, src, n] of [
    [0, 100, 5000],
    [100, 0, 5000],
    [3, 1, 1],
    [64, 64, 300],
    [10, 4000, 0],
    [1, 2, 8000],
  ]) {
    fillPattern();
    const want = bytes.slice(base, base + 8192);
    want.copyWithin(dst!, src!, src! + n!); // the reference: copyWithin has memmove semantics
    red.move(base + dst!, base + src!, n!);
    assert.deepEqual(bytes.subarray(base, base + 8192), want, `move(${dst}, ${src}, ${n})`);
  }
  const other = testDevice(1 << 20);
  const a = Buffer.from(dev.memory.buffer),
    b = Buffer.from(other.memory.buffer);
  for (const [so, doff, n] of [
    [base, 70000, 65536 + 5],
    [base + 1, 70003, 7],
    [base, 70000, 0],
  ]) {
    for (let i = 0; i < n! + 8; i++) a[so! + i] = (i * 13 + 1) & 0xff;
    b.fill(0xee, 69000, 70000 + 70000);
    copyAcross(a, so!, b, doff!, n!);
    for (let i = 0; i < n!; i++) if (b[doff! + i] !== a[so! + i]) assert.fail(`copyAcross byte ${i} of ${n}`);
    assert.equal(b[doff! - 1], 0xee, 'byte before the range untouched');
    assert.equal(b[doff! + n!], 0xee, 'byte after the range untouched');
  }
  // same memory (not expected, but memmove semantics): an overlapping forward copy
  fillPattern();
  const want = bytes.slice(base, base + 8192);
  want.copyWithin(10, 0, 4000);
  copyAcross(a, base, a, base + 10, 4000);
  assert.deepEqual(bytes.subarray(base, base + 8192), want);
});

test('localProcessGroup: a one-rank group in the calling thread', async () => {
  const { localProcessGroup } = await import('../../src/comm/local.js');
  const dev = testDevice(1 << 20);
  const pg = localProcessGroup(dev.memory);
  const a = dev.u16(9);
  for (let i = 0; i < 9; i++) a[i] = f32ToBf16(i - 4);
  pg.allReduce(a, 'avg', 'bf16');
  assert.deepEqual(Array.from(a, bf16ToF32), [-4, -3, -2, -1, 0, 1, 2, 3, 4]);
  const out = dev.f32(4),
    inp = dev.f32(4);
  inp.set([1, 2, 3, 4]);
  pg.allGather(out, inp);
  assert.deepEqual(Array.from(out), [1, 2, 3, 4]);
  assert.throws(() => pg.allReduce(new Float32Array(3)), /not a view of rank 0's device memory/);
  assert.equal(pg.log.byOp.all_reduce.count, 1);
  pg.destroy();
  assert.throws(() => pg.barrier(), /destroyed/);
});
