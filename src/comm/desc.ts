// Collective descriptors: encoding into int32 words (control blocks, wire headers), the always-on agreement check
// and the standard error messages every transport uses, so that threads and TCP fail with the same words.
import { CollectiveMismatchError, CollectiveTimeoutError, PeerLostError } from '../errors.js';
import type { CollectiveDesc } from './transport.js';
import type { CollectiveOp, CommDType, ReduceOp } from './types.js';

/** int32 words one encoded CollectiveDesc takes. */
export const DESC_WORDS = 8;

const OPS: readonly (CollectiveOp | 'invalid')[] = [
  'all_reduce',
  'reduce_scatter',
  'all_gather',
  'broadcast',
  'barrier',
  'invalid',
];
const DTYPES: readonly CommDType[] = ['f32', 'bf16', 'f16'];
const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'avg', 'max'];

/** Writes desc into words[at .. at + DESC_WORDS). count must fit 2^53 (stored as two words). */
export function encodeDesc(desc: CollectiveDesc, words: Int32Array, at = 0): void {
  words[at] = desc.seq | 0;
  words[at + 1] = OPS.indexOf(desc.op);
  words[at + 2] = DTYPES.indexOf(desc.dtype);
  words[at + 3] = REDUCE_OPS.indexOf(desc.reduceOp);
  words[at + 4] = desc.count % 0x40000000;
  words[at + 5] = Math.floor(desc.count / 0x40000000);
  words[at + 6] = desc.root;
  words[at + 7] = 0x5eed; // marks a written slot
}

export function decodeDesc(words: Int32Array, at = 0): CollectiveDesc {
  return {
    seq: words[at]!,
    op: OPS[words[at + 1]!] ?? 'invalid',
    dtype: DTYPES[words[at + 2]!] ?? 'f32',
    reduceOp: REDUCE_OPS[words[at + 3]!] ?? 'sum',
    count: words[at + 4]! + words[at + 5]! * 0x40000000,
    root: words[at + 6]!,
  };
}

/** `all_reduce(count=10, f32, sum)`: how a call is named in messages. */
export function describe(d: CollectiveDesc): string {
  if (d.op === 'invalid') return 'a call its own arguments check refused';
  if (d.op === 'barrier') return 'barrier()';
  const parts = [`count=${d.count}`, d.dtype];
  if (d.op === 'all_reduce' || d.op === 'reduce_scatter') parts.push(d.reduceOp);
  if (d.op === 'broadcast') parts.push(`root=${d.root}`);
  return `${d.op}(${parts.join(', ')})`;
}

function same(a: CollectiveDesc, b: CollectiveDesc): boolean {
  return (
    a.op !== 'invalid' &&
    a.seq === b.seq &&
    a.op === b.op &&
    a.dtype === b.dtype &&
    a.reduceOp === b.reduceOp &&
    a.count === b.count &&
    a.root === b.root
  );
}

/** Throws CollectiveMismatchError naming both ranks and calls unless `peer` is the same collective as `own`. */
export function assertSameCollective(
  own: CollectiveDesc,
  ownRank: number,
  peer: CollectiveDesc,
  peerRank: number,
): void {
  if (same(own, peer) || (own.op === 'invalid' && peer.op === 'invalid' && own.seq === peer.seq)) return;
  throw new CollectiveMismatchError(
    `collective mismatch at sequence number ${own.seq}: rank ${ownRank} called ${describe(own)} but rank ${peerRank} ` +
      `called ${describe(peer)}${peer.seq !== own.seq ? ` (at its sequence number ${peer.seq})` : ''}; every rank ` +
      'must call the same collectives in the same order with the same sizes, dtypes, reduce ops and roots',
  );
}

export function timeoutError(
  d: CollectiveDesc,
  rank: number,
  timeoutMs: number,
  waitingFor: string,
): CollectiveTimeoutError {
  return new CollectiveTimeoutError(
    `collective timeout: rank ${rank} waited more than ${timeoutMs} ms in ${describe(d)} (sequence number ${d.seq}) ` +
      `for ${waitingFor}; raise the process group's timeoutMs if the peers are just slow`,
    d.op,
    rank,
    d.seq,
  );
}

export function peerLostError(d: CollectiveDesc | null, rank: number, lostRank: number, why: string): PeerLostError {
  const where = d ? `in ${describe(d)} (sequence number ${d.seq})` : 'while setting up the process group';
  return new PeerLostError(`peer lost: rank ${lostRank} ${why}; rank ${rank} was waiting for it ${where}`, lostRank);
}
