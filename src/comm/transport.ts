// The internal transport interface: what a ProcessGroup (src/comm/group.ts) needs from a way of moving bytes
// between ranks. Two implementations: src/comm/threads/ (ranks are worker_threads sharing their device memories)
// and src/comm/tcp/ (ranks are processes, ring collectives over sockets).
//
// Division of labour:
// - The group validates arguments (dtypes, lengths, the partition contract of src/comm/types.ts), numbers every
//   collective (`seq`, identical on all ranks), computes the deadline from the configured timeout, keeps the
//   CommLog, and provides the *Async forms (eagerly through `run`, or through `start` when the transport has it).
// - The transport moves and reduces the data, and MUST:
//   1. check that every peer runs the same collective at the same seq: compare the peers' CollectiveDesc with
//      its own (`assertSameCollective` in src/comm/desc.ts throws the standard CollectiveMismatchError naming both
//      ranks and both calls; `encodeDesc`/`decodeDesc` put a desc into 8 int32 words for a header/control block).
//      When a rank's own call is invalid the group still calls `run` with desc.op = 'invalid' so that peers fail
//      at once with a mismatch instead of waiting for the timeout; the transport then throws the mismatch too.
//   2. honour `deadline` (a performance.now() value in ms): past it throw CollectiveTimeoutError(op, rank, seq)
//      (`timeoutError` in src/comm/desc.ts builds the standard message);
//   3. notice a lost peer (exited, killed, threw, closed its connection, or gave up on this collective after an
//      error) within 10 s and throw PeerLostError naming that rank; once a transport has thrown a timeout or
//      PeerLostError it is broken: later calls throw at once (the group also refuses them);
//   4. reduce in the documented order ([Note: reduction order] in src/comm/types.ts): element i of the result is
//      ((x0[i] + x1[i]) + x2[i]) + ... in fp32, rounded once to the 16-bit dtype; 'avg' divides that fp32 sum by
//      worldSize before rounding; 'max' is the fp32 maximum. Every rank gets the same bits. A ring may reduce
//      out of order only if it then produces exactly these bits (in practice: gather, then reduce in rank order).
//      src/comm/reduce-js.ts has the reference reducer (`reduceInto`) usable on any typed arrays.
//
// Buffers per op (all CommBuffer views; `count` is desc.count):
//   all_reduce      input === output = buf                      (count elements)
//   reduce_scatter  input: worldSize * count, output: count     (output may be the view of input's chunk `rank`)
//   all_gather      input: count, output: worldSize * count     (input may be the view of output's chunk `rank`)
//   broadcast       input === output = buf                      (count elements; root sends, others receive)
//   barrier         input = output = null, count 0
import type { CollectiveOp, CommBuffer, CommDType, ReduceOp } from './types.js';

/** What a collective is; identical on every rank for a well-formed program. */
export interface CollectiveDesc {
  /** 0, 1, 2, ... per process group, in call order. */
  readonly seq: number;
  /** 'invalid' when this rank's arguments were refused (see point 1 above). */
  readonly op: CollectiveOp | 'invalid';
  readonly dtype: CommDType;
  /** 'sum' for the ops that do not reduce. */
  readonly reduceOp: ReduceOp;
  /** Elements per rank: all_reduce/broadcast buf.length, reduce_scatter output.length, all_gather input.length. */
  readonly count: number;
  /** broadcast root; -1 for the other ops. */
  readonly root: number;
}

export interface CollectiveCall {
  readonly desc: CollectiveDesc;
  readonly input: CommBuffer | null;
  readonly output: CommBuffer | null;
  /** performance.now() in ms after which the transport gives up with CollectiveTimeoutError. */
  readonly deadline: number;
  /** The timeout that gave the deadline, for messages. */
  readonly timeoutMs: number;
}

/** Bytes this rank moved for one collective (sent to / received from peers, or copied from peers' memory). */
export interface TransferStats {
  bytesSent: number;
  bytesReceived: number;
}

/** A collective started in the background (optional transport feature). */
export interface PendingTransfer {
  /** Blocks until done; throws the collective's error. Called at most once by the group. */
  wait(): TransferStats;
  /** True once wait() would not block. */
  readonly done: boolean;
}

/** One link of a transport that has them (TCP): to which peer, over what, between which addresses. */
export interface LinkInfo {
  peer: number;
  via: 'tcp' | 'unix';
  local: string;
  remote: string;
}

export interface Transport {
  readonly kind: 'threads' | 'tcp' | 'mpi';
  readonly rank: number;
  readonly worldSize: number;
  /** Optional: the links to the peers (TCP), for diagnostics and tests. */
  readonly links?: readonly LinkInfo[];
  /**
   * Optional: throws (ShapeError) when `buf` cannot be used by this transport, e.g. is not a view of the rank's
   * device memory. The group calls it while validating, so a refused buffer fails on all ranks at once.
   */
  checkBuffer?(buf: CommBuffer, what: string): void;
  /** Runs one collective to completion, blocking the calling thread. */
  run(call: CollectiveCall): TransferStats;
  /**
   * Optional: starts a collective that progresses without the caller (e.g. on a helper thread). The group calls
   * run/start in seq order; unless `queuesInOrder` is true it waits for every earlier PendingTransfer before it
   * calls run/start again. With `queuesInOrder` the transport itself completes queued collectives in seq order.
   */
  start?(call: CollectiveCall): PendingTransfer;
  readonly queuesInOrder?: boolean;
  /** Leaves the group (idempotent); peers still waiting on this rank then see it as lost. */
  close(): void;
}
