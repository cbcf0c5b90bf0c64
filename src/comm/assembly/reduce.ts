// Reduction kernels of the comm layer (wasm SIMD), instantiated on a rank's device memory at memoryBase 8192.
// [Note: reduction order] (src/comm/types.ts): dst[i] = ((s0[i] + s1[i]) + s2[i]) + ... in fp32, then 'avg'
// divides by `divisor`, then 16-bit data is rounded to nearest even once. The sources are given as a table of
// nsrc u32 byte offsets at `table` (in rank order); dst may equal one of the sources (same offset).
// No static data and no allocation: the slot 8192..16383 of the memory is the caller's scratch.
// op: 0 sum, 1 avg, 2 max. kind (16-bit): 0 bf16, 1 f16.

/** memmove inside the memory (bulk memory's memory.copy): the threads transport's copies within one rank. */
export function move(dst: usize, src: usize, n: usize): void {
  memory.copy(dst, src, n);
}

// ---- 16-bit <-> fp32 on four lanes (i32x4 holding u16 values <-> f32x4)

// @ts-ignore: decorator
@inline function bf16ToF32x4(h: v128): v128 {
  return i32x4.shl(h, 16);
}

// @ts-ignore: decorator
@inline function f16ToF32x4(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const em = i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13);
  // exponent rebias by a multiply: exact for normals and subnormals alike
  const scaled = f32x4.mul(em, i32x4.splat(239 << 23)); // 2^112
  const infNan = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
  const special = v128.or(em, i32x4.splat(0x7f800000));
  return v128.or(v128.bitselect(special, scaled, infNan), sign);
}

