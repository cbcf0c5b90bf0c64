// The MPI Transport (src/comm/transport.ts) over Open MPI (libmpi.ts): ranks are the processes mpirun/srun started;
// there is no store and no token (mpirun did the rendezvous). Every collective is blocking, on the caller's thread.
// [Note: MPI bits] The group's contract is one result, bit for bit, whatever the transport: fp32 sums in rank order.
// MPI does not promise an order (and has no bf16), so only what is order-free goes to MPI's own reduction: f32 sum
// on 2 ranks (x0 + x1 is the same float either way). Everything else moves raw bytes with MPI and reduces in wasm
// in rank order, as the TCP transport does: all-reduce = all-to-all of chunks, reduce chunk r in rank order, then
// all-gather; reduce-scatter = all-to-all, reduce; all-gather and broadcast move bytes only.
// Agreement (transport.ts point 1): [Note: MPI agreement] below. The deadline (point 2): MPI calls block and cannot
// be interrupted, so a watchdog thread (watchdog.ts) prints the standard timeout message and ends the rank, and
// mpirun then ends the job. A lost peer (point 3) is not ours to see either: Open MPI aborts the whole job when a
// rank dies (the comm README's "MPI" section says what the user sees).
import { StateError } from '../../errors.js';
import { assertSameCollective, DESC_WORDS, decodeDesc, encodeDesc } from '../desc.js';
import { COMM_SLOT_BASE, COMM_SLOT_BYTES, Reducer } from '../reducer.js';
import type { CollectiveCall, TransferStats, Transport } from '../transport.js';
import type { CommBuffer } from '../types.js';
import type { LibMpi } from './libmpi.js';
import { Watchdog } from './watchdog.js';

const PAGE = 65536;
/** [Note: MPI pair exchange] payload bytes an all-reduce on 2 ranks may carry inside the agreement message. */
export const PAIR_PAYLOAD_BYTES = 4096;
const PAIR_BYTES = DESC_WORDS * 4 + PAIR_PAYLOAD_BYTES;
/** Staging for the reductions: at most this many bytes per round (segments of a larger buffer take turns). */
export const MPI_STAGING_BYTES = 32 << 20;

interface StagingMemory {
  readonly buffer: SharedArrayBuffer;
}
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => StagingMemory } }).WebAssembly
  .Memory;

export class MpiTransport implements Transport {
  readonly kind = 'mpi' as const;
  readonly rank: number;
  readonly worldSize: number;
  private readonly comm: number;
  private readonly memory: StagingMemory;
  private readonly reducer: Reducer;
  private readonly descs: Int32Array;
  private readonly dataOff: number;
  private readonly pairOff: number;
  private readonly pair: {
    mine: Int32Array;
    theirs: Int32Array;
    send: Uint8Array;
    recv: Uint8Array;
    sendF32: Float32Array;
    recvF32: Float32Array;
  };
  private readonly counts: Int32Array[];
  private broken: Error | null = null;
  private closed = false;

  private readonly stagingBytes: number;
  private readonly watchdog: Watchdog;

