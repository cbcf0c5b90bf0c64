// Strided fp32 GEMM with packed panels and a 4x8 register tile (GotoBLAS loop order).
// See [Note: gemm packing] in src/kernels/scratch.ts: KC=128, MC=64, NC=512 and the scratch layout
// [packed A: MC*KC floats][packed B: KC*NC floats][edge tile: MR*NR floats] must match kernelScratchBytes().
//
// C[i*ldc + j] = (beta ? C : 0) + alpha * sum_k op(A)[i,k] op(B)[k,j], where
//   op(A)[i,k] = transA ? A[k*lda + i] : A[i*lda + k],  op(B)[k,j] = transB ? B[j*ldb + k] : B[k*ldb + j].
// All pointers are byte offsets; strides are in elements. Transposed operands get their own packing routines
// (4x4 in-register transposes), so every variant runs the same micro-kernel.

const MR: i32 = 4;
const NR: i32 = 8;
const MC: i32 = 64;
const KC: i32 = 128;
const NC: i32 = 512;

// @ts-ignore: decorator
@inline export function fmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function at(base: usize, index: i32): usize {
  return base + (<usize>index << 2);
}

/** Packs op(A)[i0..i0+mc, k0..k0+kc] as ceil(mc/MR) panels, each kc groups of MR floats (rows past mc are 0). */
function packA(pa: usize, A: usize, lda: i32, transA: bool, i0: i32, mc: i32, k0: i32, kc: i32): void {
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = min(MR, mc - ip);
    const dst = at(pa, ip * kc);
    const i = i0 + ip;
    if (rows == MR && !transA) {
      const r0 = at(A, i * lda + k0);
      const r1 = at(r0, lda), r2 = at(r1, lda), r3 = at(r2, lda);
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        const a0 = v128.load(r0 + o), a1 = v128.load(r1 + o), a2 = v128.load(r2 + o), a3 = v128.load(r3 + o);
        const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
        const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
        const d = dst + (o << 2);
        v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
        v128.store(d, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 16);
        v128.store(d, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 32);
        v128.store(d, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 48);
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2, d = dst + (o << 2);
        store<f32>(d, load<f32>(r0 + o));
        store<f32>(d, load<f32>(r1 + o), 4);
        store<f32>(d, load<f32>(r2 + o), 8);
        store<f32>(d, load<f32>(r3 + o), 12);
      }
    } else if (rows == MR) {
      for (let k = 0; k < kc; k++) v128.store(at(dst, k * MR), v128.load(at(A, (k0 + k) * lda + i)));
    } else {
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < MR; r++) {
          const v: f32 = r < rows ? (transA ? load<f32>(at(A, (k0 + k) * lda + i + r)) : load<f32>(at(A, (i + r) * lda + k0 + k))) : 0;
          store<f32>(at(dst, k * MR + r), v);
        }
      }
    }
  }
}

/** Packs op(B)[k0..k0+kc, j0..j0+nc] as ceil(nc/NR) panels, each kc groups of NR floats (cols past nc are 0). */
function packB(pb: usize, B: usize, ldb: i32, transB: bool, k0: i32, kc: i32, j0: i32, nc: i32): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = min(NR, nc - jp);
    const dst = at(pb, jp * kc);
    const j = j0 + jp;
    if (cols == NR && !transB) {
      for (let k = 0; k < kc; k++) {
        const s = at(B, (k0 + k) * ldb + j), d = at(dst, k * NR);
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
      }
    } else if (cols == NR) {
      // op(B)[k, j+c] = B[(j+c)*ldb + k]: transpose two 4x4 blocks per 4 values of k.
      const r0 = at(B, j * ldb + k0);
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        for (let h = 0; h < 2; h++) {
          const q0 = at(r0, 4 * h * ldb) + o;
          const q1 = at(q0, ldb), q2 = at(q1, ldb), q3 = at(q2, ldb);
          const a0 = v128.load(q0), a1 = v128.load(q1), a2 = v128.load(q2), a3 = v128.load(q3);
          const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
          const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
          const d = at(dst, k * NR + 4 * h);
          v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
          v128.store(d, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 32);
          v128.store(d, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 64);
          v128.store(d, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 96);
        }
      }
      for (; k < kc; k++) {
        for (let c = 0; c < NR; c++) store<f32>(at(dst, k * NR + c), load<f32>(at(B, (j + c) * ldb + k0 + k)));
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let c = 0; c < NR; c++) {
          const v: f32 = c < cols ? (transB ? load<f32>(at(B, (j + c) * ldb + k0 + k)) : load<f32>(at(B, (k0 + k) * ldb + j + c))) : 0;
          store<f32>(at(dst, k * NR + c), v);
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function putRow(c: usize, v0: v128, v1: v128, alpha: v128, beta: bool): void {
  let x0 = f32x4.mul(v0, alpha), x1 = f32x4.mul(v1, alpha);
  if (beta) {
    x0 = f32x4.add(x0, v128.load(c));
    x1 = f32x4.add(x1, v128.load(c, 16));
  }
  v128.store(c, x0);
  v128.store(c, x1, 16);
}

/** The 4x8 micro-kernel: 8 accumulators, B rows loaded as 2 vectors, A values broadcast. */
function micro(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, alpha: f32, beta: bool, mr: i32, nr: i32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a = pa, b = pb;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    c00 = fmadd(s, b0, c00); c01 = fmadd(s, b1, c01);
    s = v128.load32_splat(a, 4);
    c10 = fmadd(s, b0, c10); c11 = fmadd(s, b1, c11);
    s = v128.load32_splat(a, 8);
    c20 = fmadd(s, b0, c20); c21 = fmadd(s, b1, c21);
    s = v128.load32_splat(a, 12);
    c30 = fmadd(s, b0, c30); c31 = fmadd(s, b1, c31);
    a += 16;
    b += 32;
  }
  const va = f32x4.splat(alpha);
  if (mr == MR && nr == NR) {
    const ld = <usize>ldc << 2;
    putRow(c, c00, c01, va, beta);
    putRow(c + ld, c10, c11, va, beta);
    putRow(c + 2 * ld, c20, c21, va, beta);
    putRow(c + 3 * ld, c30, c31, va, beta);
    return;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  for (let r = 0; r < mr; r++) {
    for (let j = 0; j < nr; j++) {
      const p = at(c, r * ldc + j);
      const v = alpha * load<f32>(at(tile, r * NR + j));
      store<f32>(p, beta ? load<f32>(p) + v : v);
    }
  }
}

/** See the file header. `scratch` is kernelScratchBytes() bytes of workspace. */
export function gemm(C: usize, ldc: i32, A: usize, lda: i32, B: usize, ldb: i32, M: i32, N: i32, K: i32,
  transA: bool, transB: bool, accumulate: bool, alpha: f32, scratch: usize): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) for (let i = 0; i < M; i++) memory.fill(at(C, i * ldc), 0, <usize>N << 2);
    return;
  }
  const pa = scratch;
  const pb = at(pa, MC * KC);
  const tile = at(pb, KC * NC);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      const beta = accumulate || pc > 0;
      packB(pb, B, ldb, transB, pc, kc, jc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        packA(pa, A, lda, transA, ic, mc, pc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pbj = at(pb, jr * kc);
          for (let ir = 0; ir < mc; ir += MR) {
            micro(at(pa, ir * kc), pbj, kc, at(C, (ic + ir) * ldc + jc + jr), ldc, alpha, beta, min(MR, mc - ir), nr, tile);
          }
        }
      }
    }
  }
}
