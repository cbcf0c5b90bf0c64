// The control block of a threads world: one SharedArrayBuffer, created by the launcher before the workers start
// and given to every rank and to the launcher's main thread (which marks ranks that died). It holds
//   - the barrier (a generation counter and an arrival counter),
//   - one status word per rank (alive, or why it is gone),
//   - per rank two descriptor slots (by seq parity) where each rank publishes the collective it is in and the byte
//     offsets of its buffers in its own device memory. Two slots suffice because a rank can be at most one
//     collective ahead of a peer: every collective starts with a barrier.
// [Note: barrier] Spin briefly (cheap when ranks <= cores, ~0.3 us a crossing), then futex-wait on the generation
// word in slices, checking the deadline and the peers' status words between slices: a rank that dies is marked by
// the launcher, which also notifies the generation word, so waiting peers notice at once (and within a slice at
// worst), never hang.
import { DESC_WORDS } from '../desc.js';

export const GEN = 0;
export const ARRIVED = 1;
/** rank + 1 of the first rank that failed (threw, exited, or gave up on a collective by timeout); 0 = none. */
const ROOT = 2;
/** How many ranks are (about to be) asleep in Atomics.wait on GEN: the last arriver notifies only then. */
const SLEEPERS = 3;
const STATUS_BASE = 4;
/** int32 words of one descriptor slot: the desc, then input and output byte offsets. */
export const SLOT_WORDS = DESC_WORDS + 4;
export const SLOT_IN = DESC_WORDS;
export const SLOT_OUT = DESC_WORDS + 1;

/** Why a rank is gone. 0 = alive. */
export const Status = {
  alive: 0,
  exited: 1, // its thread exited or was terminated
  threw: 2, // its function threw
  abandoned: 3, // it gave up on a collective (timeout or a peer lost) and left the group
  destroyed: 4, // it called destroy()
  finished: 5, // its function returned
} as const;

const STATUS_WHY: Record<number, string> = {
  1: 'exited (its thread ended or was terminated)',
  2: 'threw an error',
  3: 'left the group after its own collective error (timeout or lost peer)',
  4: 'destroyed its process group',
  5: 'finished its function without joining this collective',
};

export function statusWhy(code: number): string {
  return STATUS_WHY[code] ?? `has status ${code}`;
}

export function controlWords(worldSize: number): number {
  return STATUS_BASE + worldSize + 2 * worldSize * SLOT_WORDS;
}

export function createControlBlock(worldSize: number): SharedArrayBuffer {
  return new SharedArrayBuffer(controlWords(worldSize) * 4);
}

export function slotAt(worldSize: number, rank: number, parity: number): number {
  return STATUS_BASE + worldSize + (rank * 2 + parity) * SLOT_WORDS;
}

/**
 * Marks `rank` gone (first reason wins) and wakes every waiting peer. Safe from any thread. `rootCause`: this rank
 * failed by itself (threw, exited, timed out), as opposed to leaving because of another rank's failure or finishing.
 */
export function markRank(
  control: SharedArrayBuffer,
  rank: number,
  status: number,
  rootCause = status === Status.threw || status === Status.exited,
): void {
  const ctl = new Int32Array(control);
  if (rootCause) Atomics.compareExchange(ctl, ROOT, 0, rank + 1);
  Atomics.compareExchange(ctl, STATUS_BASE + rank, Status.alive, status);
  Atomics.notify(ctl, GEN);
}

export function rankStatus(ctl: Int32Array, rank: number): number {
  return Atomics.load(ctl, STATUS_BASE + rank);
}

/** Thrown by Barrier.arrive; the transport turns it into the named error. */
export class BarrierFailure {
  constructor(
    readonly kind: 'timeout' | 'lost',
    readonly lostRank: number,
    readonly status: number,
  ) {}
}

export class Barrier {
  constructor(
    private readonly ctl: Int32Array,
    private readonly rank: number,
    private readonly worldSize: number,
    /** Atomics.load iterations before sleeping. */
    private readonly spinIterations: number,
    /** Longest single futex sleep in ms (how often a sleeping rank rechecks peers when nobody notifies). */
    private readonly sliceMs = 250,
  ) {}

  /** Blocks until every rank arrived; throws BarrierFailure on deadline (performance.now() ms) or a lost peer. */
  arrive(deadline: number): void {
    const ctl = this.ctl;
    const g = Atomics.load(ctl, GEN);
    if (Atomics.add(ctl, ARRIVED, 1) === this.worldSize - 1) {
      Atomics.store(ctl, ARRIVED, 0);
      Atomics.add(ctl, GEN, 1);
      // a sleeper registers before it re-checks GEN, so either it sees the new generation or we see it here
      if (Atomics.load(ctl, SLEEPERS) > 0) Atomics.notify(ctl, GEN);
      return;
    }
    for (let k = this.spinIterations; k > 0; k--) if (Atomics.load(ctl, GEN) !== g) return;
    for (;;) {
      if (Atomics.load(ctl, GEN) !== g) return;
      this.checkPeers(g);
      const left = deadline - performance.now();
      if (left <= 0) {
        if (Atomics.load(ctl, GEN) !== g) return;
        throw new BarrierFailure('timeout', -1, 0);
      }
      Atomics.add(ctl, SLEEPERS, 1);
      if (Atomics.load(ctl, GEN) === g) Atomics.wait(ctl, GEN, g, Math.min(left, this.sliceMs));
      Atomics.sub(ctl, SLEEPERS, 1);
    }
  }

  /**
   * Throws BarrierFailure('lost') when a peer is gone and the barrier generation `g` is still open, naming the
   * root cause (the first rank that failed by itself) rather than a peer that merely gave up because of it.
   */
  checkPeers(g: number): void {
    let gone = -1;
    for (let p = 0; p < this.worldSize; p++) {
      if (p === this.rank) continue;
      const s = rankStatus(this.ctl, p);
      if (s !== Status.alive && (gone < 0 || rankStatus(this.ctl, gone) === Status.abandoned)) gone = p;
    }
    if (gone < 0 || Atomics.load(this.ctl, GEN) !== g) return;
    const root = Atomics.load(this.ctl, ROOT) - 1;
    const lost = root >= 0 && root !== this.rank && rankStatus(this.ctl, root) !== Status.alive ? root : gone;
    throw new BarrierFailure('lost', lost, rankStatus(this.ctl, lost));
  }
}
