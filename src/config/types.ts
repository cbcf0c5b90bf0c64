// The resolved, fully-defaulted configuration zerots trains with. It is read from DeepSpeed's JSON config (the keys
// users already know, as DeepSpeed documents them) by resolveConfig() in resolve.ts; field comments give the
// DeepSpeed key each field comes from. Every object here is frozen.
import type { FilledValue } from './auto.js';
import type { AioConfig } from './aio.js';

import type { ActivationCheckpointingConfig } from './activation-checkpointing.js'; // issue 9
export type OptimizerType = 'Adam' | 'AdamW' | 'SGD';
export type SchedulerType = 'WarmupLR' | 'WarmupDecayLR' | 'WarmupCosineLR';
export type OffloadDevice = 'none' | 'cpu' | 'nvme';
export type WarmupType = 'log' | 'linear';
export type CommDataType = 'fp32' | 'fp16' | 'bf16';

/** optimizer.params for Adam / AdamW. */
export interface AdamParams {
  readonly lr: number; // lr, default 1e-3
  readonly betas: readonly [number, number]; // betas, default [0.9, 0.999]
  readonly eps: number; // eps, default 1e-8
  readonly weightDecay: number; // weight_decay, default 0
  /** Decoupled weight decay (AdamW). DeepSpeed's "Adam" defaults adam_w_mode to true; "AdamW" is always true. */
  readonly adamWMode: boolean; // adam_w_mode
  readonly biasCorrection: boolean; // bias_correction, default true
}

/** optimizer.params for SGD (PyTorch semantics). */
export interface SgdParams {
  readonly lr: number; // lr (required by PyTorch; we default 1e-3 like Adam)
  readonly momentum: number; // momentum, default 0
  readonly dampening: number; // dampening, default 0
  readonly weightDecay: number; // weight_decay, default 0
  readonly nesterov: boolean; // nesterov, default false
}

export type OptimizerConfig =
  | { readonly type: 'Adam' | 'AdamW'; readonly params: AdamParams }
  | { readonly type: 'SGD'; readonly params: SgdParams };

export interface WarmupLRParams {
  readonly warmupMinLr: number; // warmup_min_lr, default 0
  readonly warmupMaxLr: number; // warmup_max_lr, default 1e-3
  readonly warmupNumSteps: number; // warmup_num_steps, default 1000
  readonly warmupType: WarmupType; // warmup_type, default 'log'
}
export interface WarmupDecayLRParams extends WarmupLRParams {
  readonly totalNumSteps: number; // total_num_steps (required)
}
export interface WarmupCosineLRParams {
  readonly totalNumSteps: number; // total_num_steps (required)
  readonly warmupMinRatio: number; // warmup_min_ratio, default 0
  readonly warmupNumSteps: number; // warmup_num_steps, default 1000
  readonly cosMinRatio: number; // cos_min_ratio, default 1e-4
  readonly warmupType: WarmupType; // warmup_type, default 'log'
}

export type SchedulerConfig =
  | { readonly type: 'WarmupLR'; readonly params: WarmupLRParams }
  | { readonly type: 'WarmupDecayLR'; readonly params: WarmupDecayLRParams }
  | { readonly type: 'WarmupCosineLR'; readonly params: WarmupCosineLRParams };

/** fp16 {...}: dynamic loss scaling in DeepSpeed's semantics when lossScale is 0. */
export interface Fp16Config {
  readonly enabled: boolean; // enabled, default false
  readonly lossScale: number; // loss_scale, default 0 (= dynamic)
  readonly initialScalePower: number; // initial_scale_power, default 16 (scale 2^16)
  readonly lossScaleWindow: number; // loss_scale_window, default 1000 (steps without overflow to double)
  readonly hysteresis: number; // hysteresis, default 2 (overflows tolerated before halving)
  readonly consecutiveHysteresis: boolean; // consecutive_hysteresis, default false
  readonly minLossScale: number; // min_loss_scale, default 1
}

export interface Bf16Config {
  readonly enabled: boolean; // bf16.enabled (or the older key bfloat16.enabled), default false
}

export interface OffloadOptimizerConfig {
  readonly device: OffloadDevice; // device, default 'none'
  readonly nvmePath: string | null; // nvme_path
  readonly pinMemory: boolean; // pin_memory, default false
  readonly bufferCount: number; // buffer_count, default 4 (nvme: host buffers the swap streams through)
  readonly ratio: number; // ratio, default 1 (fraction of the optimizer step offloaded)
  readonly pipelineRead: boolean; // pipeline_read (or pipeline), default false: read sub-group k+1 during step k
  readonly pipelineWrite: boolean; // pipeline_write (or pipeline), default false: write k-1 during step k
}

