// The threads transport: ranks are worker_threads of one process and every rank can read and write its peers'
// device memories (shared WebAssembly.Memory objects exchanged at setup). Collectives are barrier-separated
// phases over those memories ([Note: barrier] in control.ts):
//   all_reduce      B1 | each rank reduces its own chunk over all ranks' buffers into its own buffer, and writes
//                   each reduced block into every peer's buffer at once ([Note: all-reduce push]) | B2
//                   (small buffers: B1 | every rank reduces everything into its scratch | B2 | copy it in)
//   reduce_scatter  B1 | each rank reduces chunk r of all inputs into its output | B2
//   all_gather      B1 | each rank copies every peer's input into its output | B2
//   broadcast       B1 | non-roots copy the root's buffer | B2
//   barrier         B1
// The last barrier of each op keeps a rank from returning (and its caller from overwriting the buffer) while peers
// still read it. B1 also publishes this rank's CollectiveDesc and buffer offsets; after B1 every rank checks every
// peer's desc (the always-on mismatch check) and reads the peers' offsets.
// [Note: staging of peer data] A wasm instance sees one memory only (no multi-memory in Node 20), so the reduce
// kernel cannot read a peer's memory. Peer data is copied block by block into a small staging area of the own
// memory (the comm slot, or the larger scratch given at setup) and reduced from there while it is hot in L1/L2:
// the bytes cross DRAM once, as with direct access, but in a separate pass (the cost: README, "the ceiling").
import { ShapeError, StateError } from '../../errors.js';
import { assertSameCollective, decodeDesc, DESC_WORDS, encodeDesc, peerLostError, timeoutError } from '../desc.js';
import { COMM_SLOT_BASE, COMM_SLOT_BYTES, MAX_SOURCES, Reducer, TABLE_BYTES } from '../reducer.js';
import type { CollectiveCall, CollectiveDesc, TransferStats, Transport } from '../transport.js';
import type { CommBuffer, CommDType, ReduceOp } from '../types.js';
import type { CommMemory } from '../wasm.js';
import { Barrier, BarrierFailure, markRank, slotAt, SLOT_IN, SLOT_OUT, Status, statusWhy } from './control.js';
import { copyAcross } from './copy.js';

export interface ThreadsTransportOptions {
  rank: number;
  worldSize: number;
  /** The world's control block (control.ts). */
  control: SharedArrayBuffer;
  /** Every rank's device memory, in rank order (this rank's at index `rank`). */
  memories: readonly CommMemory[];
  /** Barrier spin iterations before futex-waiting (default: 20000 when ranks <= cores, else 200). */
  spinIterations: number;
  /** Optional larger staging area in the own memory (byte offset and size), e.g. a 'comm' allocation. */
  scratch?: { ptr: number; bytes: number };
}

const MAX_BLOCK_BYTES = 64 * 1024;

/** all_reduce payloads up to this size take the two-barrier path (allReduceSmall). */
const SMALL_BYTES = 4096;

/** Elements per rank chunk for all_reduce: a multiple of 16 so ranks never write the same cache line. */
function chunkOf(count: number, worldSize: number): number {
  return Math.ceil(count / worldSize / 16) * 16;
}

export class ThreadsTransport implements Transport {
  readonly kind = 'threads' as const;
  readonly rank: number;
  readonly worldSize: number;
  private readonly ctl: Int32Array;
  private readonly control: SharedArrayBuffer;
  private readonly sab: SharedArrayBuffer;
  // Buffers over the memories, for copyAcross ([Note: cross-memory copies] in copy.ts).
  private readonly u8: Buffer[];
  private readonly barrier: Barrier;
  private readonly reducer: Reducer;
  private readonly stageBase: number;
  private readonly stageBytes: number;
  private readonly srcs: number[];
  private readonly bases: number[];
  private readonly table: number[];
  private broken: Error | null = null;
  private closed = false;

  constructor(o: ThreadsTransportOptions) {
    this.rank = o.rank;
    this.worldSize = o.worldSize;
    if (o.worldSize > MAX_SOURCES)
      throw new StateError(`threads transport supports at most ${MAX_SOURCES} ranks, got ${o.worldSize}`);
    this.control = o.control;
    this.ctl = new Int32Array(o.control);
    const own = o.memories[o.rank]!;
    this.sab = own.buffer as unknown as SharedArrayBuffer;
    this.u8 = o.memories.map((m) => Buffer.from(m.buffer));
    this.barrier = new Barrier(this.ctl, o.rank, o.worldSize, o.spinIterations);
    this.reducer = new Reducer(own);
    this.stageBase = o.scratch ? o.scratch.ptr : COMM_SLOT_BASE + TABLE_BYTES;
    this.stageBytes = o.scratch ? o.scratch.bytes : COMM_SLOT_BYTES - TABLE_BYTES;
    this.srcs = new Array<number>(o.worldSize).fill(0);
    this.bases = new Array<number>(o.worldSize).fill(0);
    this.table = new Array<number>(o.worldSize).fill(0);
  }

