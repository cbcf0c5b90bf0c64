// `zerots experiments` as configurations of the one training program (rank.ts through trainWorld):
//   Part 1: one GPT and one per-rank capacity; for each method (methods.ts) the largest micro-batch that trains
//           (found with real out-of-memory errors, max-batch.ts), then a run at that micro-batch for a fixed number of
//           tokens (speed, memory by category, traffic, held-out loss) and, at one micro-batch every method fits,
//           all methods in one world for a few steps (equal global batch: the losses agree).
//   Part 2: a larger GPT at the same capacity: DDP at micro-batch 1 (out of memory) and ZeRO-3 + offload's largest.
import { DeviceOutOfMemoryError } from '../errors.js';
import type { GPTConfig } from '../nn/gpt.js';
import type { MemoryCategory } from '../tensor/device.js';
import { predictedByCategory, predictedPeak, predictLargest } from './experiment-predict.js';
import {
  type ExperimentBase,
  methodSpec,
  searchMaxMicroBatch,
  type SearchResult,
  type Trial,
  tryMicroBatch,
} from './max-batch.js';
import { METHODS, type Method, type MethodKey, methodConfig, NVME_METHOD } from './methods.js';
import type { RunReport } from './report.js';
import type { RunSpec } from './spec.js';
import { trainWorld } from './world.js';

export interface ExperimentOptions {
  base: ExperimentBase;
  /** Part 2's GPT (same capacity, seed and settings as Part 1). */
  part2Model: Omit<GPTConfig, 'seed'>;
  /** Tokens each method trains at its largest micro-batch (the fixed amount of work). */
  tokens: number;
  /** Sequences per rank of the held-out evaluation (the same for every method: batches of its micro-batch). */
  evalSequences: number;
  /** Steps of the equal-batch run (all methods in one world at a micro-batch all fit); 0: skipped. */
  equalSteps: number;
  /**
   * Whether each search starts at the estimator's largest micro-batch (src/estimate/peak.ts through
   * experiment-predict.ts; default true). The prediction is reported either way.
   */
  startAtPrediction?: boolean;
  /**
   * --quick: the measured run at the prediction stands for the trial that trains, and one trial above it must run
   * out of memory (two worlds per method instead of three or more); a wrong prediction falls back to the search.
   */
  quickSearch?: boolean;
  /**
   * Where each search starts when there is no prediction (method key, or 'part2' for Part 2's offload run): the last
   * measured values, so that a search takes two trials (the guess trains, the guess + 1 runs out of memory) when
   * nothing changed, and more, never a different answer, when something did.
   */
  guesses?: Partial<Record<MethodKey | 'part2', number>>;
  onEvent?: (e: ExperimentEvent) => void;
}

export type ExperimentEvent =
  | { kind: 'trial'; part: 1 | 2; method: Method; trial: Trial }
  | { kind: 'phase'; what: string };

/** The estimator's peak for the measured run (same method, model and micro-batch) beside what the run measured. */
export interface PeakCheck {
  micro: number;
  predictedBytes: number;
  measuredBytes: number;
  predicted: Partial<Record<MemoryCategory, number>>;
  measured: Record<MemoryCategory, number>;
}

export interface MethodResult {
  method: Method;
  maxMicroBatch: number;
  /** The estimator's largest micro-batch at the same capacity and settings. */
  predicted: number;
  peakCheck: PeakCheck;
  search: SearchResult;
  /** The run at maxMicroBatch for ExperimentOptions.tokens tokens. */
  run: RunReport;
  tokens: number;
}

export interface Part2Result {
  model: Omit<GPTConfig, 'seed'>;
  params: number;
  /** DDP at micro-batch 1: the out-of-memory error's message (null: it trained, which the capacity should prevent). */
  ddpOom: string | null;
  ddpPredicted: number;
  offload: SearchResult;
  offloadPredicted: number;
  /** ZeRO-3 + offload at its largest micro-batch (null when not even 1 fits). */
  run: RunReport | null;
}

