// resolveConfig: DeepSpeed JSON -> a frozen, fully-defaulted, typed ZeroConfig. Defaults are DeepSpeed's
// (DeepSpeed's documented config defaults). Order: aliases and refusals (normalize.ts), the schema (schema.ts via ajv),
// per-type optimizer/scheduler params, values of DeepSpeed-only features, then the batch triple.
import { ConfigError } from '../errors.js';
import { resolveBatch } from './batch.js';
import {
  INERT_CHECKED_TOP_LEVEL,
  INERT_OFFLOAD,
  INERT_ZERO,
  NVME_OPTIMIZER_OFFLOAD,
  NVME_PARAM_OFFLOAD,
  OFFLOAD_ONLY_ZERO,
} from './keys.js';
import { normalize } from './normalize.js';
import { resolveActivationCheckpointing } from './activation-checkpointing.js'; // issue 9
import { resolveAio } from './aio.js';
import { optimizerParamsSchemas, schedulerParamsSchemas, topLevelSchema } from './schema.js';
import type {
  OffloadOptimizerConfig,
  OffloadParamConfig,
  OptimizerConfig,
  SchedulerConfig,
  ZeroConfig,
  ZeroOptimizationConfig,
} from './types.js';
import { validateAgainst } from './validate.js';
import type { FilledValue } from './auto.js';
import { modelSizedDefaults } from './model-sized.js';

// biome-ignore lint/suspicious/noExplicitAny: the object was checked against the schema above
type Json = Record<string, any>;

/** Whether `c` is already a resolveConfig result (frozen, with zero and worldSize): callers accept either form. */
export function isResolvedConfig(c: unknown): c is ZeroConfig {
  return typeof c === 'object' && c !== null && 'zero' in c && 'worldSize' in c && Object.isFrozen(c);
}

export interface ResolveOptions {
  /** Data-parallel world size (from the launcher or process group). */
  worldSize: number;
  /**
   * The model's hidden size: sizes the bucket keys the config leaves unset (model-sized.ts); without it they get
   * DeepSpeed's defaults.
   */
  hiddenSize?: number;
}

export function resolveConfig(input: unknown, opts: ResolveOptions): ZeroConfig {
  if (!Number.isInteger(opts.worldSize) || opts.worldSize < 1) {
    throw new ConfigError(`worldSize = ${String(opts.worldSize)} must be a whole number >= 1.`, 'worldSize');
  }
  // issue 9: activation_checkpointing is resolved here (normalize() sets the block aside)
  const activationCheckpointing = resolveActivationCheckpointing(
    input !== null && typeof input === 'object' ? (input as Json).activation_checkpointing : undefined,
  );
  const aio = resolveAio(input !== null && typeof input === 'object' ? (input as Json).aio : undefined);
  const normalized = normalize(input);
  const json = normalized.json as Json;
  validateAgainst(topLevelSchema, json, '');
  const ignoredKeys = [...normalized.ignoredKeys, ...aio.ignoredKeys, ...inertKeys(json)];
  const optimizer = json.optimizer === undefined ? null : resolveOptimizer(json.optimizer);
  const scheduler = json.scheduler === undefined ? null : resolveScheduler(json.scheduler);
  const { sized: zeroSized, ...zeroConfig } = resolveZero(json.zero_optimization ?? {}, opts.hiddenSize);
  const batch = resolveBatch(
    json.train_batch_size,
    json.train_micro_batch_size_per_gpu,
    json.gradient_accumulation_steps,
    opts.worldSize,
  );
  const fp16: Json = json.fp16 ?? {};
  if (fp16.fp16_master_weights_and_grads === true) {
    throw new ConfigError(
      'config "fp16.fp16_master_weights_and_grads" = true is not supported by zerots: master weights are always fp32. Remove the key.',
      'fp16.fp16_master_weights_and_grads',
    );
  }
  const config: ZeroConfig = {
    worldSize: opts.worldSize,
    trainBatchSize: batch.trainBatchSize,
    trainMicroBatchSizePerGpu: batch.micro,
    gradientAccumulationSteps: batch.accumulation,
    gradientClipping: json.gradient_clipping ?? 0,
    optimizer,
    scheduler,
    fp16: {
      enabled: fp16.enabled ?? false,
      lossScale: fp16.loss_scale ?? 0,
      initialScalePower: fp16.initial_scale_power ?? 16,
      lossScaleWindow: fp16.loss_scale_window ?? 1000,
      hysteresis: fp16.hysteresis ?? 2,
      consecutiveHysteresis: fp16.consecutive_hysteresis ?? false,
      minLossScale: fp16.min_loss_scale ?? 1,
    },
    bf16: { enabled: json.bf16?.enabled ?? false },
    zero: zeroConfig,
    sizedFromModel: zeroSized,
    stepsPerPrint: json.steps_per_print ?? 10,
    wallClockBreakdown: json.wall_clock_breakdown ?? false,
    prescaleGradients: json.prescale_gradients ?? false,
    gradientPredivideFactor: json.gradient_predivide_factor ?? 1,
    communicationDataType: json.communication_data_type ?? null,
    ignoredKeys,
    warnings: [...normalized.warnings, ...activationCheckpointing.warnings], // issue 9: activation_checkpointing's
    activationCheckpointing, // issue 9
    aio: aio.aio,
  };
  return deepFreeze(config);
}

