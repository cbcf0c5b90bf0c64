// policyFromConfig: the three composed parts a config selects (architecture.md, "Stages are composition, not
// flags"), decided once, here; the engine builds the parts the policy names and never looks at the stage again.
// Unsupported combinations are refused here with a message that says what to change.
import { ConfigError } from '../errors.js';
import type { ZeroConfig } from './types.js';

export type Precision = 'fp32' | 'bf16' | 'fp16';
/** Where optimizer state lives: the device, host memory (offload "cpu"), or swap files streamed via host ("nvme"). */
export type Placement = 'device' | 'host' | 'nvme';

/** How "nvme" placement streams sub-groups (offload_optimizer's nvme keys). */
export interface NvmeSwapPolicy {
  readonly path: string; // nvme_path: the directory that gets this run's swap files
  readonly bufferCount: number; // buffer_count: host buffers the sub-groups stream through (>= 2)
  readonly pipelineRead: boolean; // read sub-group k+1 while k is stepped
  readonly pipelineWrite: boolean; // write sub-group k-1 while k is stepped
  readonly ioThreads?: number; // aio.thread_count (absent: 2): the swap's I/O worker threads
  readonly blockBytes?: number | null; // aio.block_size: the largest single read or write; null: node:fs's limit
}

/**
 * - 'allreduce': bucketed all-reduce of full gradients; every rank keeps them all (stage 0; stage 1 with
 *   reduce_scatter false).
 * - 'reduce-scatter-after-backward': full gradients accumulate during backward; after it each bucket is
 *   reduce-scattered and the rank keeps its own partition (stage 1).
 * - 'reduce-scatter-during-backward': each bucket is reduce-scattered as soon as all its gradients are ready and the
 *   rank frees what it does not own (stages 2 and 3).
 */
export type GradientReducerKind = 'allreduce' | 'reduce-scatter-after-backward' | 'reduce-scatter-during-backward';

/**
 * - 'replicated': every rank holds all parameters and updates them all (stage 0).
 * - 'allgather-after-step': every rank holds all 16-bit parameters; after the step each rank's updated partition is
 *   all-gathered (stages 1, 2).
 * - 'gather-per-module': parameters live as shards; a module's are gathered before its forward and backward and
 *   released after, with prefetch (stage 3).
 */
export type ParameterFetcherKind = 'replicated' | 'allgather-after-step' | 'gather-per-module';

export interface ZeroPolicy {
  readonly stage: 0 | 1 | 2 | 3;
  readonly precision: Precision;
  /** 'dynamic' (fp16 with loss_scale 0), 'static' (fp16 with loss_scale > 0) or 'none'. */
  readonly lossScaling: 'none' | 'static' | 'dynamic';
  readonly gradientReducer: {
    readonly kind: GradientReducerKind;
    readonly bucketElements: number; // reduce_bucket_size
    readonly overlapComm: boolean; // overlap_comm: use the async collectives
    /** communication_data_type: the dtype of the reduction (default: the training precision, as DeepSpeed). */
    readonly commPrecision: Precision;
  };
  readonly parameterFetcher: {
    readonly kind: ParameterFetcherKind;
    readonly prefetchElements: number; // stage3_prefetch_bucket_size
    readonly persistenceThreshold: number; // stage3_param_persistence_threshold: params this small stay gathered
    readonly maxLiveElements: number; // stage3_max_live_parameters
    readonly maxReuseDistance: number; // stage3_max_reuse_distance
  };
  readonly optimizerState: {
    /** false: every rank keeps the full optimizer state (stage 0). */
    readonly partitioned: boolean;
    readonly placement: Placement; // offload_optimizer.device cpu -> 'host', nvme -> 'nvme'
    /** Elements per sub-group of an offloaded step (sub_group_size; 0: no limit but the arena's). */
    readonly subGroupElements: number;
    /** Set when placement is 'nvme'. */
    readonly nvme: NvmeSwapPolicy | null;
  };
  /**
   * Where the reduced gradient shard goes: 'host' when the optimizer is offloaded and gradients are partitioned
   * during backward (stages 2, 3: each bucket's chunk to the host as it is reduced, ZeRO-Offload); else 'device'.
   */
  readonly gradShardPlacement: 'device' | 'host';
  /** Where a stage-3 rank keeps its parameter shard between uses; 'device' for stages 0-2. */
  readonly paramShardPlacement: Placement;
  /** offload_param "nvme": the directory that gets the shard's swap file (offload_param.nvme_path); else null. */
  readonly paramShardNvmePath: string | null;
  /**
   * offload_param "nvme": the host buffers the shard streams through (buffer_count of buffer_size elements, clamped
   * to MAX_PARAM_BUFFER_ELEMENTS) and the elements kept in host memory (max_in_cpu); else null.
   */
  readonly paramShardNvme: {
    readonly bufferCount: number;
    readonly bufferElements: number;
    readonly maxInCpu: number;
    /** aio.thread_count (default 1) and aio.block_size, as the optimizer's swap */
    readonly ioThreads: number;
    readonly blockBytes: number | null;
  } | null;
}

/** The most elements one offload_param buffer holds (2 GiB of fp32: one host allocation stays under 4 GiB). */
export const MAX_PARAM_BUFFER_ELEMENTS = 2 ** 29;

