// The rank-ordered reduction of the TCP transport.
//
// [Note: tcp reduction order] ../types.ts requires every rank to produce the same bits, summing element i as
// ((x0 + x1) + x2) ... in fp32. A ring reduce-scatter adds partial sums in ring order (chunk c is summed starting
// at rank c+1), which is a different order for every chunk and not rank order for N >= 3. So the TCP transport
// gathers the raw contributions instead: in the reduce-scatter, every rank sends chunk j of its input straight to
// rank j (an all-to-all), and rank j folds the N contributions of its chunk in rank order 0..N-1. Each rank sends
// and receives (N-1)/N of the buffer, exactly what the ring moves, so the bandwidth cost is the ring's; what
// differs is N-1 concurrent links instead of one neighbour (fine on one machine and on a switched network at the
// world sizes zerots targets). The fold runs as the contributions stream in (see collective-runner.ts), segment by segment.
import type { CommDType, ReduceOp } from '../types.js';
import { bitsToBf16, bitsToF16, f16BitsToF32 } from '../../kernels/half.js';

let f16Table: Float32Array | null = null;

/** fp32 value of every f16 bit pattern (built once, 256 KiB): widening by lookup. */
function table(): Float32Array {
  if (f16Table) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32(h);
  return f16Table;
}

/**
 * out = fold over `parts` (rank order) of op, for element range [from, to) of each part.
 * parts[k] are the rank-k contributions: Float32Array for 'f32', Uint16Array (16-bit bits) otherwise.
 * `scratch` is an fp32 workspace of at least to - from elements (16-bit dtypes only).
 */
export function foldRange(
  parts: readonly (Float32Array | Uint16Array)[],
  out: Float32Array | Uint16Array,
  from: number,
  to: number,
  op: ReduceOp,
  dtype: CommDType,
  scratch: Float32Array,
  tmp: Float32Array,
): void {
  const n = to - from;
  if (n <= 0) return;
  const N = parts.length;
  const acc = dtype === 'f32' ? (out as Float32Array).subarray(from, to) : scratch.subarray(0, n);
  if (dtype === 'f32') {
    const p0 = (parts[0] as Float32Array).subarray(from, to);
    if (N === 1) acc.set(p0);
    else {
      const p1 = (parts[1] as Float32Array).subarray(from, to);
      // acc is a Float32Array, so every store rounds to fp32: the fold is fp32 arithmetic in rank order.
      if (op === 'max') for (let i = 0; i < n; i++) acc[i] = Math.max(p0[i]!, p1[i]!);
      else for (let i = 0; i < n; i++) acc[i] = p0[i]! + p1[i]!;
      for (let k = 2; k < N; k++) {
        const pk = (parts[k] as Float32Array).subarray(from, to);
        if (op === 'max') for (let i = 0; i < n; i++) acc[i] = Math.max(acc[i]!, pk[i]!);
        else for (let i = 0; i < n; i++) acc[i] = acc[i]! + pk[i]!;
      }
    }
  } else {
    const d = dtype;
    const w = tmp.subarray(0, n);
    widen((parts[0] as Uint16Array).subarray(from, to), acc, d);
    for (let k = 1; k < N; k++) {
      widen((parts[k] as Uint16Array).subarray(from, to), w, d);
      if (op === 'max') for (let i = 0; i < n; i++) acc[i] = Math.max(acc[i]!, w[i]!);
      else for (let i = 0; i < n; i++) acc[i] = acc[i]! + w[i]!;
    }
  }
  if (op === 'avg') for (let i = 0; i < n; i++) acc[i] = acc[i]! / N;
  if (dtype !== 'f32') narrow(acc, (out as Uint16Array).subarray(from, to), dtype);
}

/** out[i] = fp32 value of the 16-bit src[i]. */
function widen(src: Uint16Array, out: Float32Array, dtype: 'bf16' | 'f16'): void {
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
function narrow(src: Float32Array, out: Uint16Array, dtype: 'bf16' | 'f16'): void {
  const n = src.length;
  const s = new Uint32Array(src.buffer, src.byteOffset, n);
  if (dtype === 'bf16') for (let i = 0; i < n; i++) out[i] = bitsToBf16(s[i]!);
  else for (let i = 0; i < n; i++) out[i] = bitsToF16(s[i]!);
}
