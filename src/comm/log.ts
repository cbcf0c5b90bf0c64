// The comm log: per collective, how many calls, bytes moved by this rank, payload bytes and seconds.
import type { CollectiveOp, CommLog, CommOpStats } from './types.js';

const OPS: readonly CollectiveOp[] = ['all_reduce', 'reduce_scatter', 'all_gather', 'broadcast', 'barrier'];

function zero(): CommOpStats {
  return { count: 0, bytesSent: 0, bytesReceived: 0, payloadBytes: 0, seconds: 0 };
}

export class CommLogImpl implements CommLog {
  private stats = {} as Record<CollectiveOp, CommOpStats>;

  constructor() {
    this.reset();
  }

  get byOp(): Readonly<Record<CollectiveOp, CommOpStats>> {
    return this.stats;
  }

  reset(): void {
    for (const op of OPS) this.stats[op] = zero();
  }

  record(op: CollectiveOp, bytesSent: number, bytesReceived: number, payloadBytes: number, seconds: number): void {
    const s = this.stats[op];
    s.count++;
    s.bytesSent += bytesSent;
    s.bytesReceived += bytesReceived;
    s.payloadBytes += payloadBytes;
    s.seconds += seconds;
  }

  totalBytesSent(): number {
    let t = 0;
    for (const op of OPS) t += this.stats[op].bytesSent;
    return t;
  }
}