export function policyFromConfig(config: ZeroConfig): ZeroPolicy {
  const z = config.zero;
  if (config.fp16.enabled && config.bf16.enabled) {
    throw new ConfigError(
      'config enables both "fp16.enabled" and "bf16.enabled"; enable at most one of them (bf16 needs no loss scaling).',
      'bf16.enabled',
    );
  }
  if (z.offloadParam.device !== 'none' && z.stage !== 3) {
    throw new ConfigError(
      `config "zero_optimization.offload_param.device" = "${z.offloadParam.device}" needs zero_optimization.stage 3 (got ${z.stage}): ` +
        `only stage 3 partitions parameters. Set "stage": 3, or remove offload_param.`,
      'zero_optimization.offload_param.device',
    );
  }
  if (z.offloadOptimizer.device !== 'none' && z.stage === 0) {
    throw new ConfigError(
      `config "zero_optimization.offload_optimizer.device" = "${z.offloadOptimizer.device}" needs ` +
        `zero_optimization.stage 1, 2 or 3 (got 0); ` +
        `set a stage, or remove offload_optimizer.`,
      'zero_optimization.offload_optimizer.device',
    );
  }
  if (z.offloadParam.device !== 'none' && z.offloadOptimizer.device === 'none') {
    throw new ConfigError(
      `config "zero_optimization.offload_param.device" = "${z.offloadParam.device}" needs ` +
        '"zero_optimization.offload_optimizer.device" = "cpu" or "nvme" too (the offloaded update writes the offloaded ' +
        'parameters); add offload_optimizer, or remove offload_param.',
      'zero_optimization.offload_param.device',
    );
  }
  const oo = z.offloadOptimizer;
  if (oo.device === 'nvme' && oo.bufferCount < 2) {
    throw new ConfigError(
      `config "zero_optimization.offload_optimizer.buffer_count" = ${oo.bufferCount}: nvme offload streams sub-groups ` +
        'through at least 2 host buffers (one stepped, one read or written); use 2 or more (default 4).',
      'zero_optimization.offload_optimizer.buffer_count',
    );
  }
  if (z.offloadOptimizer.device !== 'none' && z.offloadOptimizer.ratio !== 1) {
    throw new ConfigError(
      `config "zero_optimization.offload_optimizer.ratio" = ${z.offloadOptimizer.ratio}: partial offload is not ` +
        `implemented; remove the key (ratio 1).`,
      'zero_optimization.offload_optimizer.ratio',
    );
  }
  if (z.stage === 2 && !z.reduceScatter) {
    throw new ConfigError(
      'config "zero_optimization.reduce_scatter" = false with stage 2 is not supported: stage 2 partitions ' +
        'gradients by reduce-scatter. Remove the key (default true), or use stage 1.',
      'zero_optimization.reduce_scatter',
    );
  }
  const precision = config.fp16.enabled ? 'fp16' : config.bf16.enabled ? 'bf16' : 'fp32';
  const reducer: GradientReducerKind =
    z.stage === 0 || (z.stage === 1 && !z.reduceScatter)
      ? 'allreduce'
      : z.stage === 1
        ? 'reduce-scatter-after-backward'
        : 'reduce-scatter-during-backward';
  const fetcher: ParameterFetcherKind =
    z.stage === 0 ? 'replicated' : z.stage === 3 ? 'gather-per-module' : 'allgather-after-step';
  return Object.freeze({
    stage: z.stage,
    precision,
    lossScaling: precision !== 'fp16' ? 'none' : config.fp16.lossScale > 0 ? 'static' : 'dynamic',
    // reduce_bucket_size 0 (DeepSpeed accepts it): every parameter is its own bucket, as a 1-element budget gives.
    gradientReducer: Object.freeze({
      kind: reducer,
      bucketElements: Math.max(1, z.reduceBucketSize),
      overlapComm: z.overlapComm,
      commPrecision: config.communicationDataType ?? precision,
    }),
    parameterFetcher: Object.freeze({
      kind: fetcher,
      prefetchElements: z.stage3PrefetchBucketSize,
      persistenceThreshold: z.stage3ParamPersistenceThreshold,
      maxLiveElements: z.stage3MaxLiveParameters,
      maxReuseDistance: z.stage3MaxReuseDistance,
    }),
    optimizerState: Object.freeze({
      partitioned: z.stage > 0,
      placement: oo.device === 'cpu' ? 'host' : oo.device === 'nvme' ? 'nvme' : 'device',
      subGroupElements: z.subGroupSize,
      nvme:
        oo.device === 'nvme'
          ? Object.freeze({
              path: oo.nvmePath!,
              bufferCount: oo.bufferCount,
              pipelineRead: oo.pipelineRead,
              pipelineWrite: oo.pipelineWrite,
              ioThreads: config.aio.threadCount ?? 2,
              blockBytes: config.aio.blockSize,
            })
          : null,
    }),
    gradShardPlacement: oo.device !== 'none' && reducer === 'reduce-scatter-during-backward' ? 'host' : 'device',
    paramShardPlacement:
      z.offloadParam.device === 'cpu' ? 'host' : z.offloadParam.device === 'nvme' ? 'nvme' : 'device',
    paramShardNvmePath: z.offloadParam.device === 'nvme' ? z.offloadParam.nvmePath : null,
    paramShardNvme:
      z.offloadParam.device === 'nvme'
        ? Object.freeze({
            bufferCount: z.offloadParam.bufferCount,
            bufferElements: Math.max(1, Math.min(Math.floor(z.offloadParam.bufferSize), MAX_PARAM_BUFFER_ELEMENTS)),
            maxInCpu: Math.max(0, Math.floor(z.offloadParam.maxInCpu)),
            ioThreads: config.aio.threadCount ?? 1,
            blockBytes: config.aio.blockSize,
          })
        : null,
  } as const);
}
