// The largest micro-batch that trains, found the way one finds it on a GPU: try it. Each trial is a real training
// run of `trialSteps` steps (the first step of stage 2 holds every gradient bucket, stage 3's records its gather
// order; the second is the steady state) in a world of its own; a trial that runs out of device memory ends in the
// allocator's DeviceOutOfMemoryError on some rank, which the world reports as its root cause. Stepping away from a guess,
// then bisection between the last micro-batch that trained and the first that did not.
import type { GPTConfig } from '../nn/gpt.js';
import { type Method, methodConfig } from './methods.js';
import type { RunReport } from './report.js';
import type { RunSpec } from './spec.js';
import { trainWorld } from './world.js';

export interface ExperimentBase {
  model: Omit<GPTConfig, 'seed'>;
  seed: number;
  precision: 'fp32' | 'bf16';
  lr: number;
  clip: number;
  bucketElements: number;
  stage3Prefetch: number;
  stage3Persistence: number;
  kernels: 'wasm' | 'js';
  /** Device capacity per rank, bytes. */
  deviceBytes: number;
  worldSize: number;
  corpus?: Uint8Array;
  /** A writable folder for the NVMe method's swap files (null or absent: that method is not run). */
  nvmePath?: string | null;
}

/** One trial: the micro-batch, and the report (it trained) or the out-of-memory message (it did not). */
export interface Trial {
  micro: number;
  ok: boolean;
  /** The DeviceOutOfMemoryError's message (null when it trained). */
  oom: string | null;
  report: RunReport | null;
}

export interface RunShape {
  micro: number;
  steps: number;
  untimedSteps: number;
  evalBatches: number;
  /** Cosine schedule length (default steps). */
  scheduleSteps?: number;
}

/** The spec of one method at one micro-batch. */
export function methodSpec(b: ExperimentBase, m: Method, r: RunShape): RunSpec {
  return {
    model: b.model,
    seed: b.seed,
    runs: [
      {
        label: m.label,
        config: methodConfig(
          m,
          {
            steps: r.scheduleSteps ?? r.steps,
            microBatch: r.micro,
            lr: b.lr,
            clip: b.clip,
            precision: b.precision,
            bucketElements: b.bucketElements,
            stage3Prefetch: b.stage3Prefetch,
            stage3Persistence: b.stage3Persistence,
          },
          b.nvmePath ?? null,
        ),
      },
    ],
    steps: r.steps,
    untimedSteps: r.untimedSteps,
    evalBatches: r.evalBatches,
    kernels: b.kernels,
    deviceBytes: b.deviceBytes,
    ...(b.corpus === undefined ? {} : { corpus: b.corpus }),
    progressEvery: 0,
    progressTo: 'none',
  };
}

function isOom(e: unknown): e is Error {
  return e instanceof Error && e.name === 'DeviceOutOfMemoryError';
}

/** Trains `m` at micro-batch `micro` for `steps` steps; an out-of-memory error is a result, any other a failure. */
export async function tryMicroBatch(b: ExperimentBase, m: Method, micro: number, steps = 3): Promise<Trial> {
  try {
    // what the measured run does at that size must fit too: the held-out evaluation's forward, and steps after the
    // first two (the allocator's free list settles by the third)
    const [report] = await trainWorld(
      methodSpec(b, m, { micro, steps, untimedSteps: steps, evalBatches: 1 }),
      b.worldSize,
    );
    return { micro, ok: true, oom: null, report: report! };
  } catch (e) {
    if (isOom(e)) return { micro, ok: false, oom: e.message, report: null };
    throw e;
  }
}

export interface SearchResult {
  /** 0: not even micro-batch 1 trains. */
  max: number;
  trials: Trial[];
  /** The trial at `max` (null when max is 0). */
  best: Trial | null;
  /** The first failing trial above max (its OOM message). */
  firstOom: Trial | null;
}

/**
 * Largest micro-batch in [1, limit] that trains: from `start` (a guess: the estimator's prediction, or the previous
 * method's result), stepping up (or down) by 1, 2, 4, ... until the outcome changes, then bisecting. `onTrial`
 * sees each trial as it ends (progress).
 */
export async function searchMaxMicroBatch(
  b: ExperimentBase,
  m: Method,
  opts: { start?: number; limit?: number; onTrial?: (t: Trial) => void } = {},
): Promise<SearchResult> {
  const limit = opts.limit ?? 256;
  const trials: Trial[] = [];
  const run = async (micro: number) => {
    const t = await tryMicroBatch(b, m, micro);
    trials.push(t);
    opts.onTrial?.(t);
    return t;
  };
  let lo: Trial | null = null; // largest that trained
  let hi: Trial | null = null; // smallest that failed
  const guess = Math.max(1, Math.min(limit, opts.start ?? 1));
  const first = await run(guess);
  if (first.ok) {
    lo = first;
    // a good guess (the estimator's) is confirmed by one more trial: guess + 1 runs out of memory
    let step = 1;
    while (hi === null && lo.micro < limit) {
      const t = await run(Math.min(limit, lo.micro + step));
      if (t.ok) lo = t;
      else hi = t;
      step *= 2;
    }
  } else {
    hi = first;
    let step = 1;
    while (lo === null && hi.micro > 1) {
      const t = await run(Math.max(1, hi.micro - step));
      if (t.ok) lo = t;
      else hi = t;
      step *= 2;
    }
  }
  while (lo !== null && hi !== null && hi.micro - lo.micro > 1) {
    const t = await run((lo.micro + hi.micro) >> 1);
    if (t.ok) lo = t;
    else hi = t;
  }
  return { max: lo?.micro ?? 0, trials, best: lo, firstOom: hi };
}