function resolveOptimizer(o: Json): OptimizerConfig {
  const type = o.type as 'Adam' | 'AdamW' | 'SGD';
  const p: Json = o.params ?? {};
  validateAgainst(optimizerParamsSchemas[type], p, 'optimizer.params');
  if (type === 'SGD') {
    return {
      type,
      params: {
        lr: p.lr ?? 1e-3,
        momentum: p.momentum ?? 0,
        dampening: p.dampening ?? 0,
        weightDecay: p.weight_decay ?? 0,
        nesterov: p.nesterov ?? false,
      },
    };
  }
  return {
    type,
    params: {
      lr: p.lr ?? 1e-3,
      betas: [p.betas?.[0] ?? 0.9, p.betas?.[1] ?? 0.999],
      eps: p.eps ?? 1e-8,
      weightDecay: p.weight_decay ?? 0,
      // DeepSpeed: effective adam_w_mode = (type is AdamW) or adam_w_mode, whose default is true.
      adamWMode: type === 'AdamW' ? true : (p.adam_w_mode ?? true),
      biasCorrection: p.bias_correction ?? true,
    },
  };
}

function resolveScheduler(s: Json): SchedulerConfig {
  const type = s.type as 'WarmupLR' | 'WarmupDecayLR' | 'WarmupCosineLR';
  const p: Json = s.params ?? {};
  validateAgainst(schedulerParamsSchemas[type], p, 'scheduler.params');
  if (type === 'WarmupCosineLR') {
    return {
      type,
      params: {
        totalNumSteps: p.total_num_steps,
        warmupMinRatio: p.warmup_min_ratio ?? 0,
        warmupNumSteps: p.warmup_num_steps ?? 1000,
        cosMinRatio: p.cos_min_ratio ?? 1e-4,
        warmupType: p.warmup_type ?? 'log',
      },
    };
  }
  const warm = {
    warmupMinLr: p.warmup_min_lr ?? 0,
    warmupMaxLr: p.warmup_max_lr ?? 1e-3,
    warmupNumSteps: p.warmup_num_steps ?? 1000,
    warmupType: p.warmup_type ?? 'log',
  };
  if (type === 'WarmupDecayLR') {
    if (p.total_num_steps < warm.warmupNumSteps) {
      throw new ConfigError(
        `config "scheduler.params.total_num_steps" = ${p.total_num_steps} must be >= warmup_num_steps (${warm.warmupNumSteps}).`,
        'scheduler.params.total_num_steps',
      );
    }
    return { type, params: { ...warm, totalNumSteps: p.total_num_steps } };
  }
  return { type, params: warm };
}

/** DeepSpeed keys accepted only at their defaults: other values select features zerots does not implement. */
const ONLY_DEFAULT: Record<string, unknown> = {
  legacy_stage1: false,
  zero_quantized_weights: false,
  zero_quantized_nontrainable_weights: false,
  zero_quantized_gradients: false,
  mics_shard_size: -1,
  zeropp_loco_param: null,
};

