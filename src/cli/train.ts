// `zerots train`: GPT on the shipped corpus, reporting the training loss and the held-out loss.
// - `--world-size N` with N > 1, or N >= 1 with --config: the ZeRO engine on N thread ranks (src/train/zero-train.ts),
//   the DeepSpeed config (--config; default stage 2, fp32, AdamW, WarmupCosineLR) deciding stage, precision,
//   batch sizes, optimizer and schedule.
// - otherwise the single-rank trainer (src/train/trainer.ts); a --config supplies the micro-batch size, AdamW
//   settings, warmup and gradient clipping.
// The model size comes from `model` options (defaults below).
import { readFileSync } from 'node:fs';
import { Trainer, type TrainerOptions } from '../train/trainer.js';
import { resolveConfig } from '../config/resolve.js';
import type { GPTConfig } from '../nn/gpt.js';
import { ConfigError } from '../errors.js';
import { defaultZeroConfig, trainZero, type TrainReport, type ZeroTrainReport } from '../train/zero-train.js';
export type { TrainReport, ZeroTrainReport };

export interface TrainCliOptions {
  config?: string;
  steps?: number;
  worldSize?: number;
  /** Model shape (default: 4 layers, d 128, 4 heads, context 64, vocab 256). */
  model?: Partial<Omit<GPTConfig, 'seed'>>;
  batchSize?: number;
  lr?: number;
  /** Evaluate the held-out loss every this many steps (default steps / 5). */
  evalEvery?: number;
  kernels?: 'wasm' | 'js';
  seed?: number;
  /** Where progress lines go (default console.log). */
  log?: (line: string) => void;
}

export const DEFAULT_MODEL: Omit<GPTConfig, 'seed'> = {
  vocabSize: 256,
  blockSize: 64,
  nLayer: 4,
  nHead: 4,
  nEmbd: 128,
};

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${(e as Error).message}`, 'config');
  }
}

function fromConfig(path: string): Partial<TrainerOptions> {
  const json = readJson(path);
  const c = resolveConfig(json, { worldSize: 1 });
  const out: Partial<TrainerOptions> = { batchSize: c.trainMicroBatchSizePerGpu, gradClip: c.gradientClipping };
  if (c.optimizer !== null) {
    if (c.optimizer.type === 'SGD')
      throw new ConfigError(
        'the single-rank trainer runs AdamW; optimizer.type "SGD" is not supported here',
        'optimizer.type',
      );
    const p = c.optimizer.params;
    Object.assign(out, { lr: p.lr, betas: [p.betas[0], p.betas[1]], weightDecay: p.adamWMode ? p.weightDecay : 0 });
  }
  if (c.scheduler !== null && 'warmupNumSteps' in c.scheduler.params)
    out.warmupSteps = c.scheduler.params.warmupNumSteps;
  if (c.bf16.enabled) out.dtype = 'bf16';
  return out;
}

/** Whether `train` runs through the ZeRO engine: --world-size N > 1, or --world-size given with --config. */
export function usesZero(opts: Pick<TrainCliOptions, 'worldSize' | 'config'>): boolean {
  return opts.worldSize !== undefined && (opts.worldSize > 1 || opts.config !== undefined);
}

export async function train(opts: TrainCliOptions = {}): Promise<TrainReport | ZeroTrainReport> {
  if (opts.worldSize !== undefined && !(Number.isSafeInteger(opts.worldSize) && opts.worldSize >= 1)) {
    throw new ConfigError(`world size ${opts.worldSize}: use a whole number >= 1`, 'worldSize');
  }
  if (usesZero(opts)) {
    const steps = opts.steps ?? 300;
    return trainZero({
      worldSize: opts.worldSize!,
      steps,
      model: { ...DEFAULT_MODEL, ...opts.model, seed: opts.seed ?? 1337 },
      config:
        opts.config === undefined
          ? defaultZeroConfig(steps, { microBatch: opts.batchSize, lr: opts.lr })
          : readJson(opts.config),
      kernels: opts.kernels,
      log: opts.log,
    });
  }
  const log = opts.log ?? ((l: string) => console.log(l));
  const steps = opts.steps ?? 300;
  const model = { ...DEFAULT_MODEL, ...opts.model };
  const fromFile = opts.config === undefined ? {} : fromConfig(opts.config);
  const trainer = new Trainer({
    model,
    steps,
    seed: opts.seed,
    kernels: opts.kernels,
    batchSize: opts.batchSize ?? fromFile.batchSize ?? 16,
    lr: opts.lr ?? fromFile.lr ?? 3e-3,
    warmupSteps: fromFile.warmupSteps ?? Math.max(1, Math.round(steps / 10)),
    weightDecay: fromFile.weightDecay,
    betas: fromFile.betas,
    gradClip: fromFile.gradClip,
    dtype: fromFile.dtype,
  });
  const tokensPerStep = (opts.batchSize ?? fromFile.batchSize ?? 16) * model.blockSize;
  const evalEvery = opts.evalEvery ?? Math.max(1, Math.round(steps / 5));
  const nParams = trainer.model.parameters().reduce((s, p) => s + p.numel, 0);
  log(
    `training GPT (${model.nLayer} layers, d ${model.nEmbd}, ${model.nHead} heads, context ${model.blockSize}, ` +
      `${(nParams / 1e6).toFixed(2)}M parameters) ` +
      `on the shipped corpus, ${tokensPerStep} tokens/step, ${steps} steps, ${trainer.device.kernels.backend} ` +
      `kernels; ln(256) = ${Math.log(256).toFixed(3)}`,
  );
  const t0 = performance.now();
  let initialLoss = NaN;
  let last = NaN;
  let valLoss = NaN;
  let evalMs = 0;
  for (let s = 0; s < steps; s++) {
    const r = trainer.step();
    if (s === 0) initialLoss = r.loss;
    last = r.loss;
    if ((s + 1) % evalEvery === 0 || s === steps - 1) {
      const e0 = performance.now();
      valLoss = trainer.evaluate();
      evalMs += performance.now() - e0;
      const sec = (performance.now() - t0 - evalMs) / 1000;
      log(
        `step ${s + 1}/${steps} | train loss ${r.loss.toFixed(4)} | val loss ${valLoss.toFixed(4)} | lr ` +
          `${r.lr.toExponential(2)} | ${Math.round(((s + 1) * tokensPerStep) / sec)} tok/s`,
      );
    }
  }
  const seconds = (performance.now() - t0 - evalMs) / 1000;
  trainer.dispose();
  const report: TrainReport = {
    steps,
    tokensPerStep,
    initialLoss,
    finalTrainLoss: last,
    valLoss,
    seconds,
    tokensPerSecond: (steps * tokensPerStep) / seconds,
  };
  log(JSON.stringify({ train: report }));
  return report;
}
