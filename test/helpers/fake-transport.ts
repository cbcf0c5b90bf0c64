// The fake transport: an oracle Transport (src/comm/transport.ts) under the real ProcessGroup (src/comm/group.ts),
// so argument validation, sequence numbers, deadlines and the comm log are the real ones and only the moving of
// bytes is faked. Ranks are worker threads (collectives block, so ranks need threads); each rank's buffers live in
// its own shared WasmMemory, which every peer can read. A collective: each rank posts its CollectiveDesc and buffer
// offsets in a shared control block; barrier; each checks every peer posted the same collective
// (assertSameCollective), computes its result from all ranks' inputs into a private array, summing in rank order
// 0..N-1 in fp32 (the [Note: reduction order] of src/comm/types.ts); barrier; each writes its output. Sequential
// reference semantics and no cleverness: this is an oracle, not a transport. Bytes are reported by the ring
// algorithm's formulas ((N-1)/N of the payload per phase). fake-world.ts runs a world of such ranks.
import type { WasmMemory } from '../../src/kernels/wasm-api.js';
import { ShapeError, StateError } from '../../src/errors.js';
import { Group } from '../../src/comm/group.js';
import { assertSameCollective, DESC_WORDS, decodeDesc, encodeDesc, timeoutError } from '../../src/comm/desc.js';
import type { CollectiveCall, TransferStats, Transport } from '../../src/comm/transport.js';
import type { CommBuffer, ProcessGroup } from '../../src/comm/types.js';
import { halfToF32Array, f32ToHalfArray } from '../../src/tensor/dtype.js';

// control layout: [0] barrier count, [1] barrier generation, then per rank SLOT words: the desc, input and output
// byte offsets
const SLOT = DESC_WORDS + 2;
const HEAD = 2;
/** The fake world's default per-collective timeout. */
const TIMEOUT_MS = 60_000;

export function controlBytes(worldSize: number): number {
  return (HEAD + SLOT * worldSize) * 4;
}

export class FakeTransport implements Transport {
  readonly kind = 'threads' as const;
  private readonly ctl: Int32Array;
  private closed = false;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly memories: WasmMemory[],
    control: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control);
  }

  checkBuffer(buf: CommBuffer, what: string): void {
    const mem = this.memories[this.rank]!.buffer;
    if (!(buf.buffer instanceof SharedArrayBuffer) || buf.buffer !== mem)
      throw new ShapeError(`fake transport: ${what} must be a view of rank ${this.rank}'s device memory`);
  }

  run(call: CollectiveCall): TransferStats {
    if (this.closed) throw new StateError(`fake transport rank ${this.rank}: used after close()`);
    const { desc, input, output } = call;
    const s = HEAD + SLOT * this.rank;
    const words = new Int32Array(SLOT);
    encodeDesc(desc, words);
    words[DESC_WORDS] = input?.byteOffset ?? 0;
    words[DESC_WORDS + 1] = output?.byteOffset ?? 0;
    words.forEach((w, i) => Atomics.store(this.ctl, s + i, w));
    this.arrive(call);
    const slot = (r: number) =>
      Int32Array.from({ length: SLOT }, (_, i) => Atomics.load(this.ctl, HEAD + SLOT * r + i));
    for (let r = 0; r < this.worldSize; r++) assertSameCollective(desc, this.rank, decodeDesc(slot(r)), r);
    if (desc.op === 'invalid') return { bytesSent: 0, bytesReceived: 0 };
    const N = this.worldSize;
    const { dtype, reduceOp: rop, count } = desc;
    const read = (r: number, ptr: number, len: number): Float32Array => {
      const buf = this.memories[r]!.buffer;
      return dtype === 'f32'
        ? new Float32Array(buf, ptr, len).slice()
        : halfToF32Array(new Uint16Array(buf, ptr, len), dtype);
    };
    const inPtr = (r: number) => slot(r)[DESC_WORDS]!;
    let result: Float32Array | null = null;
    const bytes = dtype === 'f32' ? 4 : 2;
    let sent = 0;
    if (desc.op === 'all_reduce' || desc.op === 'reduce_scatter') {
      const off = desc.op === 'all_reduce' ? 0 : this.rank * count;
      result = new Float32Array(count);
      for (let r = 0; r < N; r++) {
        const x = read(r, inPtr(r) + off * bytes, count);
        for (let i = 0; i < count; i++)
          result[i] = r === 0 ? x[i]! : rop === 'max' ? Math.max(result[i]!, x[i]!) : Math.fround(result[i]! + x[i]!);
      }
      if (rop === 'avg') for (let i = 0; i < count; i++) result[i] = Math.fround(result[i]! / N);
      sent = desc.op === 'all_reduce' ? (2 * (N - 1) * count * bytes) / N : (N - 1) * count * bytes;
    } else if (desc.op === 'all_gather') {
      result = new Float32Array(count * N);
      for (let r = 0; r < N; r++) result.set(read(r, inPtr(r), count), r * count);
      sent = (N - 1) * count * bytes;
    } else if (desc.op === 'broadcast') {
      result = read(desc.root, inPtr(desc.root), count);
      sent = ((N - 1) * count * bytes) / N;
    }
    this.arrive(call);
    if (result !== null) {
      if (output instanceof Float32Array) output.set(result);
      else f32ToHalfArray(result, dtype as 'bf16' | 'f16', output!);
    }
    return { bytesSent: sent, bytesReceived: sent };
  }

  close(): void {
    this.closed = true;
  }

  private arrive(call: CollectiveCall): void {
    const gen = Atomics.load(this.ctl, 1);
    if (Atomics.add(this.ctl, 0, 1) === this.worldSize - 1) {
      Atomics.store(this.ctl, 0, 0);
      Atomics.add(this.ctl, 1, 1);
      Atomics.notify(this.ctl, 1);
      return;
    }
    while (Atomics.load(this.ctl, 1) === gen) {
      if (Atomics.wait(this.ctl, 1, gen, 1000) === 'timed-out' && performance.now() > call.deadline)
        throw timeoutError(call.desc, this.rank, call.timeoutMs, 'every rank to arrive');
    }
  }
}

/** The real ProcessGroup over a fake transport (timeout 60 s unless opts says otherwise). */
export function fakeProcessGroup(
  rank: number,
  worldSize: number,
  memories: WasmMemory[],
  control: SharedArrayBuffer,
  opts: { timeoutMs?: number } = {},
): ProcessGroup {
  return new Group(new FakeTransport(rank, worldSize, memories, control), { timeoutMs: opts.timeoutMs ?? TIMEOUT_MS });
}
