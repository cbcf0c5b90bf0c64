// A step-time model for planning beyond this machine: compute from the accelerator's FLOP/s, communication from
// the ZeRO paper's volumes (comm.ts) over a link of given bandwidth and per-hop latency, and for offload the
// host link and the host's optimizer step. Pure arithmetic on the inputs; no measurement.
//
// [Note: the step-time model]
//   compute  = k Psi tokens / (F * utilization), k = 6 (forward 2, backward 4), 8 with activation checkpointing
//   comm     = bytes / B + hops * alpha, bytes from commBytesPerRank (2 Psi (N-1)/N elements, 3 Psi for stage 3);
//              a ring reduce-scatter or all-gather takes N-1 hops, an all-reduce 2 (N-1); collectives are issued
//              per bucket (stages 0-2: reduce_bucket_size elements) and, in stage 3, per layer in forward and again
//              in backward
//   offload  = the gradient shard down and the 16-bit parameter shard up the host link, plus the host's AdamW over
//              the shard (parameters per second)
//   step     = compute + comm + offload without overlap; max(compute, comm) + offload with perfect overlap.
import { commBytesPerRank } from './comm.js';
import type { Stage } from './memory.js';

export interface Hardware {
  /** Peak accelerator FLOP/s (e.g. 989e12 for an H100's dense bf16). */
  flops: number;
  /** Achieved share of the peak (model FLOPs utilization), default 0.4. */
  utilization?: number;
  /** Per-rank link bandwidth, bytes/s (e.g. 50e9 for 400 Gb/s InfiniBand). */
  linkBytesPerSecond: number;
  /** Per-hop latency of a collective, seconds (e.g. 5e-6). */
  latencySeconds: number;
  /** Host link (PCIe), bytes/s, for offload (default 25e9). */
  hostBytesPerSecond?: number;
  /** Host optimizer throughput, parameters per second per rank, for offload (default 1e9). */
  hostAdamParamsPerSecond?: number;
}

export interface StepTimeInput {
  params: number;
  worldSize: number;
  stage: Stage;
  /** Tokens each rank processes per step (micro-batch x sequence x accumulation). */
  tokensPerRank: number;
  /** Transformer layers (stage 3 gathers per layer); default 1. */
  layers?: number;
  /** Element bytes of what is communicated (2 for bf16/fp16, 4 for fp32). */
  elementBytes?: number;
  /** reduce_bucket_size in elements (default DeepSpeed's 5e8). */
  bucketElements?: number;
  offload?: boolean;
  checkpointing?: boolean;
  hw: Hardware;
}

export interface StepTime {
  computeSeconds: number;
  commSeconds: number;
  /** The latency part of commSeconds. */
  latencySeconds: number;
  commBytesPerRank: number;
  offloadSeconds: number;
  /** Without overlap. */
  stepSeconds: number;
  /** With communication fully hidden behind compute where it can be. */
  overlappedSeconds: number;
  /** commSeconds / stepSeconds. */
  commShare: number;
}

export function stepTime(x: StepTimeInput): StepTime {
  const N = x.worldSize;
  const P = x.params;
  const eb = x.elementBytes ?? 2;
  const hw = x.hw;
  const flopsPerToken = (x.checkpointing ? 8 : 6) * P;
  const computeSeconds = (flopsPerToken * x.tokensPerRank) / (hw.flops * (hw.utilization ?? 0.4));
  const bytes = N > 1 ? commBytesPerRank(P, N, x.stage, eb) : 0;
  const buckets = Math.max(1, Math.ceil(P / (x.bucketElements ?? 5e8)));
  const layers = x.layers ?? 1;
  // stages 0-2: per bucket, an all-reduce (2 (N-1) hops) or a reduce-scatter and an all-gather (N-1 each)
  // stage 3: per layer an all-gather in forward and in backward, per bucket a reduce-scatter
  const hops = N <= 1 ? 0 : x.stage === 3 ? (2 * layers + buckets) * (N - 1) : 2 * buckets * (N - 1);
  const latencySeconds = hops * hw.latencySeconds;
  const commSeconds = bytes / hw.linkBytesPerSecond + latencySeconds;
  const shard = P / N;
  const offloadSeconds = x.offload
    ? (2 * eb * shard) / (hw.hostBytesPerSecond ?? 25e9) + shard / (hw.hostAdamParamsPerSecond ?? 1e9)
    : 0;
  const stepSeconds = computeSeconds + commSeconds + offloadSeconds;
  return {
    computeSeconds,
    commSeconds,
    latencySeconds,
    commBytesPerRank: bytes,
    offloadSeconds,
    stepSeconds,
    overlappedSeconds: Math.max(computeSeconds, commSeconds) + offloadSeconds,
    commShare: stepSeconds > 0 ? commSeconds / stepSeconds : 0,
  };
}