export interface OffloadParamConfig {
  readonly device: OffloadDevice; // device, default 'none'
  readonly nvmePath: string | null; // nvme_path
  readonly pinMemory: boolean; // pin_memory, default false
  readonly bufferCount: number; // buffer_count, default 5
  readonly bufferSize: number; // buffer_size, elements, default 1e8
  readonly maxInCpu: number; // max_in_cpu, elements, default 1e9
}

/** zero_optimization {...}. Sizes are element counts, as in DeepSpeed. */
export interface ZeroOptimizationConfig {
  readonly stage: 0 | 1 | 2 | 3; // stage, default 0
  readonly contiguousGradients: boolean; // contiguous_gradients, default true
  readonly reduceScatter: boolean; // reduce_scatter, default true
  readonly reduceBucketSize: number; // reduce_bucket_size, default h^2 with a hidden size (model-sized.ts), else 5e8
  readonly allgatherPartitions: boolean; // allgather_partitions, default true
  readonly allgatherBucketSize: number; // allgather_bucket_size, default 5e8
  readonly overlapComm: boolean; // overlap_comm, default false (true for stage 3)
  readonly loadFromFp32Weights: boolean; // load_from_fp32_weights, default true
  readonly elasticCheckpoint: boolean; // elastic_checkpoint, default false
  readonly offloadOptimizer: OffloadOptimizerConfig; // offload_optimizer (or the older cpu_offload: true)
  readonly offloadParam: OffloadParamConfig; // offload_param (or the older cpu_offload_params: true)
  readonly subGroupSize: number; // sub_group_size, default 1e9
  readonly stage3PrefetchBucketSize: number; // prefetch_bucket_size (alias stage3_...), default 0.9 h^2 or 5e7
  readonly stage3ParamPersistenceThreshold: number; // param_persistence_threshold (alias stage3_...), default 10 h or 1e5
  readonly stage3MaxLiveParameters: number; // max_live_parameters (alias stage3_...), default 1e9
  readonly stage3MaxReuseDistance: number; // max_reuse_distance (alias stage3_...), default 1e9
  readonly stage3Gather16bitWeightsOnModelSave: boolean; // gather_16bit_weights_on_model_save (alias stage3_...)
  readonly roundRobinGradients: boolean; // round_robin_gradients, default false
  readonly ignoreUnusedParameters: boolean; // ignore_unused_parameters, default true
}

export interface ZeroConfig {
  /** Data-parallel world size the batch triple was resolved for (not a DeepSpeed key: it comes from the launcher). */
  readonly worldSize: number;
  readonly trainBatchSize: number; // train_batch_size
  readonly trainMicroBatchSizePerGpu: number; // train_micro_batch_size_per_gpu
  readonly gradientAccumulationSteps: number; // gradient_accumulation_steps
  readonly gradientClipping: number; // gradient_clipping, default 0 (= off); max global L2 norm
  readonly optimizer: OptimizerConfig | null; // optimizer; null when absent (the caller must then supply one)
  readonly scheduler: SchedulerConfig | null; // scheduler; null = constant lr
  readonly fp16: Fp16Config;
  readonly bf16: Bf16Config;
  readonly zero: ZeroOptimizationConfig; // zero_optimization
  readonly stepsPerPrint: number; // steps_per_print, default 10
  readonly wallClockBreakdown: boolean; // wall_clock_breakdown, default false
  readonly prescaleGradients: boolean; // prescale_gradients, default false
  readonly gradientPredivideFactor: number; // gradient_predivide_factor, default 1
  /** communication_data_type: the dtype gradients are reduced in; null = the training precision (DeepSpeed's). */
  readonly communicationDataType: CommDataType | null;
  /** DeepSpeed keys accepted but not acted on (monitoring, profilers, performance knobs, ...), as key paths. */
  readonly ignoredKeys: readonly string[];
  /** One line per key DeepSpeed ignores or reads elsewhere (set aside, not used), saying what zerots does instead. */
  readonly warnings: readonly string[];
  /** Bucket sizes the config left unset, sized from the model's hidden size (model-sized.ts); said once. */
  readonly sizedFromModel: readonly FilledValue[];
  /** activation_checkpointing (issue 9): how checkpointed blocks keep their inputs; see activation-checkpointing.ts. */
  readonly activationCheckpointing: ActivationCheckpointingConfig;
  /** aio: swap I/O threads and largest single transfer (thread_count, block_size); see aio.ts. */
  readonly aio: AioConfig;
}
