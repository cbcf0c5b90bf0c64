// A fake ProcessGroup for the zero/ tests until src/comm's threads transport and src/launch's spawnWorld land.
// Ranks are worker threads (collectives block, so ranks need threads); each rank's buffers live in its own shared
// WasmMemory, which every peer can read. A collective: each rank posts (op, pointers, lengths) in a shared
// control block; barrier; each rank computes its result from all ranks' inputs into a private array, summing in
// rank order 0..N-1 in fp32 (the [Note: reduction order] of src/comm/types.ts); barrier; each writes its output.
// Sequential reference semantics and no cleverness: this is an oracle, not a transport. The *Async forms complete
// before they return. Bytes are logged by the ring algorithm's formulas ((N-1)/N of the payload per phase).
import type { WasmMemory } from '../../src/kernels/wasm-api.js';
import { CollectiveMismatchError, CollectiveTimeoutError, StateError } from '../../src/errors.js';
import type {
  CollectiveOp,
  CommBuffer,
  CommDType,
  CommLog,
  CommOpStats,
  ProcessGroup,
  ReduceOp,
  Work,
} from '../../src/comm/types.js';
import { halfToF32Array, f32ToHalfArray } from '../../src/tensor/dtype.js';

const OPS: CollectiveOp[] = ['all_reduce', 'reduce_scatter', 'all_gather', 'broadcast', 'barrier'];
const DTYPES: CommDType[] = ['f32', 'bf16', 'f16'];
const REDUCE: ReduceOp[] = ['sum', 'avg', 'max'];
// control layout: [0] barrier count, [1] barrier generation, then per rank SLOT words
const SLOT = 8; // op, dtype, reduceOp, inPtr, inLen, outPtr, outLen, root
const HEAD = 2;
const TIMEOUT_MS = 60_000;

export function controlBytes(worldSize: number): number {
  return (HEAD + SLOT * worldSize) * 4;
}

function emptyStats(): CommOpStats {
  return { count: 0, bytesSent: 0, bytesReceived: 0, payloadBytes: 0, seconds: 0 };
}

class FakeLog implements CommLog {
  byOp = Object.fromEntries(OPS.map((o) => [o, emptyStats()])) as Record<CollectiveOp, CommOpStats>;
  reset(): void {
    for (const o of OPS) this.byOp[o] = emptyStats();
  }
  totalBytesSent(): number {
    return OPS.reduce((a, o) => a + this.byOp[o].bytesSent, 0);
  }
}

const DONE: Work = { wait() {}, done: true };

export class FakeGroup implements ProcessGroup {
  readonly transport = 'threads' as const;
  readonly log = new FakeLog();
  private readonly ctl: Int32Array;
  private destroyed = false;
  private seq = 0;

