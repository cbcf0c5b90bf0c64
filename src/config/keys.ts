// The DeepSpeed config keys zerots knows by name beyond the schema: what it sets aside and why. DeepSpeed reads its
// top level by key lookups, so a key it does not look up is silently ignored there; zerots still refuses keys it has
// never heard of (a typo such as "train_batch_sise" would otherwise train a different job), but every key DeepSpeed
// itself accepts is either honoured, accepted without effect (listed once), warned about, or refused because it
// selects a feature zerots does not implement.

/** DeepSpeed optimizers zerots does not implement (lower case, as DeepSpeed compares them). */
export const OTHER_DS_OPTIMIZERS = [
  'lamb',
  'onebitadam',
  'onebitlamb',
  'zerooneadam',
  'adagrad',
  'muadam',
  'muadamw',
  'musgd',
  'lion',
  'adam_w',
  'muon',
];
export const OTHER_DS_SCHEDULERS = ['LRRangeTest', 'OneCycle'];

/** Top-level keys accepted without effect: monitoring, profiling and tooling, not the training math. */
export const INERT_TOP_LEVEL = [
  'tensorboard',
  'wandb',
  'csv_monitor',
  'comet',
  'flops_profiler',
  'comms_logger',
  'memory_breakdown',
  'dump_state',
  'zero_allow_untested_optimizer',
  'zero_force_ds_cpu_optimizer',
  'timers',
  'autotuning',
  'dataloader_drop_last',
  'graph_harvesting',
  'disable_allgather',
  'use_data_before_expert_parallelism',
];

/** Top-level keys in the schema (so their values are checked) that do not change what zerots does. */
export const INERT_CHECKED_TOP_LEVEL = [
  'steps_per_print',
  'wall_clock_breakdown',
  'prescale_gradients',
  'gradient_predivide_factor',
];

/**
 * Top-level keys DeepSpeed ignores or hands to another component: accepted with a warning that says what zerots
 * does instead (the value is not used).
 */
export const WARNED_TOP_LEVEL: Record<string, string> = {
  comms_config: 'DeepSpeed reads communication settings elsewhere; zerots takes them from the launcher (--transport)',
  monitor_config: 'DeepSpeed reads monitors from top-level tensorboard/wandb/csv_monitor; zerots logs with --log',
  checkpoint: 'zerots saves and resumes with --save-dir/--resume; the DeepSpeed checkpoint block is not read',
  compile: 'zerots runs its own wasm kernels; there is nothing to compile',
  seq_parallel_communication_data_type: 'zerots has no sequence parallelism',
};

/** Top-level DeepSpeed features zerots lacks: refused unless present and disabled. */
export const UNSUPPORTED_TOP_LEVEL = [
  'amp',
  'sparse_attention',
  'pipeline',
  'compression_training',
  'elasticity',
  'curriculum_learning',
  'data_efficiency',
  'quantize_training',
  'weight_quantization',
  'nebula',
  'hybrid_engine',
  'torch_autocast',
  'sparse_gradients',
  'eigenvalue',
  'progressive_layer_drop',
  'tensor_parallel',
];

/**
 * zero_optimization keys under DeepSpeed's own field names, with the aliases DeepSpeed accepts for them (the stage3_
 * forms, and the deprecated fp16 spelling). zerots reads the field names; an alias is renamed before validation.
 */
export const ZERO_ALIASES: Record<string, readonly string[]> = {
  prefetch_bucket_size: ['stage3_prefetch_bucket_size'],
  param_persistence_threshold: ['stage3_param_persistence_threshold'],
  model_persistence_threshold: ['stage3_model_persistence_threshold'],
  max_live_parameters: ['stage3_max_live_parameters'],
  max_reuse_distance: ['stage3_max_reuse_distance'],
  gather_16bit_weights_on_model_save: [
    'stage3_gather_16bit_weights_on_model_save',
    'stage3_gather_fp16_weights_on_model_save',
  ],
  module_granularity_threshold: ['stage3_module_granularity_threshold'],
  use_all_reduce_for_fetch_params: ['stage3_use_all_reduce_for_fetch_params'],
};

/** zero_optimization keys accepted without effect in zerots (performance or checkpoint knobs of DeepSpeed's). */
export const INERT_ZERO = [
  'contiguous_gradients',
  'allgather_partitions',
  'allgather_bucket_size',
  'load_from_fp32_weights',
  'elastic_checkpoint',
  'round_robin_gradients',
  'ignore_unused_parameters',
  'model_persistence_threshold',
  'gather_16bit_weights_on_model_save',
  'module_granularity_threshold',
  'use_all_reduce_for_fetch_params',
  'memory_efficient_linear',
  'pipeline_loading_checkpoint',
  'override_module_apply',
  'use_multi_rank_bucket_allreduce',
  'mics_hierarchical_params_gather',
];

/**
 * zero_optimization keys that act only under optimizer offload: sub_group_size cuts the offloaded state into
 * sub-groups (src/zero/offload/sub-groups.ts); on the device the state is one block per parameter group.
 */
export const OFFLOAD_ONLY_ZERO = ['sub_group_size'];

/** offload_optimizer keys the NVMe swap reads (src/zero/offload/nvme-store.ts); inert for device "cpu". */
export const NVME_OPTIMIZER_OFFLOAD = ['buffer_count', 'pipeline', 'pipeline_read', 'pipeline_write'];

/** offload_param keys the nvme parameter shard reads (src/zero/offload/nvme-param-shard.ts); inert for "cpu". */
export const NVME_PARAM_OFFLOAD = ['buffer_count', 'buffer_size', 'max_in_cpu'];

/** Offload keys accepted without effect, unless listed above for the placement in use (no pinning in host arenas). */
export const INERT_OFFLOAD = [
  'pin_memory',
  'buffer_count',
  'buffer_size',
  'max_in_cpu',
  'fast_init',
  'pipeline',
  'pipeline_read',
  'pipeline_write',
];

/** bf16 keys DeepSpeed defines besides enabled; fp16-only keys copied into a bf16 block are warned about. */
export const BF16_KEYS = ['enabled', 'immediate_grad_update', 'check_grad_overflow'];
