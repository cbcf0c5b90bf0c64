// One offloaded AdamW step over a sub-group, as a job the calling thread and the pool's workers split by elements.
// [Note: blocked offload step] Each thread walks the chunks it claims in blocks of BLOCK elements: the block's
// gradient is copied from the device (16-bit or fp32) into the thread's small workspace in the host arena (or read
// where it is when it already lives in that arena), and one fused AdamW pass decodes it, updates master, m and v in
// place and writes the updated parameters as bf16 into the workspace, which is copied to the device's parameter
// buffer. The workspace block stays in L1/L2, so the update moves only the bytes it must (16-bit: 2 + 12 read,
// 12 + 2 written per parameter) and runs the same kernel, element for element, as the device step: the results are
// bit-identical.
//
// The job's elements are handed out in chunks that the threads claim as they go (runPart), not cut in fixed parts.
// The job lives in a SharedArrayBuffer of f64 words (header, then one row per parameter run); buffers are named by
// their index in the pool's registry (a SharedArrayBuffer, and for host arenas the WebAssembly.Memory to run on).
import type { Half, Kernels } from '../../kernels/types.js';

export const BLOCK = 4096;
/** Workspace bytes per thread: fp32 gradient block, 16-bit gradient block, 16-bit parameter block. */
export const TMP_BYTES = BLOCK * 8;
export const HEADER_WORDS = 16;
export const ROW_WORDS = 10;

export enum H {
  Kind = 0, // 0: AdamW over rows, 1: copy bytes
  Arena = 1,
  Base = 2, // byte address of the fp32 master; m at base + 4*stride, v at base + 8*stride
  Stride = 3,
  Tmp = 4, // thread t's workspace at tmp + t * TMP_BYTES
  Rows = 5,
  Lr = 6,
  B1 = 7,
  B2 = 8,
  Eps = 9,
  Decoupled = 10,
  Bc1 = 11,
  Bc2 = 12,
  GradScale = 13,
  Total = 14, // elements (AdamW) or bytes (copy)
  Parts = 15,
}
/** Copy jobs reuse the header: source buffer and byte offset, destination buffer and byte offset. */
export enum C {
  Src = 1,
  SrcOff = 2,
  Dst = 3,
  DstOff = 4,
  /** 0: one fixed part per thread; 1: chunks claimed as the AdamW job's are */
  Chunked = 5,
  /** COPY_METHOD: how the bytes move (the memcpy bound of `zerots bench offload` takes the fastest) */
  Method = 6,
}
/**
 * set: TypedArray#set (V8 copies between SharedArrayBuffers with relaxed atomics, 8 bytes a step, the copy the step
 * itself uses for its small blocks); memcpy: Buffer#fill with a value as long as the range, one C++ memcpy (source
 * and destination in different buffers; [Note: cross-memory copies] in src/comm/threads/copy.ts); wasm: the source
 * arena's memory.copy (source and destination in the same buffer).
 */
export const COPY_METHOD = { set: 0, memcpy: 1, wasm: 2 } as const;
export enum R {
  N = 0,
  Offset = 1, // element offset inside the sub-group's buffers
  Grad = 2, // registry id of the gradient's buffer
  GradOff = 3, // byte offset of the run's first gradient
  GradType = 4, // 0 f32, 1 bf16, 2 f16
  Out = 5, // registry id of the parameter buffer to write, -1 none
  OutOff = 6,
  OutType = 7,
  Wd = 8,
}

export const TYPE_CODE = { f32: 0, bf16: 1, f16: 2 } as const;

/** What a thread needs to run a job: byte views of registered buffers and kernels on registered arenas. */
export interface JobEnv {
  bytes(id: number): Uint8Array;
  kernels(id: number): Kernels;
}

function half(code: number): Half {
  return code === 1 ? 'bf16' : 'f16';
}

/** Part `part` of `parts` of [0, total), 16-aligned boundaries. */
export function partRange(total: number, part: number, parts: number): [number, number] {
  const cut = (p: number) => (p >= parts ? total : Math.min(total, Math.floor((total * p) / parts / 16) * 16));
  return [cut(part), cut(part + 1)];
}

/** Elements of AdamW (bytes of a copy) a thread claims at a time. */
export const CHUNK_ELEMENTS = 4 * BLOCK;
export const CHUNK_BYTES = 1 << 20;

/**
 * Runs thread `part`'s share of the job in `job`: chunks of CHUNK_ELEMENTS elements (CHUNK_BYTES bytes), each taken
 * with `claim()` (the next chunk index, shared by all the job's threads) until none is left. Dynamic, so a thread the
 * OS takes off its core holds up only its current chunk; AdamW is elementwise, so who runs a chunk changes no bit.
 * `part` names the thread's workspace.
 */
