// The TCP Transport (src/comm/transport.ts) as the rank's main thread sees it: a comm helper thread (worker.ts)
// runs the sockets; run/start hand it the buffers (views of shared memory, read and written in place) and
// wait() blocks in Atomics.wait until the helper reports, or the deadline passes.
import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { type CollectiveTimeoutError, StateError } from '../../errors.js';
import { timeoutError } from '../desc.js';
import type { CollectiveCall, LinkInfo, PendingTransfer, Transport, TransferStats } from '../transport.js';
import type { CommBuffer } from '../types.js';
import { fromWire, toWire, type WireError } from '../wire-error.js';
import type { BufRef, OpResult } from './collective-runner.js';

export interface TcpTransportOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  /** the job's secret; every store client and peer must prove it (see [Note: tcp authentication], conn.ts). */
  token: string;
  /** where listeners bind and outgoing connections leave from (ZEROTS_BIND_ADDR). */
  bindAddr?: string;
  /** this node's identity (ZEROTS_NODE_ID); default hostname + boot id. */
  nodeId?: string;
  /** group generation within the job (successive groups must use 0, 1, 2, ... on every rank). */
  group?: number;
  /** how long setup waits for the store and the peers (default 60 s). */
  setupTimeoutMs?: number;
  /** same-machine peers over Unix domain sockets (default true; see [Note: local peers over Unix sockets], mesh.ts). */
  localSockets?: boolean;
  /** how long close() waits for the peers to hang up (default 2000 ms). */
  closeGraceMs?: number;
  /** silence the helper's log lines (refused connections, dropped peers). */
  quiet?: boolean;
}

function stage(buf: CommBuffer | null): { ref: BufRef | null; staged: CommBuffer | null } {
  if (!buf) return { ref: null, staged: null };
  if (buf.buffer instanceof SharedArrayBuffer)
    return { ref: { sab: buf.buffer, byteOffset: buf.byteOffset, length: buf.length }, staged: null };
  // Not shared memory: the helper thread cannot see it, so stage it through a shared copy.
  const sab = new SharedArrayBuffer(Math.max(buf.byteLength, 4));
  const staged =
    buf instanceof Float32Array ? new Float32Array(sab, 0, buf.length) : new Uint16Array(sab, 0, buf.length);
  staged.set(buf as never);
  return { ref: { sab, byteOffset: 0, length: buf.length }, staged };
}

