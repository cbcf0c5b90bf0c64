// ProcessGroup over any Transport (src/comm/transport.ts): argument checks, sequence numbers, deadlines, the comm
// log, the *Async forms, and the group's lifecycle ('open' -> 'broken' after a timeout or a lost peer, or
// 'destroyed'). [Note: synchronous collectives] in types.ts.
import { CollectiveMismatchError, StateError } from '../errors.js';
import { CommLogImpl } from './log.js';
import type {
  CollectiveCall,
  CollectiveDesc,
  LinkInfo,
  PendingTransfer,
  TransferStats,
  Transport,
} from './transport.js';
import type { CollectiveOp, CommBuffer, CommDType, ProcessGroup, ReduceOp, Work } from './types.js';
import { checkChunked, checkReduceOp, checkRoot, checkSameKind, checkTimeout, resolveDtype } from './validate.js';

export interface ProcessGroupOptions {
  /** Per-collective timeout in ms (default 300 s): past it the collective throws CollectiveTimeoutError. */
  timeoutMs?: number;
  /**
   * TCP: how long joining waits for the rendezvous store and every peer (default: 60 s, or timeoutMs when that is
   * longer; ZEROTS_RENDEZVOUS_TIMEOUT_MS and `zerots launch --rdzv-timeout` override it). Threads: how long a
   * rank waits in initProcessGroup for the others to start (default timeoutMs).
   */
  rendezvousTimeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 300_000;

type GroupState = 'open' | 'broken' | 'destroyed';

interface Request {
  op: CollectiveOp;
  input: CommBuffer | null;
  output: CommBuffer | null;
  reduceOp: ReduceOp;
  dtype: CommDType;
  count: number;
  root: number;
  payloadBytes: number;
}

class WorkImpl implements Work {
  private error: unknown = null;
  private settled = false;

  constructor(
    private readonly pending: PendingTransfer | null,
    private readonly finish: (s: TransferStats | null, e: unknown) => void,
    error: unknown = null,
  ) {
    if (!pending) {
      this.settled = true;
      this.error = error;
    }
  }

  get done(): boolean {
    return this.settled || (this.pending?.done ?? true);
  }

  get settledAlready(): boolean {
    return this.settled;
  }

  /** Completes without throwing; the error stays for wait(). */
  settle(): void {
    if (this.settled) return;
    this.settled = true;
    try {
      this.finish(this.pending!.wait(), null);
    } catch (e) {
      this.error = e;
      this.finish(null, e);
    }
  }

  wait(): void {
    this.settle();
    if (this.error) throw this.error;
  }
}

export class Group implements ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly transport: 'threads' | 'tcp' | 'mpi';
  readonly log = new CommLogImpl();
  private readonly timeoutMs: number;
  private seq = 0;
  private state: GroupState = 'open';
  private brokenBy: unknown = null;
  private pending: WorkImpl[] = [];

  constructor(
    private readonly t: Transport,
    opts: ProcessGroupOptions = {},
  ) {
    this.rank = t.rank;
    this.worldSize = t.worldSize;
    this.transport = t.kind;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    checkTimeout(this.timeoutMs);
  }

  /** The transport's links to the peers (TCP: one per peer, over TCP or a Unix socket); empty for threads. */
  get links(): readonly LinkInfo[] {
    return this.t.links ?? [];
  }

  allReduce(buf: CommBuffer, op: ReduceOp = 'sum', dtype?: CommDType): void {
    this.call(this.allReduceReq(buf, op, dtype, 'allReduce'), false);
  }
  allReduceAsync(buf: CommBuffer, op: ReduceOp = 'sum', dtype?: CommDType): Work {
    return this.call(this.allReduceReq(buf, op, dtype, 'allReduceAsync'), true)!;
  }
  reduceScatter(output: CommBuffer, input: CommBuffer, op: ReduceOp = 'sum', dtype?: CommDType): void {
    this.call(this.reduceScatterReq(output, input, op, dtype, 'reduceScatter'), false);
  }
  reduceScatterAsync(output: CommBuffer, input: CommBuffer, op: ReduceOp = 'sum', dtype?: CommDType): Work {
    return this.call(this.reduceScatterReq(output, input, op, dtype, 'reduceScatterAsync'), true)!;
  }
  allGather(output: CommBuffer, input: CommBuffer, dtype?: CommDType): void {
    this.call(this.allGatherReq(output, input, dtype, 'allGather'), false);
  }
  allGatherAsync(output: CommBuffer, input: CommBuffer, dtype?: CommDType): Work {
    return this.call(this.allGatherReq(output, input, dtype, 'allGatherAsync'), true)!;
  }
  broadcast(buf: CommBuffer, root: number, dtype?: CommDType): void {
    this.call(this.broadcastReq(buf, root, dtype, 'broadcast'), false);
  }
  broadcastAsync(buf: CommBuffer, root: number, dtype?: CommDType): Work {
    return this.call(this.broadcastReq(buf, root, dtype, 'broadcastAsync'), true)!;
  }
  barrier(): void {
    this.call(
      () => ({
        op: 'barrier',
        input: null,
        output: null,
        reduceOp: 'sum',
        dtype: 'f32',
        count: 0,
        root: -1,
        payloadBytes: 0,
      }),
      false,
    );
  }

  destroy(): void {
    if (this.state === 'destroyed') return;
    for (const w of this.pending) w.settle();
    this.pending = [];
    this.state = 'destroyed';
    this.t.close();
  }

  // ---- requests (validated lazily inside call(), so a refused call still takes part in the mismatch check)

