// JSON Schemas (draft-07, checked by ajv) for the DeepSpeed config keys zerots understands. Defaults live in
// resolve.ts, not here, so that the resolved object is typed; these schemas only say what is allowed.
// Optimizer and scheduler params have one schema per type (checked after the type is known, see validate.ts).

type Schema = Record<string, unknown>;

const bool: Schema = { type: 'boolean' };
const posInt: Schema = { type: 'integer', minimum: 1 };
const nonNegInt: Schema = { type: 'integer', minimum: 0 };
/** Element counts such as 5e8: JSON numbers that are whole. */
const size: Schema = { type: 'integer', minimum: 0 };
const nonNeg: Schema = { type: 'number', minimum: 0 };
const prob: Schema = { type: 'number', minimum: 0, exclusiveMaximum: 1 };
const offloadDevice: Schema = { enum: ['none', 'cpu', 'nvme'] };
const warmupType: Schema = { enum: ['log', 'linear'] };

function object(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', properties, additionalProperties: false, required };
}

export const offloadOptimizerSchema = object({
  device: offloadDevice,
  nvme_path: { type: ['string', 'null'] },
  pin_memory: bool,
  buffer_count: posInt,
  fast_init: bool,
  pipeline: bool,
  pipeline_read: bool,
  pipeline_write: bool,
  ratio: { type: 'number', minimum: 0, maximum: 1 },
});

export const offloadParamSchema = object({
  device: offloadDevice,
  nvme_path: { type: ['string', 'null'] },
  pin_memory: bool,
  buffer_count: posInt,
  buffer_size: size,
  max_in_cpu: size,
});

/** zero_optimization under DeepSpeed's field names (normalize.ts renames the stage3_ aliases); ranges are DeepSpeed's. */
export const zeroOptimizationSchema = object({
  stage: { type: 'integer', enum: [0, 1, 2, 3] },
  contiguous_gradients: bool,
  reduce_scatter: bool,
  reduce_bucket_size: size,
  allgather_partitions: bool,
  allgather_bucket_size: size,
  overlap_comm: bool,
  load_from_fp32_weights: bool,
  elastic_checkpoint: bool,
  offload_optimizer: offloadOptimizerSchema,
  offload_param: offloadParamSchema,
  sub_group_size: size,
  prefetch_bucket_size: size,
  param_persistence_threshold: size,
  model_persistence_threshold: size,
  max_live_parameters: size,
  max_reuse_distance: size,
  gather_16bit_weights_on_model_save: bool,
  module_granularity_threshold: size,
  use_all_reduce_for_fetch_params: bool,
  round_robin_gradients: bool,
  ignore_unused_parameters: bool,
  memory_efficient_linear: bool,
  pipeline_loading_checkpoint: bool,
  override_module_apply: bool,
  use_multi_rank_bucket_allreduce: bool,
  mics_hierarchical_params_gather: bool,
  // Accepted at their DeepSpeed defaults only (resolve.ts refuses other values: features zerots lacks).
  legacy_stage1: bool,
  zero_hpz_partition_size: nonNegInt,
  zero_quantized_weights: bool,
  zero_quantized_nontrainable_weights: bool,
  zero_quantized_gradients: bool,
  zeropp_loco_param: { type: ['object', 'null'] },
  mics_shard_size: { type: 'integer' },
});

export const fp16Schema = object({
  enabled: bool,
  auto_cast: bool,
  loss_scale: nonNeg,
  initial_scale_power: { type: 'integer', minimum: 0, maximum: 127 },
  loss_scale_window: posInt,
  hysteresis: posInt,
  consecutive_hysteresis: bool,
  min_loss_scale: { type: 'number', exclusiveMinimum: 0 },
  fp16_master_weights_and_grads: bool,
});

export const bf16Schema = object({ enabled: bool, immediate_grad_update: bool, check_grad_overflow: bool });

export const topLevelSchema = object({
  train_batch_size: posInt,
  train_micro_batch_size_per_gpu: posInt,
  gradient_accumulation_steps: posInt,
  gradient_clipping: nonNeg,
  steps_per_print: posInt,
  wall_clock_breakdown: bool,
  prescale_gradients: bool,
  gradient_predivide_factor: { type: 'number', exclusiveMinimum: 0 },
  communication_data_type: { enum: ['fp32', 'fp16', 'bf16', null] },
  optimizer: object({ type: { type: 'string' }, params: { type: 'object' } }, ['type']),
  scheduler: object({ type: { type: 'string' }, params: { type: 'object' } }, ['type']),
  fp16: fp16Schema,
  bf16: bf16Schema,
  zero_optimization: zeroOptimizationSchema,
});

const betas: Schema = { type: 'array', items: prob, minItems: 2, maxItems: 2 };

export const optimizerParamsSchemas: Record<'Adam' | 'AdamW' | 'SGD', Schema> = {
  Adam: object({
    lr: nonNeg,
    betas,
    eps: nonNeg,
    weight_decay: nonNeg,
    adam_w_mode: bool,
    bias_correction: bool,
    amsgrad: { const: false },
    torch_adam: bool,
    fused: bool,
  }),
  AdamW: object({
    lr: nonNeg,
    betas,
    eps: nonNeg,
    weight_decay: nonNeg,
    adam_w_mode: { const: true },
    bias_correction: bool,
    amsgrad: { const: false },
    torch_adam: bool,
    fused: bool,
  }),
  SGD: object({ lr: nonNeg, momentum: nonNeg, dampening: nonNeg, weight_decay: nonNeg, nesterov: bool }),
};

const warmup = {
  warmup_min_lr: nonNeg,
  warmup_max_lr: nonNeg,
  warmup_num_steps: nonNegInt,
  warmup_type: warmupType,
  last_batch_iteration: { type: 'integer' },
};

export const schedulerParamsSchemas: Record<'WarmupLR' | 'WarmupDecayLR' | 'WarmupCosineLR', Schema> = {
  WarmupLR: object(warmup),
  WarmupDecayLR: object({ ...warmup, total_num_steps: posInt }, ['total_num_steps']),
  WarmupCosineLR: object(
    {
      total_num_steps: posInt,
      warmup_min_ratio: nonNeg,
      warmup_num_steps: nonNegInt,
      cos_min_ratio: nonNeg,
      warmup_type: warmupType,
      last_batch_iteration: { type: 'integer' },
    },
    ['total_num_steps'],
  ),
};
