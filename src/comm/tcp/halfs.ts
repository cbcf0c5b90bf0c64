// 16-bit float <-> fp32 conversions for the TCP reductions (comm may not import tensor/, so it keeps its own).
// Rounding is to nearest, ties to even, as [Note: reduction order] in ../types.ts requires.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let f16Table: Float32Array | null = null;

/** fp32 value of every f16 bit pattern (built once, 256 KiB). */
function table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  f16Table = t;
  return t;
}

export function f32BitsToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // NaN stays NaN (quiet)
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  if (abs >= 0x477ff000) return sign | 0x7c00; // >= 65520 rounds to infinity
  if (abs >= 0x38800000) {
    const v = abs - 0x38000000; // rebias the exponent from 127 to 15
    return sign | ((v + 0xfff + ((v >>> 13) & 1)) >>> 13);
  }
  u32[0] = abs;
  const q = f32[0]! * 2 ** 24; // in units of the smallest f16 subnormal, exact
  let n = Math.floor(q);
  const d = q - n;
  if (d > 0.5 || (d === 0.5 && (n & 1) === 1)) n++;
  return sign | n;
}

/** out[i] = fp32 value of the 16-bit src[i]. */
export function widen(src: Uint16Array, out: Float32Array, dtype: 'bf16' | 'f16'): void {
  const n = src.length;
  if (dtype === 'bf16') {
    const o = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) o[i] = src[i]! << 16;
  } else {
    const t = table();
    for (let i = 0; i < n; i++) out[i] = t[src[i]!]!;
  }
}

/** out[i] = src[i] rounded to the 16-bit dtype. */
export function narrow(src: Float32Array, out: Uint16Array, dtype: 'bf16' | 'f16'): void {
  const n = src.length;
  const s = new Uint32Array(src.buffer, src.byteOffset, n);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) out[i] = f32BitsToBf16(s[i]!);
  else for (let i = 0; i < n; i++) out[i] = f32BitsToF16(s[i]!);
}
