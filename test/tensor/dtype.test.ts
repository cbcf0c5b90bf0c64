// dtype conversions against an independent float64 reference:
// decode by formula sign * 2^e * (1 + m / 2^k) (or the subnormal formula), encode by searching the nearest
// representable neighbour with ties to the even bit pattern. The reference shares no code with src/tensor/dtype.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf16ToF32,
  bf16ToF32Array,
  f16ToF32,
  f16ToF32Array,
  f32BitsToBf16,
  f32BitsToF16,
  f32ToBf16,
  f32ToBf16Array,
  f32ToF16,
  f32ToF16Array,
  bf16ToF32Bits,
  f16ToF32Bits,
} from '../../src/tensor/dtype.js';
import { xorshift32 } from '../helpers/xorshift.js';

interface Format {
  name: string;
  expBits: number;
  mantBits: number;
}
const BF16: Format = { name: 'bf16', expBits: 8, mantBits: 7 };
const F16: Format = { name: 'f16', expBits: 5, mantBits: 10 };

/** Reference decode of a 16-bit pattern in float64. */
function refDecode(f: Format, h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const expMax = (1 << f.expBits) - 1;
  const bias = (1 << (f.expBits - 1)) - 1;
  const e = (h >> f.mantBits) & expMax;
  const m = h & ((1 << f.mantBits) - 1);
  if (e === expMax) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * 2 ** (1 - bias) * (m / 2 ** f.mantBits);
  return sign * 2 ** (e - bias) * (1 + m / 2 ** f.mantBits);
}

/** Non-negative finite patterns plus +Inf (the last one), with values; the value of Inf is 2^(emax+1) so that a
 * tie between max finite (odd pattern) and 2^(emax+1) goes to Inf, exactly IEEE's overflow rule. */
function positiveTable(f: Format): Float64Array {
  const inf = ((1 << f.expBits) - 1) << f.mantBits;
  const bias = (1 << (f.expBits - 1)) - 1;
  const t = new Float64Array(inf + 1);
  for (let h = 0; h < inf; h++) t[h] = refDecode(f, h);
  t[inf] = 2 ** (bias + 1);
  return t;
}

