// Driver of `zerots train --world-size N`: validates the DeepSpeed config here (so a bad key fails before any worker
// starts), spawns N thread ranks running trainZeroRank (zero-rank.ts) and condenses their results into one report.
import { spawnWorld } from '../launch/spawn.js';
import { resolveConfig } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import type { GPTConfig } from '../nn/gpt.js';
import type { ZeroTrainRankResult, ZeroTrainSpec } from './zero-rank.js';

/**
 * The config `zerots train` uses without --config: ZeRO stage 2, fp32 (bf16 off), AdamW as GPT-2 trains, and
 * DeepSpeed's WarmupCosineLR over the run (10% warmup, decay to a tenth).
 */
export function defaultZeroConfig(
  steps: number,
  o: { microBatch?: number; lr?: number; clip?: number } = {},
): Record<string, unknown> {
  return {
    train_micro_batch_size_per_gpu: o.microBatch ?? 8,
    gradient_accumulation_steps: 1,
    gradient_clipping: o.clip ?? 1.0,
    optimizer: { type: 'AdamW', params: { lr: o.lr ?? 3e-3, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 } },
    scheduler: {
      type: 'WarmupCosineLR',
      params: {
        total_num_steps: steps,
        warmup_num_steps: Math.max(1, Math.round(steps / 10)),
        cos_min_ratio: 0.1,
        warmup_type: 'linear',
      },
    },
    bf16: { enabled: false },
    zero_optimization: { stage: 2 },
  };
}

export interface ZeroTrainOptions {
  worldSize: number;
  /** DeepSpeed JSON (already parsed); default defaultZeroConfig(steps). */
  config?: unknown;
  steps: number;
  model: GPTConfig;
  /** Report the mean loss every this many steps (default steps / 10). */
  logEvery?: number;
  /** Held-out micro-batches per rank (default 4). */
  evalBatches?: number;
  kernels?: 'wasm' | 'js';
  /** Device bytes per rank (default 512 MiB). */
  deviceBytes?: number;
  /** Where lines go; default: rank 0 prints live to stdout, the summary through console.log. */
  log?: (line: string) => void;
  timeoutMs?: number;
}

/** What a training run reports (single rank or ZeRO). */
export interface TrainReport {
  steps: number;
  /** tokens per optimizer step over all ranks */
  tokensPerStep: number;
  initialLoss: number;
  finalTrainLoss: number;
  /** held-out loss (with several ranks: the mean over ranks of each rank's share) */
  valLoss: number;
  seconds: number;
  tokensPerSecond: number;
}

/** A ZeRO training run: the single-rank report plus what the engine measured. */
export interface ZeroTrainReport extends TrainReport {
  worldSize: number;
  stage: number;
  precision: 'fp32' | 'bf16' | 'fp16';
  /** peak device bytes per rank */
  peakBytes: number[];
  commBytesPerStep: number;
  skippedSteps: number;
}

export async function trainZero(o: ZeroTrainOptions): Promise<ZeroTrainReport> {
  if (!(Number.isSafeInteger(o.steps) && o.steps > 0))
    throw new ConfigError(`steps = ${o.steps} must be a positive integer`, 'steps');
  const json = o.config ?? defaultZeroConfig(o.steps);
  const c = resolveConfig(json, { worldSize: o.worldSize });
  const T = o.model.blockSize;
  const tokensPerStep = c.trainBatchSize * T;
  const precision = c.bf16.enabled ? 'bf16' : c.fp16.enabled ? 'fp16' : 'fp32';
  const spec: ZeroTrainSpec = {
    config: json,
    model: o.model,
    steps: o.steps,
    logEvery: o.logEvery ?? Math.max(1, Math.round(o.steps / 10)),
    evalBatches: o.evalBatches ?? 4,
    kernels: o.kernels ?? 'wasm',
    deviceBytes: o.deviceBytes ?? 512 << 20,
    printLive: o.log === undefined,
  };
  const log = o.log ?? ((l: string) => console.log(l));
  log(
    `training GPT (${o.model.nLayer} layers, d ${o.model.nEmbd}, ${o.model.nHead} heads, context ${T}) on the shipped corpus with ` +
      `ZeRO stage ${c.zero.stage}, ${precision}, ${o.worldSize} thread rank${o.worldSize === 1 ? '' : 's'}, ${tokensPerStep} tokens/step ` +
      `(micro-batch ${c.trainMicroBatchSizePerGpu} x accumulation ${c.gradientAccumulationSteps} x ${o.worldSize} ranks), ${o.steps} steps`,
  );
  const res = await spawnWorld<ZeroTrainRankResult>({
    worldSize: o.worldSize,
    transport: 'threads',
    module: new URL('./zero-rank.js', import.meta.url),
    fn: 'trainZeroRank',
    args: spec,
    timeoutMs: o.timeoutMs ?? 3_600_000,
  });
  const r0 = res[0];
  if (o.log !== undefined) for (const l of r0.lines) log(l);
  const valLoss = res.reduce((a, r) => a + r.valLoss, 0) / res.length;
  const report: ZeroTrainReport = {
    worldSize: o.worldSize,
    stage: c.zero.stage,
    precision,
    steps: o.steps,
    tokensPerStep,
    initialLoss: res.reduce((a, r) => a + r.losses[0], 0) / res.length,
    finalTrainLoss: r0.reported[r0.reported.length - 1].loss,
    valLoss,
    seconds: r0.seconds,
    tokensPerSecond: (o.steps * tokensPerStep) / r0.seconds,
    peakBytes: res.map((r) => r.peakBytes),
    commBytesPerStep: r0.commBytesLastStep,
    skippedSteps: r0.skipped,
  };
  log(
    `held-out loss ${valLoss.toFixed(4)} (mean over ${o.worldSize} rank${o.worldSize === 1 ? '' : 's'}) after ${o.steps} steps; ` +
      `${Math.round(report.tokensPerSecond)} tok/s; peak device memory per rank ` +
      `${(Math.max(...report.peakBytes) / 2 ** 20).toFixed(1)} MiB`,
  );
  log(JSON.stringify({ train: report }));
  return report;
}