export interface ExperimentResult {
  base: ExperimentBase;
  methods: MethodResult[];
  /** All methods at one micro-batch (the smallest maximum), in one world, interleaved. */
  equal: { micro: number; runs: RunReport[] } | null;
  part2: Part2Result;
}

function tokensPerStep(b: ExperimentBase, micro: number): number {
  return micro * b.worldSize * b.model.blockSize;
}

/** The estimator's peak at the run's micro-batch beside the run's: the largest rank, over the whole run. */
function peakCheck(b: ExperimentBase, m: Method, micro: number, run: RunReport): PeakCheck {
  const p = predictedPeak(b, m, micro);
  return {
    micro,
    predictedBytes: p.total,
    measuredBytes: Math.max(...run.devicePeakBytes),
    predicted: predictedByCategory(p),
    measured: run.peak,
  };
}

/**
 * The measured run at the search's largest micro-batch; when that longer run still runs out of memory (the free list
 * fragments over more steps than a trial takes), one smaller, and the search's result follows: the largest
 * micro-batch reported is the one whose full run trained.
 */
async function measureLargest(
  b: ExperimentBase,
  m: Method,
  search: { max: number },
  o: ExperimentOptions,
): Promise<RunReport> {
  for (;;) {
    try {
      return await measure(b, m, search.max, o);
    } catch (e) {
      if (!(e instanceof Error && e.name === 'DeviceOutOfMemoryError') || search.max <= 1) throw e;
      search.max -= 1;
    }
  }
}

async function measure(b: ExperimentBase, m: Method, micro: number, o: ExperimentOptions): Promise<RunReport> {
  const steps = Math.max(3, Math.ceil(o.tokens / tokensPerStep(b, micro)));
  const evalBatches = Math.max(1, Math.ceil(o.evalSequences / micro));
  const [r] = await trainWorld(methodSpec(b, m, { micro, steps, untimedSteps: 2, evalBatches }), b.worldSize);
  return r!;
}

/**
 * The largest micro-batch of `m` and the measured run of `tokens` tokens there (null when not even 1 trains). The
 * full search tries micro-batches, then runs at the largest. With `o.quickSearch` the measured run at `start` (the
 * prediction) is the trial that trains and one trial at start + 1 must run out of memory; when either outcome
 * differs, the full search decides.
 */
async function largestAndRun(
  b: ExperimentBase,
  m: Method,
  start: number,
  o: ExperimentOptions,
  tokens: number,
  onTrial: (t: Trial) => void,
): Promise<{ search: SearchResult; run: RunReport | null }> {
  const emit = o.onEvent ?? (() => {});
  if (o.quickSearch === true && start >= 1) {
    emit({ kind: 'phase', what: `${m.label}: ${tokens} tokens at micro-batch ${start}` });
    const run = await measureOrOom(b, m, start, { ...o, tokens });
    const asTrial: Trial = { micro: start, ok: run !== null, oom: run === null ? 'out of memory' : null, report: run };
    onTrial(asTrial);
    if (run !== null) {
      const next = await tryMicroBatch(b, m, start + 1);
      onTrial(next);
      if (!next.ok) return { search: { max: start, trials: [asTrial, next], best: asTrial, firstOom: next }, run };
    }
  }
  const search = await searchMaxMicroBatch(b, m, { start, onTrial });
  if (search.max === 0) return { search, run: null };
  emit({ kind: 'phase', what: `${m.label}: ${tokens} tokens at micro-batch ${search.max}` });
  return { search, run: await measureLargest(b, m, search, { ...o, tokens }) };
}

async function measureOrOom(b: ExperimentBase, m: Method, micro: number, o: ExperimentOptions) {
  try {
    return await measure(b, m, micro, o);
  } catch (e) {
    if (e instanceof Error && e.name === 'DeviceOutOfMemoryError') return null;
    throw e;
  }
}