/** Reference encode: nearest neighbour, ties to even pattern, beyond the table -> Inf. */
function refEncode(_f: Format, table: Float64Array, x: number): number {
  if (Number.isNaN(x)) return -1; // checked separately
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const inf = table.length - 1;
  if (a >= table[inf]!) return sign | inf;
  // largest index with table[i] <= a
  let lo = 0;
  let hi = inf;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - table[lo]!;
  const dHi = table[hi]! - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

const codecs = [
  {
    f: BF16,
    enc: f32BitsToBf16,
    decBits: bf16ToF32Bits,
    encNum: f32ToBf16,
    decNum: bf16ToF32,
    encArr: f32ToBf16Array,
    decArr: bf16ToF32Array,
  },
  {
    f: F16,
    enc: f32BitsToF16,
    decBits: f16ToF32Bits,
    encNum: f32ToF16,
    decNum: f16ToF32,
    encArr: f32ToF16Array,
    decArr: f16ToF32Array,
  },
];

const u32 = new Uint32Array(1);
const f32 = new Float32Array(u32.buffer);
function valueOfBits(bits: number): number {
  u32[0] = bits;
  return f32[0]!;
}

// Deterministic xorshift for random fp32 bit patterns.
const rng = xorshift32;

for (const c of codecs) {
  const { f } = c;
  const table = positiveTable(f);
  const expMax = (1 << f.expBits) - 1;
  const isNaNPattern = (h: number): boolean =>
    ((h >> f.mantBits) & expMax) === expMax && (h & ((1 << f.mantBits) - 1)) !== 0;
  const quietBit = 1 << (f.mantBits - 1);

  test(`${f.name}: all 65536 patterns decode by formula and re-encode to themselves`, () => {
    const all = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) all[h] = h;
    const bulk = c.decArr(all);
    for (let h = 0; h < 65536; h++) {
      const want = refDecode(f, h);
      const got = c.decNum(h);
      if (Number.isNaN(want)) {
        assert.ok(Number.isNaN(got) && Number.isNaN(bulk[h]!), `NaN pattern ${h.toString(16)}`);
        const back = c.enc(c.decBits(h));
        assert.ok(
          isNaNPattern(back) && (back & quietBit) !== 0,
          `NaN ${h.toString(16)} re-encodes to quiet NaN, got ${back.toString(16)}`,
        );
        assert.equal(back & 0x8000, h & 0x8000, 'NaN sign kept');
        continue;
      }
      assert.ok(Object.is(got, want), `decode ${h.toString(16)}: ${got} vs ${want}`);
      assert.ok(Object.is(bulk[h], want), `bulk decode ${h.toString(16)}`);
      assert.equal(c.enc(c.decBits(h)), h, `round trip ${h.toString(16)}`);
      assert.equal(c.encNum(want), h, `scalar round trip ${h.toString(16)}`);
    }
  });

  test(`${f.name}: random fp32 bit patterns encode to the nearest neighbour, ties to even`, () => {
    const next = rng(f.mantBits * 7919);
    const n = 200_000;
    const src = new Float32Array(n);
    const bits = new Uint32Array(src.buffer);
    // half uniform over all bit patterns, half with an exponent inside (or just around) the format's range
    const lo = f.name === 'f16' ? 100 : 0;
    const span = f.name === 'f16' ? 46 : 256;
    for (let i = 0; i < n; i++) {
      const b = next();
      bits[i] = i % 2 === 0 ? b : ((b & 0x807fffff) | (((lo + (next() % span)) & 0xff) << 23)) >>> 0;
    }
    const bulk = c.encArr(src);
    for (let i = 0; i < n; i++) {
      const x = src[i]!;
      const got = c.enc(bits[i]!);
      assert.equal(bulk[i], got, 'bulk equals scalar');
      if (Number.isNaN(x)) {
        assert.ok(
          isNaNPattern(got) && (got & quietBit) !== 0,
          `NaN bits ${bits[i]!.toString(16)} -> ${got.toString(16)}`,
        );
        assert.equal(got & 0x8000, (bits[i]! >>> 16) & 0x8000);
        continue;
      }
      assert.equal(got, refEncode(f, table, x), `encode ${x} (bits ${bits[i]!.toString(16)})`);
    }
  });

  test(`${f.name}: every halfway point and its fp32 neighbours`, () => {
    const inf = table.length - 1;
    let checked = 0;
    for (let h = 0; h < inf; h++) {
      const mid = (table[h]! + table[h + 1]!) / 2; // exactly representable in fp32 for both formats
      assert.equal(Math.fround(mid), mid);
      const mb = (() => {
        f32[0] = mid;
        return u32[0]!;
      })();
      for (const b of [mb - 1, mb, mb + 1]) {
        const x = valueOfBits(b >>> 0);
        for (const s of [0, 0x80000000]) {
          const got = c.enc((b | s) >>> 0);
          const want = refEncode(f, table, s ? -x : x);
          assert.equal(got, want, `${s ? '-' : ''}${x} near tie of ${h.toString(16)}`);
        }
        checked++;
      }
    }
    assert.ok(checked > 3 * 30000);
  });

  test(`${f.name}: edge values`, () => {
    const inf = table.length - 1;
    const maxFinite = table[inf - 1]!;
    const smallestSub = table[1]!;
    assert.equal(c.encNum(maxFinite), inf - 1);
    assert.equal(c.encNum(-maxFinite), 0x8000 | (inf - 1));
    assert.equal(c.encNum(Infinity), inf);
    assert.equal(c.encNum(-Infinity), 0x8000 | inf);
    assert.equal(c.encNum(0), 0);
    assert.equal(c.encNum(-0), 0x8000);
    assert.equal(c.encNum(smallestSub), 1);
    assert.equal(c.encNum(smallestSub / 2), 0, 'half of the smallest subnormal ties to even (zero)');
    assert.equal(c.encNum(smallestSub * 1.5), 2, '1.5 x smallest subnormal ties to even (2)');
    assert.equal(c.encNum(3.4028234663852886e38), f.name === 'bf16' ? inf : inf); // fp32 max overflows both
    assert.ok(Number.isNaN(c.decNum(c.encNum(NaN))));
    assert.equal(c.decNum(c.encNum(1)), 1);
    assert.ok(Object.is(c.decNum(0x8000), -0));
    if (f.name === 'f16') {
      assert.equal(maxFinite, 65504);
      assert.equal(c.encNum(65519.99), 0x7bff);
      assert.equal(c.encNum(65520), 0x7c00, 'max + half ulp overflows to Inf');
      assert.equal(smallestSub, 2 ** -24);
      assert.equal(c.encNum(2 ** -14), 0x0400, 'smallest normal');
      assert.equal(
        c.encNum(2 ** -14 - 2 ** -25),
        0x0400,
        'rounds up from the largest subnormal tie (odd) into the normals',
      );
      assert.equal(c.encNum(1 + 2 ** -11), 0x3c00, 'tie to even at 1');
      assert.equal(c.encNum(1 + 3 * 2 ** -11), 0x3c02);
    } else {
      assert.equal(maxFinite, 3.3895313892515355e38);
      assert.equal(smallestSub, 2 ** -133);
      assert.equal(c.encNum(1 + 2 ** -8), 0x3f80, 'tie to even at 1');
      assert.equal(c.encNum(1 + 3 * 2 ** -8), 0x3f82);
      assert.equal(c.encNum(2 ** -149), 0, 'fp32 smallest subnormal rounds to zero in bf16');
    }
    // a signalling NaN (quiet bit clear) becomes quiet
    const sNaN = 0x7f800001;
    const q = c.enc(sNaN);
    assert.ok(isNaNPattern(q) && (q & quietBit) !== 0);
  });
}

test('bulk conversions respect dst and refuse a short one', () => {
  const src = new Float32Array([1, -2, 0.5]);
  const dst = new Uint16Array(4);
  assert.equal(f32ToBf16Array(src, dst), dst);
  assert.deepEqual([...dst.subarray(0, 3)].map(bf16ToF32), [1, -2, 0.5]);
  assert.throws(() => f32ToF16Array(src, new Uint16Array(2)), /dst.length must be >= src.length/);
});
