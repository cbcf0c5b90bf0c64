// The communication contract. comm/ knows nothing of tensors: buffers are typed-array views of shared memory
// (in practice a rank's device memory, a SharedArrayBuffer-backed WebAssembly.Memory).
//
// [Note: synchronous collectives] Collectives block the calling thread until done (Atomics.wait, which Node allows
// on the main thread too), so forward/backward/step stay synchronous code. The *Async forms start the collective
// and return a Work whose wait() blocks until it is complete; a transport may progress it on a helper thread (true
// overlap) or when wait() is called. Between start and wait() the caller must not touch the buffers.
//
// [Note: partition contract] reduceScatter and allGather work on equal chunks: input (reduceScatter) or output
// (allGather) has exactly worldSize * chunk elements, and rank r owns elements [r*chunk, (r+1)*chunk). Padding a
// flat buffer to a multiple of worldSize is the caller's job. In-place use is allowed: allGather's input may be the
// view of output's own chunk r, and reduceScatter's output may be the view of input's chunk r.
//
// [Note: reduction order] Every rank computes the same result bit for bit. Sums of element i are accumulated in
// fp32 in rank order 0, 1, ..., N-1 ((x0 + x1) + x2 ...), also for bf16/f16 data (converted to fp32, summed, rounded
// to nearest even once); 'avg' divides the fp32 sum by N before rounding.

export type CommDType = 'f32' | 'bf16' | 'f16';
export type ReduceOp = 'sum' | 'avg' | 'max';
/** Float32Array for 'f32'; Uint16Array holding bf16 or f16 bits for the 16-bit dtypes. */
export type CommBuffer = Float32Array | Uint16Array;

export interface Work {
  /** Blocks until the collective is complete; throws the collective's error, if any. Idempotent. */
  wait(): void;
  readonly done: boolean;
}

export type CollectiveOp = 'all_reduce' | 'reduce_scatter' | 'all_gather' | 'broadcast' | 'barrier';

export interface CommOpStats {
  count: number;
  /** bytes this rank sent and received over the wire (or copied from/to peers' memory), by the algorithm. */
  bytesSent: number;
  bytesReceived: number;
  /** payload bytes of the buffers handed in (the logical size), summed. */
  payloadBytes: number;
  /** wall time spent inside the collective (from start to completion), seconds. */
  seconds: number;
}

export interface CommLog {
  readonly byOp: Readonly<Record<CollectiveOp, CommOpStats>>;
  reset(): void;
  totalBytesSent(): number;
}

export interface ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly transport: 'threads' | 'tcp' | 'mpi';
  readonly log: CommLog;
  /** The links to the peers where the transport has them (TCP: over TCP or a Unix socket, and the addresses). */
  readonly links?: readonly { peer: number; via: 'tcp' | 'unix'; local: string; remote: string }[];

  /** dtype defaults to 'f32' for Float32Array; a Uint16Array needs 'bf16' or 'f16'. */
  allReduce(buf: CommBuffer, op?: ReduceOp, dtype?: CommDType): void;
  allReduceAsync(buf: CommBuffer, op?: ReduceOp, dtype?: CommDType): Work;
  /** input: worldSize * output.length elements; rank r receives the reduction of chunk r. */
  reduceScatter(output: CommBuffer, input: CommBuffer, op?: ReduceOp, dtype?: CommDType): void;
  reduceScatterAsync(output: CommBuffer, input: CommBuffer, op?: ReduceOp, dtype?: CommDType): Work;
  /** output: worldSize * input.length elements; chunk r is rank r's input. */
  allGather(output: CommBuffer, input: CommBuffer, dtype?: CommDType): void;
  allGatherAsync(output: CommBuffer, input: CommBuffer, dtype?: CommDType): Work;
  broadcast(buf: CommBuffer, root: number, dtype?: CommDType): void;
  broadcastAsync(buf: CommBuffer, root: number, dtype?: CommDType): Work;
  barrier(): void;
  /** Leaves the group; later calls throw. */
  destroy(): void;
}
