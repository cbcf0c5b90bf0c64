// The DeepSpeed config every GPT training program here starts from: AdamW as GPT-2 trains (betas 0.9, 0.95,
// weight decay 0.1), DeepSpeed's WarmupCosineLR over the run (linear warmup over a tenth of the steps, cosine decay
// to a tenth of the peak), gradient clipping at 1.0 unless asked otherwise. `zerots train` (stage 2, or stage 0 at
// world size 1), the demo and `bench zero` (every stage) are this config with a few fields changed.
//
// Gradient clipping does not make the stages differ: the global norm is exchanged exactly, whatever the partitioning
// ([Note: exact norm exchange] in src/zero/norm-exchange.ts), so every stage computes the same bits, in bf16 too.

export type StageNumber = 0 | 1 | 2 | 3;

export interface GptConfigOptions {
  /** Optimizer steps of the run (the end of the cosine decay). */
  steps: number;
  stage: StageNumber;
  /** Sequences per rank per micro-step (default 8). */
  microBatch?: number;
  /** Peak learning rate (default 3e-3). */
  lr?: number;
  /** gradient_clipping: the global-norm clip (default 1.0; 0: off). */
  clip?: number;
  /** bf16 mixed precision (default fp32). */
  precision?: 'fp32' | 'bf16';
  /** reduce_bucket_size and allgather_bucket_size in elements (default DeepSpeed's). */
  bucketElements?: number;
  /** stage 3: stage3_prefetch_bucket_size and stage3_max_reuse_distance in elements (default DeepSpeed's). */
  stage3Prefetch?: number;
  /** stage 3: stage3_param_persistence_threshold in elements (default DeepSpeed's). */
  stage3Persistence?: number;
}

/** The DeepSpeed JSON for one GPT run (see the file header). */
export function gptTrainingConfig(o: GptConfigOptions): Record<string, unknown> {
  const warmup = Math.max(1, Math.round(o.steps / 10));
  const zero: Record<string, unknown> = { stage: o.stage };
  if (o.bucketElements !== undefined) {
    zero.reduce_bucket_size = o.bucketElements;
    zero.allgather_bucket_size = o.bucketElements;
  }
  // DeepSpeed's stage-3 defaults (persistence 1e5, prefetch 5e7, reuse distance 1e9 elements) are sized for models
  // of billions: on a toy model they would keep every parameter gathered. The demo and the benchmark scale them down
  // to one transformer block, so stage 3 gathers a block per all-gather (src/zero/gather-units.ts) and holds its
  // shard plus the current and the prefetched next block.
  if (o.stage3Persistence !== undefined) zero.stage3_param_persistence_threshold = o.stage3Persistence;
  if (o.stage3Prefetch !== undefined) {
    zero.stage3_prefetch_bucket_size = o.stage3Prefetch;
    zero.stage3_max_reuse_distance = o.stage3Prefetch;
  }
  return {
    train_micro_batch_size_per_gpu: o.microBatch ?? 8,
    gradient_accumulation_steps: 1,
    gradient_clipping: o.clip ?? 1.0,
    optimizer: { type: 'AdamW', params: { lr: o.lr ?? 3e-3, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 } },
    scheduler: {
      type: 'WarmupCosineLR',
      params: {
        total_num_steps: Math.max(o.steps, warmup + 1),
        warmup_num_steps: warmup,
        warmup_type: 'linear',
        warmup_min_ratio: 0,
        cos_min_ratio: 0.1,
      },
    },
    bf16: { enabled: o.precision === 'bf16' },
    zero_optimization: zero,
  };
}