  private where(name: string): string {
    return `rank ${this.rank} ${name}`;
  }

  private checkBuf(buf: CommBuffer, what: string): void {
    this.t.checkBuffer?.(buf, what);
  }

  private allReduceReq(buf: CommBuffer, op: ReduceOp, dtype: CommDType | undefined, name: string): () => Request {
    return () => {
      const w = this.where(name);
      const dt = resolveDtype(buf, dtype, w);
      checkReduceOp(op, w);
      this.checkBuf(buf, `${w}: buf`);
      return {
        op: 'all_reduce',
        input: buf,
        output: buf,
        reduceOp: op,
        dtype: dt,
        count: buf.length,
        root: -1,
        payloadBytes: buf.byteLength,
      };
    };
  }

  private reduceScatterReq(
    output: CommBuffer,
    input: CommBuffer,
    op: ReduceOp,
    dtype: CommDType | undefined,
    name: string,
  ): () => Request {
    return () => {
      const w = this.where(name);
      checkSameKind(input, output, w);
      const dt = resolveDtype(input, dtype, w);
      checkReduceOp(op, w);
      checkChunked(input, output, this.worldSize, this.rank, w, 'input', 'output');
      this.checkBuf(input, `${w}: input`);
      this.checkBuf(output, `${w}: output`);
      return {
        op: 'reduce_scatter',
        input,
        output,
        reduceOp: op,
        dtype: dt,
        count: output.length,
        root: -1,
        payloadBytes: input.byteLength,
      };
    };
  }

  private allGatherReq(
    output: CommBuffer,
    input: CommBuffer,
    dtype: CommDType | undefined,
    name: string,
  ): () => Request {
    return () => {
      const w = this.where(name);
      checkSameKind(input, output, w);
      const dt = resolveDtype(input, dtype, w);
      checkChunked(output, input, this.worldSize, this.rank, w, 'output', 'input');
      this.checkBuf(input, `${w}: input`);
      this.checkBuf(output, `${w}: output`);
      return {
        op: 'all_gather',
        input,
        output,
        reduceOp: 'sum',
        dtype: dt,
        count: input.length,
        root: -1,
        payloadBytes: output.byteLength,
      };
    };
  }

  private broadcastReq(buf: CommBuffer, root: number, dtype: CommDType | undefined, name: string): () => Request {
    return () => {
      const w = this.where(name);
      const dt = resolveDtype(buf, dtype, w);
      checkRoot(root, this.worldSize, w);
      this.checkBuf(buf, `${w}: buf`);
      return {
        op: 'broadcast',
        input: buf,
        output: buf,
        reduceOp: 'sum',
        dtype: dt,
        count: buf.length,
        root,
        payloadBytes: buf.byteLength,
      };
    };
  }

  // ---- the common path

  private call(build: () => Request, async: boolean): Work | undefined {
    if (this.state === 'destroyed')
      throw new StateError(`rank ${this.rank}: the process group was destroyed; create a new one`);
    if (this.state === 'broken') {
      throw new StateError(
        `rank ${this.rank}: the process group is broken by an earlier error (${String(this.brokenBy)}); no further ` +
          `collectives are possible`,
      );
    }
    if (!this.t.queuesInOrder) this.flush();
    else this.pending = this.pending.filter((w) => !w.settledAlready);
    const seq = this.seq++;
    let req: Request;
    try {
      req = build();
    } catch (invalid) {
      // take part anyway, so that peers fail now with a mismatch naming this rank instead of timing out
      const desc: CollectiveDesc = { seq, op: 'invalid', dtype: 'f32', reduceOp: 'sum', count: 0, root: -1 };
      try {
        this.t.run(this.callOf(desc, null, null));
      } catch (e) {
        this.noteError(e);
      }
      throw invalid;
    }
    const desc: CollectiveDesc = {
      seq,
      op: req.op,
      dtype: req.dtype,
      reduceOp: req.reduceOp,
      count: req.count,
      root: req.root,
    };
    const t0 = performance.now();
    const call: CollectiveCall = {
      desc,
      input: req.input,
      output: req.output,
      deadline: t0 + this.timeoutMs,
      timeoutMs: this.timeoutMs,
    };
    const finish = (s: TransferStats | null, e: unknown): void => {
      if (s) this.log.record(req.op, s.bytesSent, s.bytesReceived, req.payloadBytes, (performance.now() - t0) / 1000);
      if (e) this.noteError(e);
    };
    if (async && this.t.start) {
      const w = new WorkImpl(this.t.start(call), finish);
      this.pending.push(w);
      return w;
    }
    let stats: TransferStats;
    try {
      stats = this.t.run(call);
    } catch (e) {
      finish(null, e);
      if (async) return new WorkImpl(null, finish, e);
      throw e;
    }
    finish(stats, null);
    return async ? new WorkImpl(null, finish) : undefined;
  }

  private callOf(desc: CollectiveDesc, input: CommBuffer | null, output: CommBuffer | null): CollectiveCall {
    return { desc, input, output, deadline: performance.now() + this.timeoutMs, timeoutMs: this.timeoutMs };
  }

  private flush(): void {
    const ws = this.pending;
    this.pending = [];
    for (const w of ws) w.settle();
  }

  private noteError(e: unknown): void {
    // a mismatch is seen by every rank at the same point, so the group stays usable; the others are not
    // (a transport may have moved part of the data when anything else failed: nothing after it can be trusted)
    if (e instanceof CollectiveMismatchError || this.state !== 'open') return;
    this.state = 'broken';
    this.brokenBy = e;
  }
}