  /**
   * A duplicate of MPI_COMM_WORLD: collective, so every rank creates its groups in the same order.
   * `stagingBytes` (default MPI_STAGING_BYTES; tests use small ones to cross segment boundaries).
   */
  constructor(
    private readonly mpi: LibMpi,
    stagingBytes = MPI_STAGING_BYTES,
  ) {
    this.stagingBytes = Math.max(64, Math.floor(stagingBytes));
    this.comm = mpi.dup(mpi.world);
    this.rank = mpi.rank(this.comm);
    this.worldSize = mpi.size(this.comm);
    const N = this.worldSize;
    const descOff = COMM_SLOT_BASE + COMM_SLOT_BYTES;
    this.pairOff = descOff + (N + 3) * DESC_WORDS * 4;
    this.dataOff = Math.ceil((this.pairOff + 2 * PAIR_BYTES) / PAGE) * PAGE;
    const pages = Math.ceil((this.dataOff + this.stagingBytes) / PAGE);
    // A shared wasm memory: it never moves (MPI keeps addresses during the non-blocking agreement) and the comm
    // reduce kernels run on it.
    this.memory = new WasmMemory({ initial: pages, maximum: pages, shared: true });
    this.reducer = new Reducer(this.memory);
    const mb = this.memory.buffer,
      po = this.pairOff,
      at = po + DESC_WORDS * 4;
    this.pair = {
      mine: new Int32Array(mb, po, DESC_WORDS),
      theirs: new Int32Array(mb, po + PAIR_BYTES, DESC_WORDS),
      send: new Uint8Array(mb, po, PAIR_BYTES),
      recv: new Uint8Array(mb, po + PAIR_BYTES, PAIR_BYTES),
      sendF32: new Float32Array(mb, at, 1),
      recvF32: new Float32Array(mb, at + PAIR_BYTES, 1),
    };
    this.descs = new Int32Array(this.memory.buffer, descOff, (N + 3) * DESC_WORDS);
    this.counts = Array.from({ length: 4 }, () => new Int32Array(N));
    this.watchdog = new Watchdog(this.rank);
  }

