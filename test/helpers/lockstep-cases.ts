// Shared by the lockstep tests: the tiny GPT (uneven shapes: the last partition is padded at every world size
// 2..4), the deterministic data, and the DeepSpeed config for a case.
import type { GPTConfig } from '../../src/nn/gpt.js';

export const GPT_TINY: GPTConfig = { vocabSize: 23, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 10, seed: 7 };
export const MICRO = 2;
export const LR = 3e-3;

export interface LockstepCase {
  stage: 0 | 1 | 2 | 3;
  precision: 'fp32' | 'bf16' | 'fp16';
  worldSize: number;
  gas: number;
  steps: number;
  clip: number;
  kernels: 'js' | 'wasm';
  /** stage 3: gather/release everything (persistence 0, reuse distance 0) */
  strict3?: boolean;
  bucket?: number;
  /** fp16 initial_scale_power (default 8) */
  scalePower?: number;
  /** zero_optimization.overlap_comm (default: the config's default); the ranks then also use a progress thread */
  overlap?: boolean;
  /** offload_optimizer to host memory */
  offload?: boolean;
  /** offload_param to host memory too (stage 3) */
  offloadParam?: boolean;
  /** offload_param to a swap file under this directory (nvme; stage 3) */
  paramNvme?: string;
  /** its buffer_count, buffer_size and max_in_cpu (default: the config's, but max_in_cpu 0: all of it on disk) */
  paramBuffers?: { count?: number; size?: number; maxInCpu?: number };
  /** offload_optimizer to swap files under this directory (nvme) instead of host memory */
  nvme?: { path: string; bufferCount: number; pipelineRead: boolean; pipelineWrite: boolean };
  /** zero_optimization.sub_group_size */
  subGroup?: number;
  /** threads of the offloaded step */
  offloadThreads?: number;
  /** stage 3 knobs (element counts) overriding strict3's */
  stage3?: { persistence?: number; reuse?: number; prefetch?: number; maxLive?: number };
  /** activation checkpointing of every block (issue 9); 'cpu': activation_checkpointing.cpu_checkpointing */
  checkpoint?: 'device' | 'cpu';
  /** the aio block: swap I/O worker threads and the largest single read or write (bytes) */
  aio?: { threadCount: number; blockSize: number };
}

/** Sequence s of the data set (token ids < vocabSize); inputs and next-token targets. */
export function sequence(step: number, s: number): { inputs: number[]; targets: number[] } {
  const T = GPT_TINY.blockSize;
  const toks = Array.from({ length: T + 1 }, (_, t) => (step * 131 + s * 17 + t * t * 5 + t * 3) % GPT_TINY.vocabSize);
  return { inputs: toks.slice(0, T), targets: toks.slice(1) };
}

/** The micro-batch rank r uses at micro-step k: sequences (k*N + r)*MICRO .. +MICRO of the global batch. */
export function microBatch(
  step: number,
  k: number,
  rank: number,
  worldSize: number,
): { inputs: number[][]; targets: number[][] } {
  const seqs = Array.from({ length: MICRO }, (_, i) => sequence(step, (k * worldSize + rank) * MICRO + i));
  return { inputs: seqs.map((q) => q.inputs), targets: seqs.map((q) => q.targets) };
}

export function dsConfig(c: LockstepCase): Record<string, unknown> {
  return {
    train_micro_batch_size_per_gpu: MICRO,
    gradient_accumulation_steps: c.gas,
    gradient_clipping: c.clip,
    optimizer: { type: 'AdamW', params: { lr: LR, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 } },
    fp16: { enabled: c.precision === 'fp16', initial_scale_power: c.scalePower ?? 8 },
    bf16: { enabled: c.precision === 'bf16' },
    ...(c.checkpoint === 'cpu' ? { activation_checkpointing: { cpu_checkpointing: true } } : {}),
    ...(c.aio === undefined ? {} : { aio: { thread_count: c.aio.threadCount, block_size: c.aio.blockSize } }),
    zero_optimization: {
      stage: c.stage,
      reduce_bucket_size: c.bucket ?? 300,
      ...(c.overlap === undefined ? {} : { overlap_comm: c.overlap }),
      ...(c.offload && c.nvme === undefined ? { offload_optimizer: { device: 'cpu' } } : {}),
      ...(c.nvme === undefined
        ? {}
        : {
            offload_optimizer: {
              device: 'nvme',
              nvme_path: c.nvme.path,
              buffer_count: c.nvme.bufferCount,
              pipeline_read: c.nvme.pipelineRead,
              pipeline_write: c.nvme.pipelineWrite,
            },
          }),
      ...(c.subGroup === undefined ? {} : { sub_group_size: c.subGroup }),
      ...(c.offloadParam ? { offload_param: { device: 'cpu' } } : {}),
      ...(c.paramNvme === undefined
        ? {}
        : {
            offload_param: {
              device: 'nvme',
              nvme_path: c.paramNvme,
              max_in_cpu: c.paramBuffers?.maxInCpu ?? 0,
              ...(c.paramBuffers?.count === undefined ? {} : { buffer_count: c.paramBuffers.count }),
              ...(c.paramBuffers?.size === undefined ? {} : { buffer_size: c.paramBuffers.size }),
            },
          }),
      ...(c.strict3
        ? { stage3_param_persistence_threshold: 0, stage3_max_reuse_distance: 0, stage3_prefetch_bucket_size: 0 }
        : {}),
      ...(c.stage3 === undefined
        ? {}
        : {
            stage3_param_persistence_threshold: c.stage3.persistence ?? 0,
            stage3_max_reuse_distance: c.stage3.reuse ?? 0,
            stage3_prefetch_bucket_size: c.stage3.prefetch ?? 0,
            stage3_max_live_parameters: c.stage3.maxLive ?? 1e9,
          }),
    },
  };
}
