// What one rank sends and receives for each collective on the TCP mesh (pure; collective-runner.ts executes it).
// See [Note: tcp reduction order] in reduce.ts for why reductions gather raw contributions.
import type { CollectiveDesc } from '../transport.js';

/** Data streams of a collective; a DATA frame's `op` byte names its stream. */
export enum Stream {
  /** a rank's raw contribution to the receiver's chunk (reduce_scatter, all_reduce phase 1) */
  Contrib = 1,
  /** the sender's finished chunk, copied into the receiver's output (all_gather, all_reduce phase 2) */
  Gather = 2,
  /** the root's buffer (broadcast) */
  Bcast = 3,
}

export const DTYPE_CODE = { f32: 1, bf16: 2, f16: 3 } as const;

export function elemBytes(desc: CollectiveDesc): number {
  return desc.dtype === 'f32' ? 4 : 2;
}

/** Element chunks [start, start + len) of rank r: equal for reduce_scatter/all_gather, near-equal for all_reduce. */
export function chunks(desc: CollectiveDesc, worldSize: number): { start: number[]; len: number[] } {
  const start: number[] = [];
  const len: number[] = [];
  if (desc.op === 'all_reduce') {
    const base = Math.floor(desc.count / worldSize);
    const rem = desc.count % worldSize;
    let at = 0;
    for (let r = 0; r < worldSize; r++) {
      const n = base + (r < rem ? 1 : 0);
      start.push(at);
      len.push(n);
      at += n;
    }
  } else {
    for (let r = 0; r < worldSize; r++) {
      start.push(r * desc.count);
      len.push(desc.count);
    }
  }
  return { start, len };
}

/** A byte region this rank expects from one peer on one stream. */
export interface Region {
  stream: Stream;
  peer: number;
  /** bytes expected */
  size: number;
  /** bytes received so far (frames must arrive in order: offset === got) */
  got: number;
  /** where: 'scratch' = the peer's contribution buffer, 'output' = the op's output at byte `base` */
  into: 'scratch' | 'output';
  base: number;
}

/** The regions rank `rank` receives in `desc`. */
export function receivePlan(desc: CollectiveDesc, rank: number, worldSize: number): Region[] {
  const eb = elemBytes(desc);
  const c = chunks(desc, worldSize);
  const out: Region[] = [];
  for (let p = 0; p < worldSize; p++) {
    if (p === rank) continue;
    const r = (stream: Stream, size: number, into: Region['into'], base: number) =>
      out.push({ stream, peer: p, size, got: 0, into, base });
    switch (desc.op) {
      case 'reduce_scatter':
        r(Stream.Contrib, c.len[rank]! * eb, 'scratch', 0);
        break;
      case 'all_gather':
        r(Stream.Gather, c.len[p]! * eb, 'output', c.start[p]! * eb);
        break;
      case 'all_reduce':
        r(Stream.Contrib, c.len[rank]! * eb, 'scratch', 0);
        r(Stream.Gather, c.len[p]! * eb, 'output', c.start[p]! * eb);
        break;
      case 'broadcast':
        if (p === desc.root) r(Stream.Bcast, desc.count * eb, 'output', 0);
        break;
      default:
        break; // barrier / invalid: the op headers are the whole message
    }
  }
  return out;
}