  run(call: CollectiveCall): TransferStats {
    if (this.closed) throw new StateError(`rank ${this.rank}: the MPI process group is closed; no more collectives`);
    if (this.broken) throw this.broken;
    this.watchdog.arm(call);
    try {
      if (this.worldSize === 2) {
        const done = this.pairExchange(call);
        if (done) return done;
      } else this.agree(call);
      return this.move(call);
    } catch (e) {
      if (!this.broken) this.broken = e as Error;
      throw e;
    } finally {
      this.watchdog.disarm();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watchdog.stop();
    // Freeing a communicator is collective in spirit but local in Open MPI; a broken group keeps its comm (a
    // request may still be pending on it).
    if (!this.broken) this.mpi.free(this.comm);
  }

  /**
   * [Note: MPI agreement] One in-place MPI_Allreduce(MAX) of (desc, -desc) as ints: every rank called the same
   * collective exactly when the maxima equal its own words and their negations (max = min). Only then does the data
   * move; on a difference every rank sees it, gathers all descs and throws the mismatch naming the ranks. (Open
   * MPI's non-blocking collectives cost ~150 us here against ~0.5 us for a blocking one, so agreement is blocking;
   * the deadline is kept by the watchdog, see watchdog.ts.)
   */
  private agree(call: CollectiveCall): void {
    const N = this.worldSize;
    const own = this.descs.subarray(0, DESC_WORDS);
    const both = this.descs.subarray(DESC_WORDS, 3 * DESC_WORDS);
    encodeDesc(call.desc, own);
    for (let i = 0; i < DESC_WORDS; i++) {
      both[i] = own[i]!;
      both[DESC_WORDS + i] = -own[i]!;
    }
    this.mpi.allreduceInPlace(both, 2 * DESC_WORDS, this.mpi.int, this.mpi.max, this.comm);
    let same = true;
    for (let i = 0; i < DESC_WORDS; i++) same &&= both[i] === own[i] && both[DESC_WORDS + i] === -own[i]!;
    if (same) return;
    const all = this.descs.subarray(DESC_WORDS, (N + 1) * DESC_WORDS);
    this.mpi.allgather(own, DESC_WORDS, this.mpi.int, all, this.comm);
    for (let r = 0; r < N; r++)
      if (r !== this.rank) assertSameCollective(call.desc, this.rank, decodeDesc(all, r * DESC_WORDS), r);
    throw new StateError(`rank ${this.rank}: the MPI agreement check failed but every desc matched (a bug)`);
  }

  /**
   * [Note: MPI pair exchange] On 2 ranks every collective starts with one MPI_Sendrecv of (desc | payload) with the
   * peer, which is the agreement (the receive is posted for the largest message, so mismatched calls still meet).
   * A small all-reduce carries its data in it and is finished here, reduced locally in rank order (any dtype and
   * op, the same bits): one message each way, the latency of the call. Returns null when the data still has to move.
   */
  private pairExchange(call: CollectiveCall): TransferStats | null {
    const { desc } = call;
    const el = desc.dtype === 'f32' ? 4 : 2;
    const small = desc.op === 'all_reduce' && desc.count * el <= PAIR_PAYLOAD_BYTES;
    const bytes = DESC_WORDS * 4 + (small ? desc.count * el : 0);
    const p = this.pair;
    encodeDesc(desc, p.mine);
    const n = desc.count;
    const input = call.input!;
    // Views made once (the byte count travels separately); one float, the latency case, is copied by hand.
    if (small && n === 1 && el === 4) p.sendF32[0] = input[0]!;
    else if (small) p.send.set(bytesOf(input), DESC_WORDS * 4);
    const peer = 1 - this.rank;
    this.mpi.sendrecvBytes(p.send, bytes, p.recv, PAIR_BYTES, peer, 7, this.comm);
    // equal words are the same call; only a difference is decoded (and is a mismatch unless both are 'invalid')
    let same = true;
    for (let i = 0; i < DESC_WORDS; i++) same &&= p.mine[i] === p.theirs[i];
    if (!same) assertSameCollective(desc, this.rank, decodeDesc(p.theirs), peer);
    if (!small) return null;
    const x0 = this.rank === 0 ? p.sendF32[0]! : p.recvF32[0]!,
      x1 = this.rank === 0 ? p.recvF32[0]! : p.sendF32[0]!;
    if (n === 1 && el === 4 && desc.reduceOp === 'sum' && !Number.isNaN(x0) && !Number.isNaN(x1)) {
      // the f64 sum of two floats rounds to the same float as an f32 add (NaNs go to wasm: their payload bits)
      input[0] = Math.fround(x0 + x1);
    } else {
      const own = this.pairOff + DESC_WORDS * 4,
        other = this.pairOff + PAIR_BYTES + DESC_WORDS * 4;
      this.reducer.reduce(desc.dtype, desc.reduceOp, own, this.rank === 0 ? [own, other] : [other, own], n, 2);
      bytesOf(input).set(p.send.subarray(DESC_WORDS * 4, DESC_WORDS * 4 + n * el));
    }
    return { bytesSent: n * el, bytesReceived: n * el };
  }

  private move(call: CollectiveCall): TransferStats {
    const { desc, input, output } = call;
    const N = this.worldSize;
    const el = desc.dtype === 'f32' ? 4 : 2;
    const type = el === 4 ? this.mpi.u32 : this.mpi.u16;
    const n = desc.count;
    const ring = (bytes: number): TransferStats => ({ bytesSent: bytes, bytesReceived: bytes });
    switch (desc.op) {
      case 'barrier':
        this.mpi.barrier(this.comm);
        return ring(0);
      case 'broadcast':
        if (n > 0) this.mpi.bcast(input!, n, type, desc.root, this.comm);
        return this.rank === desc.root
          ? { bytesSent: n * el * (N - 1), bytesReceived: 0 }
          : { bytesSent: 0, bytesReceived: n * el };
      case 'all_gather': {
        if (n === 0) return ring(0);
        const inPlace =
          input!.buffer === output!.buffer && input!.byteOffset === output!.byteOffset + this.rank * n * el;
        this.mpi.allgather(inPlace ? null : input!, n, type, output!, this.comm);
        return ring(n * el * (N - 1));
      }
      case 'all_reduce':
        if (n === 0) return ring(0);
        if (desc.dtype === 'f32' && desc.reduceOp === 'sum' && N === 2) {
          this.mpi.allreduceInPlace(input!, n, this.mpi.float, this.mpi.sum, this.comm); // [Note: MPI bits]
          return ring(n * el);
        }
        this.allReduceInWasm(call, el, type);
        return ring(((2 * (N - 1)) / N) * n * el);
      case 'reduce_scatter':
        if (n > 0) this.reduceScatterInWasm(call, el, type);
        return ring((N - 1) * n * el);
      default:
        throw new StateError(`rank ${this.rank}: MPI transport cannot run ${desc.op}`);
    }
  }

  /** Segments of N pieces: all-to-all (rank j gets piece j from everyone), reduce in rank order, all-gather. */
  private allReduceInWasm(call: CollectiveCall, el: number, type: number): void {
    const { desc } = call;
    const buf = call.input!;
    const N = this.worldSize,
      r = this.rank;
    const maxChunk = Math.floor(this.stagingBytes / el / N);
    const [sc, sd, rc, rd] = this.counts as [Int32Array, Int32Array, Int32Array, Int32Array];
    for (let off = 0; off < desc.count; off += maxChunk * N) {
      const len = Math.min(desc.count - off, maxChunk * N);
      const chunk = Math.ceil(len / N);
      const piece = (j: number): number => Math.max(0, Math.min(chunk, len - j * chunk));
      for (let j = 0; j < N; j++) {
        sc[j] = piece(j);
        sd[j] = j * chunk;
        rc[j] = piece(r);
        rd[j] = j * chunk;
      }
      const seg = sub(buf, off, len);
      const stage = this.stage(el, N * chunk);
      this.mpi.alltoallv(seg, sc, sd, type, stage, rc, rd, this.comm);
      const mine = piece(r);
      if (mine > 0) this.reduceStaged(call, mine, chunk * el);
      for (let j = 0; j < N; j++) {
        rc[j] = piece(j);
        rd[j] = j * chunk;
      }
      this.mpi.allgatherv(sub(stage, 0, mine), mine, type, seg, rc, rd, this.comm);
    }
  }

  /** input [N, count] -> output [count]: all-to-all of chunk j to rank j, then reduce in rank order. */
  private reduceScatterInWasm(call: CollectiveCall, el: number, type: number): void {
    const { desc } = call;
    const input = call.input!,
      output = call.output!;
    const N = this.worldSize;
    const n = desc.count;
    const maxLen = Math.floor(this.stagingBytes / el / N);
    const [sc, sd, rc, rd] = this.counts as [Int32Array, Int32Array, Int32Array, Int32Array];
    for (let off = 0; off < n; off += maxLen) {
      const len = Math.min(n - off, maxLen);
      for (let j = 0; j < N; j++) {
        sc[j] = len;
        sd[j] = j * n + off;
        rc[j] = len;
        rd[j] = j * len;
      }
      const stage = this.stage(el, N * len);
      this.mpi.alltoallv(input, sc, sd, type, stage, rc, rd, this.comm);
      this.reduceStaged(call, len, len * el);
      new Uint8Array(output.buffer, output.byteOffset + off * el, len * el).set(
        new Uint8Array(this.memory.buffer, this.dataOff, len * el),
      );
    }
  }

  /** staging piece 0 = piece 0 (+) piece 1 (+) ... (+) piece N-1, `n` elements, pieces `stride` bytes apart. */
  private reduceStaged(call: CollectiveCall, n: number, stride: number): void {
    const srcs = Array.from({ length: this.worldSize }, (_, i) => this.dataOff + i * stride);
    this.reducer.reduce(call.desc.dtype, call.desc.reduceOp, this.dataOff, srcs, n, this.worldSize);
  }

  private stage(el: number, elements: number): CommBuffer {
    return el === 4
      ? new Float32Array(this.memory.buffer, this.dataOff, elements)
      : new Uint16Array(this.memory.buffer, this.dataOff, elements);
  }
}

function bytesOf(b: CommBuffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function sub(b: CommBuffer, off: number, len: number): CommBuffer {
  return b.subarray(off, off + len);
}