function overlaps(a: CommBuffer | null, b: CommBuffer | null): boolean {
  return (
    !!a &&
    !!b &&
    a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}

export class TcpTransport implements Transport {
  readonly kind = 'tcp' as const;
  readonly queuesInOrder = true;
  private nextId = 1;
  private readonly results = new Map<number, OpResult>();
  private broken: Error | null = null;
  private closed = false;

  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    readonly links: readonly LinkInfo[],
    private readonly port: MessagePort,
    private readonly ctl: Int32Array,
    private readonly closeGraceMs: number,
  ) {}

  /** Starts the helper thread and joins the group (rendezvous + mesh); resolves once every peer is connected. */
  static async create(o: TcpTransportOptions): Promise<TcpTransport> {
    const ctl = new Int32Array(new SharedArrayBuffer(16));
    ctl[2] = -1;
    const { port1, port2 } = new MessageChannel();
    const init = {
      rank: o.rank,
      worldSize: o.worldSize,
      masterAddr: o.masterAddr,
      masterPort: o.masterPort,
      token: o.token,
      bindAddr: o.bindAddr,
      nodeId: o.nodeId,
      group: o.group ?? 0,
      setupTimeoutMs: o.setupTimeoutMs ?? 60_000,
      ctl: ctl.buffer,
      port: port2,
      quiet: o.quiet ?? false,
      closeGraceMs: o.closeGraceMs ?? 2000,
      localSockets: o.localSockets ?? true,
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init, transferList: [port2] });
    const links = await new Promise<LinkInfo[]>((resolve, reject) => {
      worker.once('message', (m: { type: string; error?: WireError; links?: LinkInfo[] }) =>
        m.type === 'ready' ? resolve(m.links ?? []) : reject(fromWire(m.error!)),
      );
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new StateError(`the TCP comm helper thread of rank ${o.rank} exited (code ${code}) during setup`)),
      );
    });
    worker.removeAllListeners();
    // Seen only while this thread is not blocked; a blocked wait() ends by its deadline instead.
    worker.on('error', (e) => {
      console.warn(`zerots rank ${o.rank}: TCP comm helper failed: ${e.message}`);
    });
    // A finished main thread must not be kept alive by its helper thread (peers then see this rank leave).
    worker.unref();
    port1.unref();
    return new TcpTransport(o.rank, o.worldSize, links, port1, ctl, init.closeGraceMs);
  }

  run(call: CollectiveCall): TransferStats {
    return this.start(call).wait();
  }

  start(call: CollectiveCall): PendingTransfer {
    if (this.closed) throw new StateError(`rank ${this.rank}: the TCP process group is closed; no more collectives`);
    if (this.broken) throw this.broken;
    const id = this.nextId++;
    const input = stage(call.input);
    const output = call.output === call.input ? input : stage(call.output);
    this.port.postMessage({
      type: 'op',
      id,
      desc: call.desc,
      input: input.ref,
      output: output.ref,
      inPlace: overlaps(call.input, call.output),
    });
    return new TcpPending(this, id, call, output.staged);
  }

  /** The helper's result for op `id`, if it has arrived (non-blocking). */
  poll(id: number): OpResult | undefined {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const r = m.message as OpResult;
      this.results.set(r.id, r);
    }
    const r = this.results.get(id);
    if (r) this.results.delete(id);
    return r;
  }

  /** The helper's report counter; read it before poll(), then sleep(seen) cannot miss a report. */
  signal(): number {
    return Atomics.load(this.ctl, 0);
  }

  sleep(seen: number, ms: number): void {
    Atomics.wait(this.ctl, 0, seen, ms);
  }

  settle(r: OpResult): Error | null {
    if (!r.error) return null;
    const e = fromWire(r.error);
    if (!this.broken) this.broken = e; // a failed collective leaves the group unusable (transport.ts, point 3)
    return e;
  }

  timeout(call: CollectiveCall, startedAt: number): CollectiveTimeoutError {
    const mask = Atomics.load(this.ctl, 1);
    const seq = Atomics.load(this.ctl, 2);
    const peers = Array.from({ length: this.worldSize }, (_, p) => p).filter(
      (p) => p !== this.rank && (mask & (1 << (p & 31))) !== 0,
    );
    const what =
      seq !== call.desc.seq
        ? `the earlier collective at sequence number ${seq} to finish`
        : peers.length
          ? `rank${peers.length > 1 ? 's' : ''} ${peers.join(', ')}`
          : 'its own sends to drain';
    const e = timeoutError(call.desc, this.rank, Math.round(call.deadline - startedAt), what);
    if (!this.broken) {
      this.broken = e;
      this.port.postMessage({
        type: 'abort',
        error: toWire(e),
      });
    }
    return e;
  }

  /**
   * Leaves the group: tells the peers (they see this rank as lost only if they still wait on it), and blocks up
   * to `closeGraceMs` (default 2 s) until they hung up too, so no byte in flight is lost when this process exits.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.postMessage({ type: 'close' });
    const until = performance.now() + this.closeGraceMs + 500;
    while (Atomics.load(this.ctl, 3) === 0 && performance.now() < until) Atomics.wait(this.ctl, 3, 0, 100);
  }
}

class TcpPending implements PendingTransfer {
  private result: TransferStats | null = null;
  private error: Error | null = null;
  private readonly startedAt = performance.now();

  constructor(
    private readonly t: TcpTransport,
    private readonly id: number,
    private readonly call: CollectiveCall,
    private readonly staged: CommBuffer | null,
  ) {}

  get done(): boolean {
    if (!this.result && !this.error) this.take();
    return this.result !== null || this.error !== null;
  }

  private take(): boolean {
    const r = this.t.poll(this.id);
    if (!r) return false;
    this.error = this.t.settle(r);
    if (!this.error) {
      this.result = r.stats!;
      if (this.staged) (this.call.output as CommBuffer).set(this.staged as never);
    }
    return true;
  }

  wait(): TransferStats {
    for (;;) {
      if (this.result) return this.result;
      if (this.error) throw this.error;
      const seen = this.t.signal();
      if (this.take()) continue;
      const left = this.call.deadline - performance.now();
      if (left <= 0) {
        this.error = this.t.timeout(this.call, this.startedAt);
        throw this.error;
      }
      this.t.sleep(seen, Math.min(left, 1000));
    }
  }
}
