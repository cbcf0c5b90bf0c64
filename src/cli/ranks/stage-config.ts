// The DeepSpeed config of one stage of a demo or benchmark run: everything but the stage is equal across stages.
//
// Gradient clipping does not make the stages differ: the global norm is exchanged exactly, whatever the partitioning
// ([Note: exact norm exchange] in src/zero/norm-exchange.ts), so every stage computes the same bits, in bf16 too.
import type { StageNumber, StageRunSpec } from './stage-spec.js';

export function stageConfig(spec: StageRunSpec, stage: StageNumber): Record<string, unknown> {
  const warmup = Math.max(1, Math.round(spec.steps / 10));
  return {
    train_micro_batch_size_per_gpu: spec.microBatch,
    gradient_accumulation_steps: 1,
    gradient_clipping: spec.clip,
    optimizer: { type: 'AdamW', params: { lr: spec.lr, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 } },
    scheduler: {
      type: 'WarmupCosineLR',
      params: {
        total_num_steps: Math.max(spec.steps, warmup + 1),
        warmup_num_steps: warmup,
        warmup_type: 'linear',
        warmup_min_ratio: 0,
        cos_min_ratio: 0.1,
      },
    },
    bf16: { enabled: spec.precision === 'bf16' },
    zero_optimization: {
      stage,
      reduce_bucket_size: spec.bucketElements,
      allgather_bucket_size: spec.bucketElements,
      // DeepSpeed's stage-3 defaults (persistence 1e5, prefetch 5e7, reuse distance 1e9 elements) are sized for
      // models of billions: on a toy model they would keep every parameter gathered. Scaled down to one transformer
      // block, stage 3 gathers a block per all-gather (src/zero/gather-units.ts) and holds its shard plus the current
      // and the prefetched next block.
      stage3_param_persistence_threshold: spec.stage3Persistence,
      stage3_prefetch_bucket_size: spec.stage3Prefetch,
      stage3_max_reuse_distance: spec.stage3Prefetch,
    },
  };
}
