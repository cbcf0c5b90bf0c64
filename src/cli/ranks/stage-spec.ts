// What the demo and the ZeRO benchmark ask every rank to do (StageRunSpec) and what each rank hands back for one
// stage (StageResult). Plain data: both cross the worker boundary by structured clone.
import type { GPTConfig } from '../../nn/gpt.js';
import type { MemoryCategory } from '../../tensor/device.js';
import type { CollectiveOp } from '../../comm/types.js';

export type StageNumber = 0 | 1 | 2 | 3;
export type RunPrecision = 'fp32' | 'bf16';

export interface StageRunSpec {
  /** GPT shape; vocabSize 256 for the byte-level corpus. */
  model: Omit<GPTConfig, 'seed'>;
  /** Model initialisation and data order seed (the same for every stage). */
  seed: number;
  /** Sequences per rank per step. */
  microBatch: number;
  /** Optimizer steps per stage (all trained; the losses cover all of them). */
  steps: number;
  /**
   * Leading steps each stage runs alone, untimed, where its memory is measured (stage 3 records its gather order in
   * the first step); the rest run interleaved across stages and are timed.
   */
  untimedSteps: number;
  stages: StageNumber[];
  precision: RunPrecision;
  /** Peak learning rate (AdamW, linear warmup over steps / 10, then cosine to lr / 10). */
  lr: number;
  /** gradient_clipping: the global-norm clip (0: off, DeepSpeed's default). */
  clip: number;
  /** reduce_bucket_size in elements (stages 0-2 buckets). */
  bucketElements: number;
  /** stage 3: stage3_prefetch_bucket_size and stage3_max_reuse_distance (elements); 0 = gather/release strictly. */
  stage3Prefetch: number;
  /** stage 3: stage3_param_persistence_threshold (elements). */
  stage3Persistence: number;
  /** Validation batches per rank for the held-out loss after training (0: none). */
  evalBatches: number;
  kernels: 'wasm' | 'js';
  deviceBytes: number;
  /** Token stream (bytes); absent: the shipped corpus. */
  corpus?: Uint8Array;
  /** Rank 0 writes one progress line per this many steps to stderr (0: silent). */
  progressEvery: number;
}

/** Per-phase wall time per timed step on this rank, seconds; comm is the time inside collectives by op. */
export interface PhaseSeconds {
  forward: number;
  backward: number;
  step: number;
  comm: Record<CollectiveOp, number>;
}

export interface StageResult {
  stage: StageNumber;
  rank: number;
  /** Loss of this rank's micro-batch at every step. */
  losses: number[];
  /** Mean loss over this rank's validation batches after training (null: not evaluated). */
  valLoss: number | null;
  /** Median wall time of a timed step, from a barrier to the end of step() (rank 0's clock is the one reported). */
  secondsPerStep: number;
  /** The fastest timed step: the least disturbed by other work on the machine. */
  minSecondsPerStep: number;
  /** Every timed step's seconds, in round order (round i of every stage ran at about the same time). */
  stepSeconds: number[];
  timedSteps: number;
  /** Tokens per step over all ranks. */
  tokensPerStep: number;
  phases: PhaseSeconds;
  /**
   * Peak bytes per category above the device before the stage's engine was built, over its untimed steps after the
   * first (over the first when it is the only one): the steady state. See [Note: interleaved timing].
   */
  peak: Record<MemoryCategory, number>;
  /** Peak of the total, the same way. */
  peakTotal: number;
  /** Peak of the total over the first step (stage 2 holds every gradient bucket there, learning readiness). */
  firstStepPeakTotal: number;
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
}
