// What the training rank program (rank.ts) is asked to do (RunSpec) and what each rank hands back for each of its
// runs (RankResult). Plain data: both cross the worker boundary by structured clone. `zerots train` is a spec with
// one run; the demo and `bench zero` are specs with one run per ZeRO stage, all trained from the same seed on the
// same data.
import type { EngineBackends } from '../zero/backends.js';
import type { KernelChoice } from '../kernels/types.js';
import type { GPTConfig } from '../nn/gpt.js';
import type { MemoryCategory } from '../tensor/device.js';
import type { CollectiveOp } from '../comm/types.js';

/** One engine to train: a label for the reports and its DeepSpeed JSON config. */
export interface RunConfig {
  label: string;
  /** DeepSpeed JSON (validated on the main thread first, then again on every rank). */
  config: unknown;
}

export interface RunSpec {
  /** GPT shape; vocabSize 256 for the byte-level corpus. */
  model: Omit<GPTConfig, 'seed'>;
  /** Model initialisation and data order seed (the same for every run). */
  seed: number;
  runs: RunConfig[];
  /** Optimizer steps per run (all trained; the losses cover all of them). */
  steps: number;
  /**
   * Leading steps each run trains alone, untimed, where its memory is measured (stage 3 records its gather order in
   * the first step); the rest run interleaved across runs and are timed ([Note: interleaved timing] in rank.ts).
   */
  untimedSteps: number;
  /** Validation batches per rank for the held-out loss after training (0: none). */
  evalBatches: number;
  /** Also evaluate the held-out loss every this many steps (a progress line and a log record; default: never). */
  evalEvery?: number;
  kernels: KernelChoice;
  deviceBytes: number;
  /** Token stream (bytes, or a tokenizer's ids below model.vocabSize); absent: the shipped corpus as bytes. */
  corpus?: Uint8Array | Int32Array;
  /** Host memory per rank for offload_optimizer / offload_param "cpu" (bytes; default: unbounded). */
  hostBytes?: number;
  /**
   * Rank 0's per-step display (progress.ts): a progress bar on a terminal, and/or a JSON Lines log with a record per
   * step. With the bar on, the progress lines are only returned (RankResult.lines), not written.
   */
  display?: { bar: boolean; columns?: number; logFile?: string };
  /**
   * Every this many steps (and at the last) the ranks average their losses and rank 0 writes a progress line
   * (0: none); 'stdout' / 'stderr' write it as it happens, 'none' only returns it (RankResult.lines).
   */
  progressEvery: number;
  progressTo: 'stdout' | 'stderr' | 'none';
  /** Checkpoints of a single-run spec (`zerots train --save-dir/--resume/--init-from`); see src/checkpoint. */
  checkpoint?: CheckpointSpec;
}

/**
 * `steps` counts optimizer steps from the start of the run, so a run resumed at step k with the same steps ends
 * where the uninterrupted one ends, having trained steps - k.
 */
export interface CheckpointSpec {
  /** Save checkpoints here (`<saveDir>/step-<n>/`, `<saveDir>/latest`). */
  saveDir?: string;
  /** Every this many optimizer steps (counted from the start of the run); 0 or absent: once, at the end. */
  saveEvery?: number;
  /** Resume from this checkpoint: a save folder (its `latest`) or one checkpoint's folder. */
  resume?: string;
  /** Initialise the weights from a safetensors file or folder (Hugging Face GPT-2 layout); fresh optimizer. */
  initFrom?: string;
}

/** Per-phase wall time per timed step on this rank, seconds; comm is the time inside collectives by op. */
export interface PhaseSeconds {
  forward: number;
  backward: number;
  step: number;
  comm: Record<CollectiveOp, number>;
}

/** One rank's measurements of one run. */
export interface RankResult {
  label: string;
  /** The run's ZeRO stage and precision, as its config resolved. */
  stage: number;
  precision: 'fp32' | 'bf16' | 'fp16';
  rank: number;
  /** Loss of this rank's micro-batches (mean over accumulation) at every step. */
  losses: number[];
  /** Mean loss over this rank's validation batches after training (null: not evaluated). */
  valLoss: number | null;
  /** Learning rate and gradient norm of the last step. */
  lastLr: number;
  lastGradNorm: number;
  /** Steps the fp16 loss scaler skipped. */
  skippedSteps: number;
  /** Seconds of all training steps (untimed ones included; evaluation excluded). */
  trainSeconds: number;
  /** Median wall time of a timed step, from a barrier to the end of step() (rank 0's clock is the one reported). */
  secondsPerStep: number;
  /** The fastest timed step: the least disturbed by other work on the machine. */
  minSecondsPerStep: number;
  /** Every timed step's seconds, in round order (round i of every run ran at about the same time). */
  stepSeconds: number[];
  timedSteps: number;
  /** Tokens per optimizer step over all ranks. */
  tokensPerStep: number;
  phases: PhaseSeconds;
  /**
   * Peak bytes per category above the device before the run's engine was built, over its untimed steps after the
   * first (over the first when it is the only one): the steady state. See [Note: interleaved timing].
   */
  peak: Record<MemoryCategory, number>;
  /** Peak of the total, the same way. */
  peakTotal: number;
  /** Peak of the total over the first step (stage 2 holds every gradient bucket there, learning readiness). */
  firstStepPeakTotal: number;
  /** The device's overall peak bytes over the whole run (everything in use counted). */
  devicePeakBytes: number;
  /** Bytes per category right after initialize() (model states only). */
  afterInit: Record<MemoryCategory, number>;
  /** Bytes sent per timed step (comm log), by op and in total. */
  commBytesPerStep: number;
  commBytesByOp: Record<CollectiveOp, number>;
  /** Collective calls per timed step, by op (each one a synchronisation point of the ranks). */
  commCallsByOp: Record<CollectiveOp, number>;
  /** Parameters of the model (Psi) and the engine's padded layout, for the formulas. */
  params: number;
  layout: { padded: number; shardNumel: number; worldSize: number };
  /** Rank 0's first run: the progress lines of all runs (also written live unless progressTo is 'none'). */
  lines: string[];
  /** The last step's training loss averaged over the ranks (the same on every rank: one all-reduce). */
  worldMeanLoss?: number;
  /** The held-out loss averaged over the ranks and the largest device peak of any rank (world-figures.ts). */
  worldValLoss?: number | null;
  worldPeakBytes?: number;
  /** [native blas] The kernels, GEMM threads and transport the engine ran on. */
  engine: EngineBackends;
}
