// The demo and `bench zero` as a training spec: the same GPT, seed and data trained once per ZeRO stage, every
// stage's config gptTrainingConfig with only the stage changed, so the losses agree and only memory and traffic differ.
import type { KernelChoice } from '../kernels/types.js';
import type { GPTConfig } from '../nn/gpt.js';
import { gptTrainingConfig, type StageNumber } from './configs.js';
import type { RunSpec } from './spec.js';

export interface StageRunOptions {
  /** GPT shape; vocabSize 256 for the byte-level corpus. */
  model: Omit<GPTConfig, 'seed'>;
  seed: number;
  /** Sequences per rank per step. */
  microBatch: number;
  /** Optimizer steps per stage. */
  steps: number;
  /** RunSpec.untimedSteps. */
  untimedSteps: number;
  stages: StageNumber[];
  precision: 'fp32' | 'bf16';
  /** Peak learning rate (AdamW, linear warmup over steps / 10, then cosine to lr / 10). */
  lr: number;
  /** gradient_clipping (0: off, DeepSpeed's default). */
  clip: number;
  /** reduce_bucket_size in elements (stages 0-2 buckets). */
  bucketElements: number;
  /** stage 3: stage3_prefetch_bucket_size and stage3_max_reuse_distance (elements); 0 = gather/release strictly. */
  stage3Prefetch: number;
  /** stage 3: stage3_param_persistence_threshold (elements). */
  stage3Persistence: number;
  /** Validation batches per rank for the held-out loss after training (0: none). */
  evalBatches: number;
  kernels: KernelChoice;
  deviceBytes: number;
  corpus?: Uint8Array;
  /** Rank 0 writes one progress line per this many steps to stderr (0: silent). */
  progressEvery: number;
}

/** One run per stage, labelled "stage k". */
export function stagesSpec(o: StageRunOptions): RunSpec {
  return {
    model: o.model,
    seed: o.seed,
    runs: o.stages.map((stage) => ({
      label: `stage ${stage}`,
      config: gptTrainingConfig({
        steps: o.steps,
        stage,
        microBatch: o.microBatch,
        lr: o.lr,
        clip: o.clip,
        precision: o.precision,
        bucketElements: o.bucketElements,
        stage3Prefetch: o.stage3Prefetch,
        stage3Persistence: o.stage3Persistence,
      }),
    })),
    steps: o.steps,
    untimedSteps: o.untimedSteps,
    evalBatches: o.evalBatches,
    kernels: o.kernels,
    deviceBytes: o.deviceBytes,
    ...(o.corpus === undefined ? {} : { corpus: o.corpus }),
    progressEvery: o.progressEvery,
    progressTo: 'stderr',
  };
}