export async function runExperiments(o: ExperimentOptions): Promise<ExperimentResult> {
  const b = o.base;
  const emit = o.onEvent ?? (() => {});
  const methods: MethodResult[] = [];
  let guess = 1;
  const all = b.nvmePath ? [...METHODS, NVME_METHOD] : METHODS;
  for (const m of all) {
    emit({ kind: 'phase', what: `${m.label}: largest micro-batch` });
    const predicted = predictLargest(b, m);
    const start = o.startAtPrediction === false ? undefined : predicted;
    const { search, run } = await largestAndRun(b, m, start || (o.guesses?.[m.key] ?? guess), o, o.tokens, (trial) =>
      emit({ kind: 'trial', part: 1, method: m, trial }),
    );
    if (run === null)
      throw new DeviceOutOfMemoryError(
        `experiments: ${m.label} does not train even at micro-batch 1 within ${b.deviceBytes} bytes per rank: ` +
          `${search.firstOom?.oom}; raise the capacity or shrink the model`,
        0,
        b.deviceBytes,
        {},
      );
    methods.push({
      method: m,
      maxMicroBatch: search.max,
      predicted,
      peakCheck: peakCheck(b, m, search.max, run),
      search,
      run,
      tokens: run.steps * run.tokensPerStep,
    });
    if (!m.nvme) guess = search.max;
  }
  let equal: ExperimentResult['equal'] = null;
  if (o.equalSteps > 0) {
    const micro = Math.min(...methods.map((x) => x.maxMicroBatch));
    emit({ kind: 'phase', what: `every method at micro-batch ${micro}, ${o.equalSteps} steps` });
    equal = { micro, runs: await trainWorld(equalSpec(b, micro, o.equalSteps), b.worldSize) };
  }
  const part2 = await runPart2(o, emit);
  return { base: b, methods, equal, part2 };
}

/**
 * Every method at one micro-batch in one world (the runs interleave step by step): equal global batch, so the
 * losses must agree.
 */
function equalSpec(b: ExperimentBase, micro: number, steps: number): RunSpec {
  const one = methodSpec(b, METHODS[0]!, { micro, steps, untimedSteps: 1, evalBatches: 1 });
  return {
    ...one,
    // every run's engine lives on the device at once (rank.ts builds them all first): room for all of them; this run
    // compares losses, not memory
    deviceBytes: Math.min(4 * 2 ** 30 - 2 ** 16, b.deviceBytes * (METHODS.length + 1)),
    runs: METHODS.map((m) => ({
      label: m.label,
      config: methodConfig(m, {
        steps,
        microBatch: micro,
        lr: b.lr,
        clip: b.clip,
        precision: b.precision,
        bucketElements: b.bucketElements,
        stage3Prefetch: b.stage3Prefetch,
        stage3Persistence: b.stage3Persistence,
      }),
    })),
  };
}

async function runPart2(o: ExperimentOptions, emit: (e: ExperimentEvent) => void): Promise<Part2Result> {
  const b: ExperimentBase = { ...o.base, model: o.part2Model };
  const ddp = METHODS.find((m) => m.key === 'ddp')!;
  const off = METHODS.find((m) => m.key === 'zero3_offload')!;
  emit({ kind: 'phase', what: 'Part 2: DDP at micro-batch 1' });
  const t = await tryMicroBatch(b, ddp, 1);
  emit({ kind: 'trial', part: 2, method: ddp, trial: t });
  const offloadPredicted = predictLargest(b, off);
  emit({ kind: 'phase', what: 'Part 2: ZeRO-3 + offload, largest micro-batch' });
  const start = (o.startAtPrediction === false ? 0 : offloadPredicted) || (o.guesses?.part2 ?? 4);
  const { search: offload, run } = await largestAndRun(b, off, start, o, Math.round(o.tokens / 2), (trial) =>
    emit({ kind: 'trial', part: 2, method: off, trial }),
  );
  return {
    model: b.model,
    params: run?.params ?? offload.best?.report?.params ?? NaN,
    ddpOom: t.ok ? null : t.oom,
    ddpPredicted: predictLargest(b, ddp),
    offload,
    offloadPredicted,
    run,
  };
}