  constructor(
    readonly rank: number,
    readonly worldSize: number,
    private readonly memories: WasmMemory[],
    control: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control);
  }

  allReduce(buf: CommBuffer, op: ReduceOp = 'sum', dtype?: CommDType): void {
    this.run('all_reduce', buf, buf, op, dtype, 0);
  }
  allReduceAsync(buf: CommBuffer, op?: ReduceOp, dtype?: CommDType): Work {
    this.allReduce(buf, op, dtype);
    return DONE;
  }
  reduceScatter(output: CommBuffer, input: CommBuffer, op: ReduceOp = 'sum', dtype?: CommDType): void {
    if (input.length !== output.length * this.worldSize)
      throw new StateError(`fake reduceScatter: input ${input.length} != ${this.worldSize} x output ${output.length}`);
    this.run('reduce_scatter', input, output, op, dtype, 0);
  }
  reduceScatterAsync(output: CommBuffer, input: CommBuffer, op?: ReduceOp, dtype?: CommDType): Work {
    this.reduceScatter(output, input, op, dtype);
    return DONE;
  }
  allGather(output: CommBuffer, input: CommBuffer, dtype?: CommDType): void {
    if (output.length !== input.length * this.worldSize)
      throw new StateError(`fake allGather: output ${output.length} != ${this.worldSize} x input ${input.length}`);
    this.run('all_gather', input, output, 'sum', dtype, 0);
  }
  allGatherAsync(output: CommBuffer, input: CommBuffer, dtype?: CommDType): Work {
    this.allGather(output, input, dtype);
    return DONE;
  }
  broadcast(buf: CommBuffer, root: number, dtype?: CommDType): void {
    this.run('broadcast', buf, buf, 'sum', dtype, root);
  }
  broadcastAsync(buf: CommBuffer, root: number, dtype?: CommDType): Work {
    this.broadcast(buf, root, dtype);
    return DONE;
  }
  barrier(): void {
    this.run('barrier', null, null, 'sum', 'f32', 0);
  }
  destroy(): void {
    this.destroyed = true;
  }

  private run(
    op: CollectiveOp,
    input: CommBuffer | null,
    output: CommBuffer | null,
    rop: ReduceOp,
    dt: CommDType | undefined,
    root: number,
  ): void {
    if (this.destroyed) throw new StateError(`fake group rank ${this.rank}: used after destroy()`);
    const dtype: CommDType = dt ?? 'f32';
    if (input !== null && input instanceof Float32Array !== (dtype === 'f32'))
      throw new StateError(`fake ${op}: a ${input.constructor.name} with dtype ${dtype}`);
    const mem = this.memories[this.rank].buffer;
    for (const b of [input, output]) {
      if (b !== null && (!(b.buffer instanceof SharedArrayBuffer) || b.buffer.byteLength !== mem.byteLength))
        throw new StateError(`fake ${op}: buffers must be views of the rank's device memory`);
    }
    const seq = this.seq++;
    const s = HEAD + SLOT * this.rank;
    const words = [
      OPS.indexOf(op),
      DTYPES.indexOf(dtype),
      REDUCE.indexOf(rop),
      input?.byteOffset ?? 0,
      input?.length ?? 0,
      output?.byteOffset ?? 0,
      output?.length ?? 0,
      root,
    ];
    words.forEach((w, i) => Atomics.store(this.ctl, s + i, w));
    this.arrive(op, seq);
    const slot = (r: number) => Array.from({ length: SLOT }, (_, i) => Atomics.load(this.ctl, HEAD + SLOT * r + i));
    const mine = slot(this.rank);
    for (let r = 0; r < this.worldSize; r++) {
      const o = slot(r);
      if (
        o[0] !== mine[0] ||
        o[1] !== mine[1] ||
        o[2] !== mine[2] ||
        o[4] !== mine[4] ||
        o[6] !== mine[6] ||
        o[7] !== mine[7]
      ) {
        throw new CollectiveMismatchError(
          `fake group, collective #${seq}: rank ${this.rank} called ${op}(${mine[4]} -> ${mine[6]} elements) but ` +
            `rank ${r} called ${OPS[o[0]]}(${o[4]} -> ${o[6]} elements)`,
        );
      }
    }
    const N = this.worldSize;
    const read = (r: number, ptr: number, len: number): Float32Array => {
      const buf = this.memories[r].buffer;
      return dtype === 'f32'
        ? new Float32Array(buf, ptr, len).slice()
        : halfToF32Array(new Uint16Array(buf, ptr, len), dtype);
    };
    let result: Float32Array | null = null;
    const bytes = dtype === 'f32' ? 4 : 2;
    let sent = 0;
    if (op === 'all_reduce' || op === 'reduce_scatter') {
      const len = op === 'all_reduce' ? input!.length : output!.length;
      const off = op === 'all_reduce' ? 0 : this.rank * len;
      result = new Float32Array(len);
      for (let r = 0; r < N; r++) {
        const slotR = slot(r);
        const x = read(r, slotR[3] + off * bytes, len);
        for (let i = 0; i < len; i++)
          result[i] = r === 0 ? x[i] : rop === 'max' ? Math.max(result[i], x[i]) : Math.fround(result[i] + x[i]);
      }
      if (rop === 'avg') for (let i = 0; i < len; i++) result[i] = Math.fround(result[i] / N);
      sent =
        ((op === 'all_reduce' ? 2 : 1) * (N - 1) * (op === 'all_reduce' ? input!.length : input!.length) * bytes) / N;
    } else if (op === 'all_gather') {
      const len = input!.length;
      result = new Float32Array(len * N);
      for (let r = 0; r < N; r++) result.set(read(r, slot(r)[3], len), r * len);
      sent = ((N - 1) * len * N * bytes) / N;
    } else if (op === 'broadcast') {
      result = read(root, slot(root)[3], input!.length);
      sent = ((N - 1) * input!.length * bytes) / N;
    }
    this.arrive(op, seq);
    if (result !== null) {
      if (output instanceof Float32Array) output.set(result);
      else f32ToHalfArray(result, dtype as 'bf16' | 'f16', output!);
    }
    const st = this.log.byOp[op];
    st.count++;
    st.bytesSent += sent;
    st.bytesReceived += sent;
    st.payloadBytes += ((op === 'all_gather' ? output?.length : input?.length) ?? 0) * bytes;
  }

  private arrive(op: string, seq: number): void {
    const gen = Atomics.load(this.ctl, 1);
    if (Atomics.add(this.ctl, 0, 1) === this.worldSize - 1) {
      Atomics.store(this.ctl, 0, 0);
      Atomics.add(this.ctl, 1, 1);
      Atomics.notify(this.ctl, 1);
      return;
    }
    const deadline = Date.now() + TIMEOUT_MS;
    while (Atomics.load(this.ctl, 1) === gen) {
      if (Atomics.wait(this.ctl, 1, gen, 1000) === 'timed-out' && Date.now() > deadline) {
        throw new CollectiveTimeoutError(
          `fake group: rank ${this.rank} waited ${TIMEOUT_MS} ms in ${op} #${seq}`,
          op,
          this.rank,
          seq,
        );
      }
    }
  }
}