function resolveZero(z: Json, hiddenSize: number | undefined): ZeroOptimizationConfig & { sized: FilledValue[] } {
  // zero_hpz_partition_size 0 or 1 both mean one partition group (no hierarchical partitioning).
  if (z.zero_hpz_partition_size === 0) z.zero_hpz_partition_size = 1;
  for (const [k, def] of Object.entries({ ...ONLY_DEFAULT, zero_hpz_partition_size: 1 })) {
    if (k in z && z[k] !== def) {
      throw new ConfigError(
        `config "zero_optimization.${k}" = ${JSON.stringify(z[k])} selects a DeepSpeed feature zerots does not ` +
          `implement; remove the key or set it to ${JSON.stringify(def)}.`,
        `zero_optimization.${k}`,
      );
    }
  }
  const stage = (z.stage ?? 0) as 0 | 1 | 2 | 3;
  const sized = modelSizedDefaults(z, hiddenSize, stage);
  const sizedValue = (path: string) => sized.find((f) => f.path === path)?.value as number | undefined;
  const oo: Json = z.offload_optimizer ?? {};
  const op: Json = z.offload_param ?? {};
  const offloadOptimizer: OffloadOptimizerConfig = {
    device: oo.device ?? 'none',
    nvmePath: oo.nvme_path ?? null,
    pinMemory: oo.pin_memory ?? false,
    bufferCount: oo.buffer_count ?? 4,
    ratio: oo.ratio ?? 1,
    pipelineRead: oo.pipeline_read ?? oo.pipeline ?? false,
    pipelineWrite: oo.pipeline_write ?? oo.pipeline ?? false,
  };
  const offloadParam: OffloadParamConfig = {
    device: op.device ?? 'none',
    nvmePath: op.nvme_path ?? null,
    pinMemory: op.pin_memory ?? false,
    bufferCount: op.buffer_count ?? 5,
    bufferSize: op.buffer_size ?? 1e8,
    maxInCpu: op.max_in_cpu ?? 1e9,
  };
  for (const [key, o] of [
    ['offload_optimizer', offloadOptimizer],
    ['offload_param', offloadParam],
  ] as const) {
    if (o.device === 'nvme' && (o.nvmePath === null || o.nvmePath === '')) {
      throw new ConfigError(
        `config "zero_optimization.${key}.device" = "nvme" needs "zero_optimization.${key}.nvme_path" (a directory for the swap files).`,
        `zero_optimization.${key}.nvme_path`,
      );
    }
  }
  return {
    stage,
    contiguousGradients: z.contiguous_gradients ?? true,
    reduceScatter: z.reduce_scatter ?? true,
    reduceBucketSize: z.reduce_bucket_size ?? sizedValue('zero_optimization.reduce_bucket_size') ?? 5e8,
    allgatherPartitions: z.allgather_partitions ?? true,
    allgatherBucketSize: z.allgather_bucket_size ?? 5e8,
    overlapComm: z.overlap_comm ?? stage === 3, // DeepSpeed turns overlap on by default for stage 3 only
    loadFromFp32Weights: z.load_from_fp32_weights ?? true,
    elasticCheckpoint: z.elastic_checkpoint ?? false,
    offloadOptimizer,
    offloadParam,
    subGroupSize: z.sub_group_size ?? 1e9,
    stage3PrefetchBucketSize:
      z.prefetch_bucket_size ?? sizedValue('zero_optimization.stage3_prefetch_bucket_size') ?? 5e7,
    stage3ParamPersistenceThreshold:
      z.param_persistence_threshold ?? sizedValue('zero_optimization.stage3_param_persistence_threshold') ?? 1e5,
    stage3MaxLiveParameters: z.max_live_parameters ?? 1e9,
    stage3MaxReuseDistance: z.max_reuse_distance ?? sizedValue('zero_optimization.stage3_max_reuse_distance') ?? 1e9,
    stage3Gather16bitWeightsOnModelSave: z.gather_16bit_weights_on_model_save ?? false,
    roundRobinGradients: z.round_robin_gradients ?? false,
    ignoreUnusedParameters: z.ignore_unused_parameters ?? true,
    sized,
  };
}

/** Key paths present in the (normalized, validated) config that zerots accepts without acting on them. */
function inertKeys(json: Json): string[] {
  const out = INERT_CHECKED_TOP_LEVEL.filter((k) => k in json);
  const z: Json = json.zero_optimization ?? {};
  const offloaded = (o: string) => z[o]?.device === 'cpu' || z[o]?.device === 'nvme';
  for (const k of INERT_ZERO) if (k in z) out.push(`zero_optimization.${k}`);
  for (const k of OFFLOAD_ONLY_ZERO) if (k in z && !offloaded('offload_optimizer')) out.push(`zero_optimization.${k}`);
  for (const o of ['offload_optimizer', 'offload_param']) {
    const acting =
      z[o]?.device !== 'nvme' ? [] : o === 'offload_optimizer' ? NVME_OPTIMIZER_OFFLOAD : NVME_PARAM_OFFLOAD;
    for (const k of INERT_OFFLOAD)
      if (z[o] !== undefined && k in z[o] && !acting.includes(k)) out.push(`zero_optimization.${o}.${k}`);
  }
  if (json.bf16?.immediate_grad_update !== undefined) out.push('bf16.immediate_grad_update');
  if (json.bf16?.check_grad_overflow !== undefined) out.push('bf16.check_grad_overflow');
  if (json.fp16?.auto_cast !== undefined) out.push('fp16.auto_cast');
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    for (const v of Object.values(o as object)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