  checkBuffer(buf: CommBuffer, what: string): void {
    if (buf.buffer !== this.sab) {
      throw new ShapeError(
        `${what} is not a view of rank ${this.rank}'s device memory (the WebAssembly.Memory given ` +
          "to initProcessGroup); the threads transport reads and writes peers' buffers in place, so buffers must live there",
      );
    }
  }

  run(call: CollectiveCall): TransferStats {
    return this.runAt(
      call.desc,
      call.input ? call.input.byteOffset : 0,
      call.output ? call.output.byteOffset : 0,
      call.deadline,
      call.timeoutMs,
    );
  }

  /** run() on byte offsets into the own memory (what the progress thread gets: no typed arrays cross threads). */
  runAt(d: CollectiveDesc, inOffset: number, outOffset: number, deadline: number, timeoutMs: number): TransferStats {
    if (this.broken) throw this.broken;
    if (this.closed) throw new StateError(`rank ${this.rank}'s threads transport is closed`);
    const slot = slotAt(this.worldSize, this.rank, d.seq & 1);
    encodeDesc(d, this.ctl, slot);
    this.ctl[slot + SLOT_IN] = inOffset;
    this.ctl[slot + SLOT_OUT] = outOffset;
    try {
      this.barrier.arrive(deadline);
      for (let p = 0; p < this.worldSize; p++) {
        if (p === this.rank) continue;
        const peer = slotAt(this.worldSize, p, d.seq & 1);
        // cheap path: compare the encoded words; decode only to explain a difference
        if (!this.sameWords(slot, peer) || d.op === 'invalid')
          assertSameCollective(d, this.rank, decodeDesc(this.ctl, peer), p);
      }
      return this.dispatch(d, inOffset, outOffset, deadline);
    } catch (e) {
      if (e instanceof BarrierFailure) throw this.fail(d, e, timeoutMs);
      throw e;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    markRank(this.control, this.rank, Status.destroyed);
  }

  private fail(d: CollectiveDesc, f: BarrierFailure, timeoutMs: number): Error {
    this.broken =
      f.kind === 'timeout'
        ? timeoutError(d, this.rank, timeoutMs, 'its peers to arrive')
        : peerLostError(d, this.rank, f.lostRank, statusWhy(f.status));
    // leave the group so that peers still waiting on this rank fail at once instead of at their own deadline
    markRank(this.control, this.rank, Status.abandoned, f.kind === 'timeout');
    return this.broken;
  }

  private peerOffset(p: number, seq: number, which: typeof SLOT_IN | typeof SLOT_OUT): number {
    return this.ctl[slotAt(this.worldSize, p, seq & 1) + which]! >>> 0;
  }

  private dispatch(d: CollectiveDesc, inOffset: number, outOffset: number, deadline: number): TransferStats {
    const eb = d.dtype === 'f32' ? 4 : 2;
    switch (d.op) {
      case 'barrier':
      case 'invalid': // every rank refused its own arguments; each throws its own error
        return { bytesSent: 0, bytesReceived: 0 };
      case 'all_reduce':
        return this.allReduce(d, eb, deadline);
      case 'reduce_scatter':
        return this.reduceScatter(d, eb, outOffset, deadline);
      case 'all_gather':
        return this.allGather(d, eb, inOffset, outOffset, deadline);
      case 'broadcast':
        return this.broadcast(d, eb, outOffset, deadline);
      default:
        throw new StateError(`rank ${this.rank}: collective ${d.op} reached the transport`);
    }
  }

  private allReduce(d: CollectiveDesc, eb: number, deadline: number): TransferStats {
    const N = this.worldSize,
      r = this.rank,
      count = d.count;
    if (N > 1 && count * eb <= SMALL_BYTES && N * count * eb <= this.stageBytes)
      return this.allReduceSmall(d, eb, deadline);
    const chunk = chunkOf(count, N);
    const lo = Math.min(r * chunk, count),
      hi = Math.min(lo + chunk, count);
    const bases = this.offsets(d.seq, SLOT_IN);
    for (let p = 0; p < N; p++) this.srcs[p] = bases[p]! + lo * eb;
    // [Note: all-reduce push] chunk r of a peer's buffer is read by this rank only, so the reduced block can be
    // written straight into every peer's buffer while it is hot in cache: no copy phase, two barriers
    this.reduceRange(d.dtype, d.reduceOp, bases[r]! + lo * eb, this.srcs, hi - lo, eb, true);
    this.barrier.arrive(deadline);
    const mine = (hi - lo) * eb,
      others = Math.max(0, count * eb - mine);
    // sent: my reduced chunk to N-1 peers + their staging reads of my other chunks; received: the mirror image
    return { bytesSent: (N - 1) * mine + others, bytesReceived: (N - 1) * mine + others };
  }

  /**
   * Small all-reduce in two barriers: every rank reduces the whole buffer from staged copies into its scratch,
   * then (after B2: nobody reads its buffer any more) copies the result in. Latency over bandwidth.
   */
  private allReduceSmall(d: CollectiveDesc, eb: number, deadline: number): TransferStats {
    const N = this.worldSize,
      r = this.rank,
      bytes = d.count * eb;
    const bases = this.offsets(d.seq, SLOT_IN);
    const own = this.u8[r]!,
      table = this.table;
    let slot = 0;
    for (let p = 0; p < N; p++) {
      if (p === r) {
        table[p] = bases[p]!;
      } else {
        const stage = this.stageBase + slot++ * bytes;
        copyAcross(this.u8[p]!, bases[p]!, own, stage, bytes);
        table[p] = stage;
      }
    }
    const result = this.stageBase + (N - 1) * bytes;
    this.reducer.reduce(d.dtype, d.reduceOp, result, table, d.count, N);
    this.barrier.arrive(deadline);
    this.reducer.move(bases[r]!, result, bytes);
    return { bytesSent: (N - 1) * bytes, bytesReceived: (N - 1) * bytes };
  }

  private reduceScatter(d: CollectiveDesc, eb: number, outOffset: number, deadline: number): TransferStats {
    const N = this.worldSize,
      r = this.rank,
      count = d.count;
    const bases = this.offsets(d.seq, SLOT_IN);
    for (let p = 0; p < N; p++) this.srcs[p] = bases[p]! + r * count * eb;
    this.reduceRange(d.dtype, d.reduceOp, outOffset, this.srcs, count, eb);
    this.barrier.arrive(deadline);
    const bytes = (N - 1) * count * eb;
    return { bytesSent: bytes, bytesReceived: bytes };
  }

  private allGather(
    d: CollectiveDesc,
    eb: number,
    inOffset: number,
    outOffset: number,
    deadline: number,
  ): TransferStats {
    const N = this.worldSize,
      r = this.rank,
      bytes = d.count * eb;
    const bases = this.offsets(d.seq, SLOT_IN);
    const own = this.u8[r]!;
    for (let p = 0; p < N; p++) {
      const dst = outOffset + p * bytes;
      if (p === r) {
        this.reducer.move(dst, inOffset, bytes);
      } else {
        copyAcross(this.u8[p]!, bases[p]!, own, dst, bytes);
      }
    }
    this.barrier.arrive(deadline);
    return { bytesSent: (N - 1) * bytes, bytesReceived: (N - 1) * bytes };
  }

  private broadcast(d: CollectiveDesc, eb: number, offset: number, deadline: number): TransferStats {
    const bytes = d.count * eb,
      root = d.root;
    let stats = { bytesSent: (this.worldSize - 1) * bytes, bytesReceived: 0 };
    if (this.rank !== root) {
      const src = this.peerOffset(root, d.seq, SLOT_IN);
      copyAcross(this.u8[root]!, src, this.u8[this.rank]!, offset, bytes);
      stats = { bytesSent: 0, bytesReceived: bytes };
    }
    this.barrier.arrive(deadline);
    return stats;
  }

  private offsets(seq: number, which: typeof SLOT_IN | typeof SLOT_OUT): number[] {
    const out = this.bases;
    for (let p = 0; p < this.worldSize; p++) out[p] = this.peerOffset(p, seq, which);
    return out;
  }

  private sameWords(a: number, b: number): boolean {
    const c = this.ctl;
    for (let k = 0; k < DESC_WORDS; k++) if (c[a + k] !== c[b + k]) return false;
    return true;
  }

  /**
   * Reduces n elements: dst (own memory) = fold over srcs[p] (in rank p's memory), in rank order, staging peer
   * blocks through the own memory ([Note: staging of peer data]).
   */
  private reduceRange(
    dtype: CommDType,
    op: ReduceOp,
    dst: number,
    srcs: number[],
    n: number,
    eb: number,
    push = false,
  ): void {
    const N = this.worldSize,
      r = this.rank;
    if (n <= 0) return;
    const own = this.u8[r]!;
    const table = this.table;
    // blocks of at most 64 KiB per peer: staged data stays in L2 until the kernel reads it
    const perPeer = Math.min(MAX_BLOCK_BYTES, this.stageBytes / (N - 1));
    const block = N === 1 ? n : Math.max(16, Math.floor(perPeer / eb / 16) * 16);
    for (let off = 0; off < n; off += block) {
      const len = Math.min(block, n - off);
      let slot = 0;
      for (let p = 0; p < N; p++) {
        const src = srcs[p]! + off * eb;
        if (p === r) {
          table[p] = src;
        } else {
          const stage = this.stageBase + slot++ * block * eb;
          copyAcross(this.u8[p]!, src, own, stage, len * eb);
          table[p] = stage;
        }
      }
      const out = dst + off * eb;
      this.reducer.reduce(dtype, op, out, table, len, N);
      if (push)
        for (let p = 0; p < N; p++) if (p !== r) copyAcross(own, out, this.u8[p]!, srcs[p]! + off * eb, len * eb);
    }
  }
}
