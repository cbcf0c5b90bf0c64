// The few collectives a save or load needs, over 16-bit words (dtype 'bf16' only labels them: broadcast and
// all-gather copy bits, so hashes and byte counts cross exactly). A rank that calls a checkpoint collective while
// another rank is in a training collective fails with the transport's CollectiveMismatchError on both; the
// checkpoint side says what it means.
import { CollectiveMismatchError, CheckpointError } from '../errors.js';
import type { ShardedState } from './types.js';

/** Words per rank in an agreement: status, code, 4 words of a byte count, 16 words of a sha256. */
export const SLOT = 24;

export function collective<T>(what: string, rank: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CollectiveMismatchError)
      throw new CheckpointError(
        `${what} is collective: every rank must call it at the same point of the run (rank ${rank} did, at least one ` +
          `other rank was in another collective): ${e.message}`,
      );
    if (e instanceof Error) e.message = `${what}, rank ${rank}: ${e.message}`;
    throw e;
  }
}

/** Rank 0's `words` on every rank. */
export function broadcastWords(st: ShardedState, what: string, words: readonly number[]): number[] {
  const s = st.scratch(words.length * 2);
  try {
    const v = s.u16.subarray(0, words.length);
    if (st.group.rank === 0) v.set(words);
    collective(what, st.group.rank, () => st.group.broadcast(v, 0, 'bf16'));
    return Array.from(v);
  } finally {
    s.free();
  }
}

/**
 * Every rank says whether its local part succeeded (one all-gather, so no rank is left waiting): throws this rank's
 * own error, else the rank that failed first, as `failed(rank)` describes it.
 */
export function agreeAllOk(
  st: ShardedState,
  what: string,
  localError: unknown,
  failed: (rank: number) => string,
): void {
  const status = new Uint16Array(SLOT);
  status[0] = localError === null ? 1 : 2;
  const slots = allGatherSlots(st, what, status);
  if (localError !== null) throw localError;
  const r = slots.findIndex((s) => s[0] !== 1);
  if (r >= 0) throw new CheckpointError(failed(r));
}

/** Every rank's SLOT words, in rank order. */
export function allGatherSlots(st: ShardedState, what: string, mine: Uint16Array): Uint16Array[] {
  const N = st.group.worldSize;
  const s = st.scratch(N * SLOT * 2);
  try {
    const all = s.u16.subarray(0, N * SLOT);
    const own = all.subarray(st.group.rank * SLOT, (st.group.rank + 1) * SLOT);
    own.set(mine.subarray(0, SLOT));
    collective(what, st.group.rank, () => st.group.allGather(all, own, 'bf16'));
    return Array.from({ length: N }, (_, r) => all.slice(r * SLOT, (r + 1) * SLOT));
  } finally {
    s.free();
  }
}

export function packNumber(out: Uint16Array, at: number, n: number): void {
  for (let i = 0; i < 4; i++) out[at + i] = Math.floor(n / 2 ** (16 * i)) % 65536;
}

export function unpackNumber(w: Uint16Array | readonly number[], at: number): number {
  let n = 0;
  for (let i = 0; i < 4; i++) n += w[at + i]! * 2 ** (16 * i);
  return n;
}

export function packHex(out: Uint16Array, at: number, hex: string): void {
  for (let i = 0; i < 16; i++) out[at + i] = Number.parseInt(hex.slice(i * 4, i * 4 + 4), 16);
}

export function unpackHex(w: Uint16Array, at: number): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += w[at + i]!.toString(16).padStart(4, '0');
  return s;
}

/** A 32-bit FNV-1a hash of a string, as two words (to check every rank saves the same tag). */
export function hashWords(s: string): [number, number] {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return [h & 0xffff, h >>> 16];
}
