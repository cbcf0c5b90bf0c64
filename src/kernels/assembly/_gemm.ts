// Strided fp32 GEMM with packed panels and a 6x8 register tile (12 v128 accumulators: more independent FMA chains
// than 4x8 hide the FMA latency; 15 of the 16 xmm registers, no spills).
// See [Note: gemm packing] in src/kernels/scratch.ts: KC=128, MC=72, NC<=512 and the scratch layout
// [packed A: MC*KC floats][packed B: BPACK floats][edge tile: MR*NR floats] must match kernelScratchBytes().
//
// C[i*ldc + j] = (beta ? C : 0) + alpha * sum_k op(A)[i,k] op(B)[k,j], where
//   op(A)[i,k] = transA ? A[k*lda + i] : A[i*lda + k],  op(B)[k,j] = transB ? B[j*ldb + k] : B[k*ldb + j].
// All pointers are byte offsets; strides are in elements. Transposed operands get their own packing routines
// (4x4 in-register transposes for op(B)), so every variant runs the same micro-kernel.

const MR: i32 = 6;
const NR: i32 = 8;
const MC: i32 = 72;
const KC: i32 = 128;
const NC: i32 = 512;
/** Floats of packed B (all of K for up to NC columns). */
const BPACK: i32 = 1 << 19;

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
      // Rows 0..3 through 4x4 transposes, rows 4 and 5 as scalars; each k group is 24 bytes.
      const r0 = at(A, i * lda + k0);
      const r1 = at(r0, lda), r2 = at(r1, lda), r3 = at(r2, lda), r4 = at(r3, lda), r5 = at(r4, lda);
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = <usize>k << 2;
        const a0 = v128.load(r0 + o), a1 = v128.load(r1 + o), a2 = v128.load(r2 + o), a3 = v128.load(r3 + o);
        const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
        const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
        const d = at(dst, k * MR);
        v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
        v128.store(d, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), 24);
        v128.store(d, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), 48);
        v128.store(d, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), 72);
        store<f32>(d, load<f32>(r4 + o), 16); store<f32>(d, load<f32>(r5 + o), 20);
        store<f32>(d, load<f32>(r4 + o, 4), 40); store<f32>(d, load<f32>(r5 + o, 4), 44);
        store<f32>(d, load<f32>(r4 + o, 8), 64); store<f32>(d, load<f32>(r5 + o, 8), 68);
        store<f32>(d, load<f32>(r4 + o, 12), 88); store<f32>(d, load<f32>(r5 + o, 12), 92);
      }
      for (; k < kc; k++) {
        const o = <usize>k << 2, d = at(dst, k * MR);
        store<f32>(d, load<f32>(r0 + o));
        store<f32>(d, load<f32>(r1 + o), 4);
        store<f32>(d, load<f32>(r2 + o), 8);
        store<f32>(d, load<f32>(r3 + o), 12);
        store<f32>(d, load<f32>(r4 + o), 16);
        store<f32>(d, load<f32>(r5 + o), 20);
      }
    } else if (rows == MR) {
      for (let k = 0; k < kc; k++) {
        const s = at(A, (k0 + k) * lda + i), d = at(dst, k * MR);
        v128.store(d, v128.load(s));
        store<u64>(d, load<u64>(s, 16), 16);
      }
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

/**
 * The 6x8 micro-kernel: 12 accumulators, B rows loaded as 2 vectors, A values broadcast.
 * [Note: micro-kernel register pressure] 12 accumulators + 2 B vectors + 1 broadcast use 15 of the 16 xmm
 * registers. V8's TurboFan (Node 20) keeps this exact loop in registers, but small edits (unrolling k by two,
 * a different caller, broadcasting through shuffles) made its scheduler hoist all six broadcasts, spill four
 * accumulators to the stack and run at half speed. After editing, check the loop with
 * `node --print-wasm-code` (no stack traffic between the vfmadd231ps) and rerun `zerots bench gemm`.
 */
function micro(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, alpha: f32, beta: bool, mr: i32, nr: i32, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c50 = f32x4.splat(0), c51 = f32x4.splat(0);
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
    s = v128.load32_splat(a, 16);
    c40 = fmadd(s, b0, c40); c41 = fmadd(s, b1, c41);
    s = v128.load32_splat(a, 20);
    c50 = fmadd(s, b0, c50); c51 = fmadd(s, b1, c51);
    a += 24;
    b += 32;
  }
  const va = f32x4.splat(alpha);
  if (mr == MR && nr == NR) {
    const ld = <usize>ldc << 2;
    putRow(c, c00, c01, va, beta);
    putRow(c + ld, c10, c11, va, beta);
    putRow(c + 2 * ld, c20, c21, va, beta);
    putRow(c + 3 * ld, c30, c31, va, beta);
    putRow(c + 4 * ld, c40, c41, va, beta);
    putRow(c + 5 * ld, c50, c51, va, beta);
    return;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  v128.store(tile, c40, 128); v128.store(tile, c41, 144);
  v128.store(tile, c50, 160); v128.store(tile, c51, 176);
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
  const tile = at(pb, BPACK);
  // [Note: gemm loop order] B is packed for all of K over a column block of NC columns (NC chosen so that
  // K x NC fits BPACK), then each MC-row block of C is finished over all of K before moving on. The C block
  // (MC x NC) therefore stays in L2 across the K blocks: wasm has no prefetch instruction, and re-reading C
  // from memory once per K block (GotoBLAS's order) stalled the micro-kernel at n >= 1024.
  const kpad = (K + 3) & ~3;
  let ncMax = min(NC, (BPACK / kpad) & ~(NR - 1));
  if (ncMax < NR) ncMax = NR;
  for (let jc = 0; jc < N; jc += ncMax) {
    const nc = min(ncMax, N - jc);
    const ncPad = (nc + NR - 1) & ~(NR - 1);
    for (let pc = 0; pc < K; pc += KC) packB(at(pb, pc * ncPad), B, ldb, transB, pc, min(KC, K - pc), jc, nc);
    for (let ic = 0; ic < M; ic += MC) {
      const mc = min(MC, M - ic);
      for (let pc = 0; pc < K; pc += KC) {
        const kc = min(KC, K - pc);
        const beta = accumulate || pc > 0;
        packA(pa, A, lda, transA, ic, mc, pc, kc);
        const pbk = at(pb, pc * ncPad);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pbj = at(pbk, jr * kc);
          for (let ir = 0; ir < mc; ir += MR) {
            micro(at(pa, ir * kc), pbj, kc, at(C, (ic + ir) * ldc + jc + jr), ldc, alpha, beta, min(MR, mc - ir), nr, tile);
          }
        }
      }
    }
  }
}
