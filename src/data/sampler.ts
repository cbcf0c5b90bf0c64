// DistributedSampler: deterministic [B, T+1] windows of a token stream, shared out among data-parallel ranks.
//
// [Note: sampler equivalence] The stream is cut into windows that start every `stride` tokens (default T) and hold
// T+1 tokens (inputs and shifted targets). One epoch visits the windows in one global order, a permutation that is
// a pure function of (seed, epoch) and identical on every rank. Global step s takes the next N*b windows of that
// order, and rank r takes the r-th run of b of them:
//     rank r, step s  <-  order[(s*N + r)*b .. (s*N + r + 1)*b)
// So the ranks' shares are disjoint, and concatenating the ranks' batches of step s in rank order gives exactly
// the batch of step s of one process with micro-batch N*b: world size N with micro-batch b trains on the same
// data as one process with batch N*b. An incomplete last global step is dropped, so every rank takes the same
// number of steps (a collective never waits on a rank that ran out of data).
// With gradient accumulation over k micro-steps, optimizer step s uses steps s*k .. s*k+k-1 here: the same windows
// as one process with batch N*b*k (summed in another order, so equal up to float rounding of the mean).
import { ConfigError } from '../errors.js';

export interface SamplerOptions {
  /** T: tokens of context per sample; each window holds T+1 tokens. */
  blockSize: number;
  /** b: samples per rank per step (micro-batch). */
  microBatchSize: number;
  worldSize?: number;
  rank?: number;
  /** Default true; false visits windows in stream order (evaluation). */
  shuffle?: boolean;
  /** Tokens between window starts (default T: windows share only their boundary token). */
  stride?: number;
}

export interface Batch {
  /** Step within the epoch. */
  step: number;
  B: number;
  T: number;
  /** [B, T+1] token windows, row-major. */
  windows: Int32Array;
  /** [B, T]: windows[:, :T]. */
  inputs: Int32Array;
  /** [B, T]: windows[:, 1:]. */
  targets: Int32Array;
  /** [B]: token offset of each window in the stream. */
  starts: Int32Array;
}

function positiveInt(v: number, key: string): number {
  if (!Number.isSafeInteger(v) || v < 1)
    throw new ConfigError(`${key} = ${v} is not allowed; use a positive integer`, key);
  return v;
}

/** 32-bit hash (murmur3 finaliser) used to derive a generator state from (seed, epoch). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: a small, fast, deterministic generator of uniform [0, 1) doubles with 32 random bits. */
function mulberry32(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The global window order of an epoch: a Fisher-Yates shuffle seeded by (seed, epoch). */
export function windowPermutation(n: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(mix32(mix32(seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b1)));
  for (let i = n - 1; i > 0; i--) {
    // two draws give 53 bits, so the index is unbiased for any realistic n
    const u = (Math.floor(rand() * 2 ** 21) * 2 ** 32 + Math.floor(rand() * 2 ** 32)) / 2 ** 53;
    const j = Math.floor(u * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

export class DistributedSampler {
  readonly T: number;
  readonly microBatchSize: number;
  readonly worldSize: number;
  readonly rank: number;
  readonly shuffle: boolean;
  readonly stride: number;
  /** Windows in the stream. */
  readonly numWindows: number;
  /** Global steps per epoch (incomplete last step dropped). */
  readonly stepsPerEpoch: number;
  private cached: { seed: number; epoch: number; order: Int32Array } | null = null;

  constructor(
    readonly tokens: Uint8Array | Int32Array,
    opts: SamplerOptions,
  ) {
    this.T = positiveInt(opts.blockSize, 'blockSize');
    this.microBatchSize = positiveInt(opts.microBatchSize, 'microBatchSize');
    this.worldSize = positiveInt(opts.worldSize ?? 1, 'worldSize');
    this.rank = opts.rank ?? 0;
    if (!Number.isSafeInteger(this.rank) || this.rank < 0 || this.rank >= this.worldSize) {
      throw new ConfigError(
        `rank = ${this.rank} is not allowed; use 0..${this.worldSize - 1} for world size ${this.worldSize}`,
        'rank',
      );
    }
    this.shuffle = opts.shuffle ?? true;
    this.stride = positiveInt(opts.stride ?? this.T, 'stride');
    this.numWindows = tokens.length < this.T + 1 ? 0 : Math.floor((tokens.length - (this.T + 1)) / this.stride) + 1;
    const globalBatch = this.worldSize * this.microBatchSize;
    this.stepsPerEpoch = Math.floor(this.numWindows / globalBatch);
    if (this.stepsPerEpoch === 0) {
      throw new ConfigError(
        `the data (${tokens.length} tokens, ${this.numWindows} windows of ${this.T + 1}) is too small for one step of ` +
          `${globalBatch} windows (world size ${this.worldSize} x micro-batch ${this.microBatchSize}); use a smaller batch or block size`,
        'microBatchSize',
      );
    }
  }

  /** The epoch's global window order (the same on every rank). */
  windowOrder(seed: number, epoch: number): Int32Array {
    if (!this.shuffle) {
      this.cached ??= { seed: 0, epoch: 0, order: Int32Array.from({ length: this.numWindows }, (_, i) => i) };
      return this.cached.order;
    }
    if (this.cached === null || this.cached.seed !== seed || this.cached.epoch !== epoch) {
      this.cached = { seed, epoch, order: windowPermutation(this.numWindows, seed, epoch) };
    }
    return this.cached.order;
  }

  /** This rank's batch of global step `step` of an epoch (random access, e.g. to resume from a checkpoint). */
  batch(seed: number, epoch: number, step: number): Batch {
    if (!Number.isSafeInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`step ${step} is outside the epoch; use 0..${this.stepsPerEpoch - 1}`);
    }
    const order = this.windowOrder(seed, epoch);
    const B = this.microBatchSize;
    const T = this.T;
    const first = (step * this.worldSize + this.rank) * B;
    const windows = new Int32Array(B * (T + 1));
    const inputs = new Int32Array(B * T);
    const targets = new Int32Array(B * T);
    const starts = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      const start = order[first + i]! * this.stride;
      starts[i] = start;
      const w = this.tokens.subarray(start, start + T + 1);
      windows.set(w, i * (T + 1));
      inputs.set(w.subarray(0, T), i * T);
      targets.set(w.subarray(1), i * T);
    }
    return { step, B, T, windows, inputs, targets, starts };
  }

  /** This rank's batches of one epoch, in step order. */
  *batches(seed: number, epoch: number, fromStep: number = 0): Generator<Batch> {
    for (let s = fromStep; s < this.stepsPerEpoch; s++) yield this.batch(seed, epoch, s);
  }
}