// @ts-ignore: decorator
@inline function f32ToBf16x4(f: v128): v128 {
  const lsb = v128.and(i32x4.shr_u(f, 16), i32x4.splat(1));
  const rounded = i32x4.shr_u(i32x4.add(i32x4.add(f, i32x4.splat(0x7fff)), lsb), 16);
  const nan = i32x4.gt_s(v128.and(f, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  const quiet = v128.or(i32x4.shr_u(f, 16), i32x4.splat(0x40));
  return v128.bitselect(quiet, rounded, nan);
}

// F. Giesen's float_to_half_fast3_rtne, on lanes.
// @ts-ignore: decorator
@inline function f32ToF16x4(f: v128): v128 {
  const sign = v128.and(f, i32x4.splat(0x80000000));
  const u = v128.xor(f, sign);
  const tooBig = i32x4.ge_s(u, i32x4.splat(0x47800000)); // >= 65536 before rounding
  const infOrNan = v128.bitselect(i32x4.splat(0x7e00), i32x4.splat(0x7c00), i32x4.gt_s(u, i32x4.splat(0x7f800000)));
  const small = i32x4.lt_s(u, i32x4.splat(113 << 23)); // below the smallest f16 normal
  const denorm = i32x4.sub(f32x4.add(u, i32x4.splat(126 << 23)), i32x4.splat(126 << 23));
  const odd = v128.and(i32x4.shr_u(u, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(u, i32x4.splat(((15 - 127) << 23) + 0xfff)), odd), 13);
  const mag = v128.bitselect(infOrNan, v128.bitselect(denorm, normal, small), tooBig);
  return v128.or(mag, i32x4.shr_u(sign, 16));
}

// @ts-ignore: decorator
@inline function combine(a: v128, b: v128, op: i32): v128 {
  return op == 2 ? f32x4.max(a, b) : f32x4.add(a, b);
}

// Two sources (the common two-rank case): 16 floats a step with both pointers in registers; the generic loop
// below reloads the table every step and is compute-bound on L2-resident blocks (about half the speed).
// @ts-ignore: decorator
@inline function reduce2F32(dst: usize, p0: usize, p1: usize, n: i32, op: i32, divisor: f32): i32 {
  const dv = f32x4.splat(divisor);
  const n16 = n & ~15;
  let i = 0;
  for (; i < n16; i += 16) {
    const off = <usize>i << 2;
    let a = combine(v128.load(p0 + off), v128.load(p1 + off), op);
    let b = combine(v128.load(p0 + off, 16), v128.load(p1 + off, 16), op);
    let c = combine(v128.load(p0 + off, 32), v128.load(p1 + off, 32), op);
    let d = combine(v128.load(p0 + off, 48), v128.load(p1 + off, 48), op);
    if (op == 1) {
      a = f32x4.div(a, dv);
      b = f32x4.div(b, dv);
      c = f32x4.div(c, dv);
      d = f32x4.div(d, dv);
    }
    v128.store(dst + off, a);
    v128.store(dst + off, b, 16);
    v128.store(dst + off, c, 32);
    v128.store(dst + off, d, 48);
  }
  return i;
}

export function reduceF32(dst: usize, table: usize, nsrc: i32, n: i32, op: i32, divisor: f32): void {
  const dv = f32x4.splat(divisor);
  const n8 = n & ~7;
  const p0 = <usize>load<u32>(table);
  let i = 0;
  if (nsrc == 2) { // one inlined copy per op: the generic combine() computes max and add and selects
    const p1 = <usize>load<u32>(table, 4);
    if (op == 0) i = reduce2F32(dst, p0, p1, n, 0, divisor);
    else if (op == 1) i = reduce2F32(dst, p0, p1, n, 1, divisor);
    else i = reduce2F32(dst, p0, p1, n, 2, divisor);
  }
  for (; i < n8; i += 8) {
    const off = <usize>i << 2;
    let a = v128.load(p0 + off);
    let b = v128.load(p0 + off, 16);
    for (let s = 1; s < nsrc; s++) {
      const p = <usize>load<u32>(table + (<usize>s << 2)) + off;
      a = combine(a, v128.load(p), op);
      b = combine(b, v128.load(p, 16), op);
    }
    if (op == 1) {
      a = f32x4.div(a, dv);
      b = f32x4.div(b, dv);
    }
    v128.store(dst + off, a);
    v128.store(dst + off, b, 16);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let a = load<f32>(p0 + off);
    for (let s = 1; s < nsrc; s++) {
      const x = load<f32>(<usize>load<u32>(table + (<usize>s << 2)) + off);
      a = op == 2 ? Mathf.max(a, x) : a + x;
    }
    if (op == 1) a = a / divisor;
    store<f32>(dst + off, a);
  }
}

// @ts-ignore: decorator
@inline function widen(h: v128, kind: i32): v128 {
  return kind == 0 ? bf16ToF32x4(h) : f16ToF32x4(h);
}

// @ts-ignore: decorator
@inline function narrow(f: v128, kind: i32): v128 {
  return kind == 0 ? f32ToBf16x4(f) : f32ToF16x4(f);
}

// @ts-ignore: decorator
@inline function reduce16Two(dst: usize, p0: usize, p1: usize, n8: i32, op: i32, dv: v128, kind: i32): i32 {
  let i = 0;
  for (; i < n8; i += 8) {
    const off = <usize>i << 1;
    const h0 = v128.load(p0 + off), h1 = v128.load(p1 + off);
    let a = combine(widen(i32x4.extend_low_i16x8_u(h0), kind), widen(i32x4.extend_low_i16x8_u(h1), kind), op);
    let b = combine(widen(i32x4.extend_high_i16x8_u(h0), kind), widen(i32x4.extend_high_i16x8_u(h1), kind), op);
    if (op == 1) {
      a = f32x4.div(a, dv);
      b = f32x4.div(b, dv);
    }
    v128.store(dst + off, i16x8.narrow_i32x4_u(narrow(a, kind), narrow(b, kind)));
  }
  return i;
}

export function reduce16(dst: usize, table: usize, nsrc: i32, n: i32, op: i32, divisor: f32, kind: i32): void {
  // one inlined copy per format: `kind` becomes a constant and the other format's conversions fold away
  if (kind == 0) reduce16Of(dst, table, nsrc, n, op, divisor, 0);
  else reduce16Of(dst, table, nsrc, n, op, divisor, 1);
}

// @ts-ignore: decorator
@inline function reduce16Of(dst: usize, table: usize, nsrc: i32, n: i32, op: i32, divisor: f32, kind: i32): void {
  const dv = f32x4.splat(divisor);
  const n8 = n & ~7;
  const p0 = <usize>load<u32>(table);
  let i = 0;
  if (nsrc == 2) {
    // two sources (two ranks): both pointers in registers, no table reloads; one copy per op
    const p1 = <usize>load<u32>(table, 4);
    if (op == 0) i = reduce16Two(dst, p0, p1, n8, 0, dv, kind);
    else if (op == 1) i = reduce16Two(dst, p0, p1, n8, 1, dv, kind);
    else i = reduce16Two(dst, p0, p1, n8, 2, dv, kind);
  }
  for (; i < n8; i += 8) {
    const off = <usize>i << 1;
    let h = v128.load(p0 + off);
    let a = widen(i32x4.extend_low_i16x8_u(h), kind);
    let b = widen(i32x4.extend_high_i16x8_u(h), kind);
    for (let s = 1; s < nsrc; s++) {
      h = v128.load(<usize>load<u32>(table + (<usize>s << 2)) + off);
      a = combine(a, widen(i32x4.extend_low_i16x8_u(h), kind), op);
      b = combine(b, widen(i32x4.extend_high_i16x8_u(h), kind), op);
    }
    if (op == 1) {
      a = f32x4.div(a, dv);
      b = f32x4.div(b, dv);
    }
    v128.store(dst + off, i16x8.narrow_i32x4_u(narrow(a, kind), narrow(b, kind)));
  }
  // tail: one lane at a time through the same vector code, so the rounding is the same
  for (; i < n; i++) {
    const off = <usize>i << 1;
    let a = widen(i32x4.splat(<i32>load<u16>(p0 + off)), kind);
    for (let s = 1; s < nsrc; s++) {
      const x = widen(i32x4.splat(<i32>load<u16>(<usize>load<u32>(table + (<usize>s << 2)) + off)), kind);
      a = combine(a, x, op);
    }
    if (op == 1) a = f32x4.div(a, dv);
    store<u16>(dst + off, <u16>i32x4.extract_lane(narrow(a, kind), 0));
  }
}