export function runPart(env: JobEnv, job: Float64Array, part: number, claim: () => number): void {
  const total = job[H.Total]!;
  if (job[H.Kind] === 1) {
    const src = env.bytes(job[C.Src]!);
    const dst = env.bytes(job[C.Dst]!);
    const method = job[C.Method]!;
    const k = method === COPY_METHOD.wasm ? env.kernels(job[C.Src]!) : null;
    const [bs, bd] = [Buffer.from(src.buffer), Buffer.from(dst.buffer)];
    const copy = (from: number, to: number) => {
      const s = job[C.SrcOff]! + from;
      const d = job[C.DstOff]! + from;
      if (k !== null) k.copy(d, s, to - from);
      else if (method === COPY_METHOD.memcpy) bd.fill(bs.subarray(s, s + (to - from)), d, d + (to - from));
      else dst.set(src.subarray(s, s + (to - from)), d);
    };
    if (job[C.Chunked] === 0) {
      const [from, to] = partRange(total, part, job[H.Parts]!);
      if (from < to) copy(from, to);
    } else
      for (let c = claim(); c * CHUNK_BYTES < total; c = claim())
        copy(c * CHUNK_BYTES, Math.min(total, (c + 1) * CHUNK_BYTES));
    return;
  }
  let c = claim();
  if (c * CHUNK_ELEMENTS >= total) return;
  const arena = job[H.Arena]!;
  const k = env.kernels(arena);
  const mem = env.bytes(arena);
  const base = job[H.Base]!;
  const stride = job[H.Stride]!;
  const tmp32 = job[H.Tmp]! + part * TMP_BYTES;
  const tmpIn = tmp32 + BLOCK * 4;
  const tmpOut = tmpIn + BLOCK * 2;
  const [lr, b1, b2, eps] = [job[H.Lr]!, job[H.B1]!, job[H.B2]!, job[H.Eps]!];
  const decoupled = job[H.Decoupled] === 1;
  const [bc1, bc2, gs] = [job[H.Bc1]!, job[H.Bc2]!, job[H.GradScale]!];
  const rows = job[H.Rows]!;
  // a thread's chunks come in increasing order: the first row that can meet the next chunk only moves forward
  let first = 0;
  let firstAt = 0; // start of row `first` in the job's element space
  for (; c * CHUNK_ELEMENTS < total; c = claim()) {
    const from = c * CHUNK_ELEMENTS;
    const to = Math.min(total, from + CHUNK_ELEMENTS);
    while (first < rows && firstAt + job[HEADER_WORDS + first * ROW_WORDS + R.N]! <= from)
      firstAt += job[HEADER_WORDS + first++ * ROW_WORDS + R.N]!;
    let at = firstAt;
    for (let r = first; r < rows && at < to; r++) {
      const o = HEADER_WORDS + r * ROW_WORDS;
      const n = job[o + R.N]!;
      const lo = Math.max(from, at) - at;
      const hi = Math.min(to, at + n) - at;
      at += n;
      if (lo >= hi) continue;
      const off = job[o + R.Offset]!;
      const gt = job[o + R.GradType]!;
      const grad = env.bytes(job[o + R.Grad]!);
      const gOff = job[o + R.GradOff]!;
      const outId = job[o + R.Out]!;
      const out = outId >= 0 ? env.bytes(outId) : null;
      const oOff = job[o + R.OutOff]!;
      const ot = job[o + R.OutType]!;
      const wd = job[o + R.Wd]!;
      const gType = gt === 0 ? 'f32' : half(gt);
      const gBytes = gt === 0 ? 4 : 2;
      // a gradient or parameter buffer in the arena itself (a host gradient shard) is read or written in place
      const gHere = job[o + R.Grad] === arena;
      const oHere = outId === arena && ot !== 0;
      const gTmp = gt === 0 ? tmp32 : tmpIn;
      const oType = ot === 2 ? 'f16' : 'bf16';
      for (let j = lo; j < hi; j += BLOCK) {
        const len = Math.min(BLOCK, hi - j);
        const p = base + (off + j) * 4;
        let g = gOff + j * gBytes;
        if (!gHere) {
          mem.set(grad.subarray(g, g + len * gBytes), gTmp);
          g = gTmp;
        }
        const o16 = out === null || ot === 0 ? 0 : oHere ? oOff + j * 2 : tmpOut;
        k.adamw(
          p,
          g,
          p + stride * 4,
          p + stride * 8,
          len,
          lr,
          b1,
          b2,
          eps,
          wd,
          decoupled,
          bc1,
          bc2,
          gs,
          o16,
          oType,
          gType,
        );
        if (out === null || oHere) continue;
        if (ot === 0) {
          out.set(mem.subarray(p, p + len * 4), oOff + j * 4);
        } else {
          out.set(mem.subarray(tmpOut, tmpOut + len * 2), oOff + j * 2);
        }
      }
    }
  }
}
