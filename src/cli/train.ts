// `zerots train`: GPT on the shipped corpus through the ZeRO engine, reporting the training loss and the held-out
// loss. One path for every world size: N thread ranks (--world-size, default 1: this thread over the local process
// group), the DeepSpeed config (--config) deciding stage, precision, batch sizes, optimizer and schedule; without
// one, gptTrainingConfig (src/train/configs.ts): ZeRO stage 2 on several ranks, stage 0 (plain data parallelism,
// which at one rank is plain training) on one, fp32, AdamW, WarmupCosineLR, clipping at 1.0. The model size comes
// from `model` options (defaults below). A non-finite final loss is a NumericsError (a non-zero exit).
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import type { GPTConfig } from '../nn/gpt.js';
import { gptTrainingConfig } from '../train/configs.js';
import type { RunReport } from '../train/report.js';
import { trainWorld } from '../train/world.js';

export interface TrainCliOptions {
  config?: string;
  steps?: number;
  worldSize?: number;
  /** Model shape (default: 4 layers, d 128, 4 heads, context 64, vocab 256). */
  model?: Partial<Omit<GPTConfig, 'seed'>>;
  /** Sequences per rank per step without --config (default 16 on one rank, 8 on several). */
  batchSize?: number;
  lr?: number;
  /** Held-out micro-batches per rank (default 4). */
  evalBatches?: number;
  kernels?: 'wasm' | 'js';
  seed?: number;
  /** Device bytes per rank (default 512 MiB). */
  deviceBytes?: number;
  /** --save-dir, --save-every, --resume [DIR], --init-from FILE (src/checkpoint); --resume without DIR: --save-dir. */
  saveDir?: string;
  saveEvery?: number;
  resume?: string | true;
  initFrom?: string;
  /** Where lines go; default: rank 0's progress live to stdout, the rest through console.log. */
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

/** The `{"train": ...}` JSON line: the report without its per-step and per-rank detail. */
export function trainRecord(r: RunReport): Record<string, unknown> {
  return {
    worldSize: r.worldSize,
    stage: r.stage,
    precision: r.precision,
    steps: r.steps,
    tokensPerStep: r.tokensPerStep,
    initialLoss: r.initialLoss,
    finalTrainLoss: r.finalLoss,
    valLoss: r.valLoss,
    seconds: r.trainSeconds,
    // a resumed run trains only the steps after its checkpoint
    tokensPerSecond: (r.perRank[0]!.losses.length * r.tokensPerStep) / r.trainSeconds,
    peakBytes: r.devicePeakBytes,
    commBytesPerStep: r.commBytesPerStep,
    skippedSteps: r.skippedSteps,
  };
}

export async function train(opts: TrainCliOptions = {}): Promise<RunReport> {
  const N = opts.worldSize ?? 1;
  if (!(Number.isSafeInteger(N) && N >= 1))
    throw new ConfigError(`world size ${opts.worldSize}: use a whole number >= 1`, 'worldSize');
  const steps = opts.steps ?? 300;
  if (!(Number.isSafeInteger(steps) && steps > 0))
    throw new ConfigError(`steps = ${steps} must be a positive integer`, 'steps');
  const model = { ...DEFAULT_MODEL, ...opts.model };
  const json =
    opts.config === undefined
      ? gptTrainingConfig({
          steps,
          stage: N === 1 ? 0 : 2,
          microBatch: opts.batchSize ?? (N === 1 ? 16 : 8),
          lr: opts.lr,
        })
      : readJson(opts.config);
  const c = resolveConfig(json, { worldSize: N });
  const resume = opts.resume === true ? opts.saveDir : opts.resume;
  if (opts.resume === true && opts.saveDir === undefined)
    throw new ConfigError('--resume without a folder resumes from --save-dir: give one of them', 'resume');
  if (resume !== undefined && opts.initFrom !== undefined)
    throw new ConfigError(
      '--resume and --init-from together: a resumed run has its weights already; pick one',
      'initFrom',
    );
  if (opts.saveEvery !== undefined && opts.saveDir === undefined)
    throw new ConfigError('--save-every needs --save-dir (where to save)', 'saveEvery');
  const checkpoint =
    opts.saveDir === undefined && resume === undefined && opts.initFrom === undefined
      ? undefined
      : { saveDir: opts.saveDir, saveEvery: opts.saveEvery, resume, initFrom: opts.initFrom };
  const precision = c.bf16.enabled ? 'bf16' : c.fp16.enabled ? 'fp16' : 'fp32';
  const log = opts.log ?? ((l: string) => console.log(l));
  const T = model.blockSize;
  log(
    `training GPT (${model.nLayer} layers, d ${model.nEmbd}, ${model.nHead} heads, context ${T}) on the shipped corpus with ` +
      `ZeRO stage ${c.zero.stage}, ${precision}, ${N} thread rank${N === 1 ? '' : 's'}, ${c.trainBatchSize * T} tokens/step ` +
      `(micro-batch ${c.trainMicroBatchSizePerGpu} x accumulation ${c.gradientAccumulationSteps} x ${N} ranks), ${steps} steps, ` +
      `${opts.kernels ?? 'wasm'} kernels; ln(256) = ${Math.log(256).toFixed(3)}`,
  );
  const [r] = await trainWorld(
    {
      model,
      seed: opts.seed ?? 1337,
      runs: [{ label: 'train', config: json }],
      steps,
      untimedSteps: 1,
      evalBatches: opts.evalBatches ?? 4,
      kernels: opts.kernels ?? 'wasm',
      deviceBytes: opts.deviceBytes ?? 512 << 20,
      progressEvery: Math.max(1, Math.round(steps / 10)),
      progressTo: opts.log === undefined ? 'stdout' : 'none',
      checkpoint,
    },
    N,
  );
  const report = r!;
  if (opts.log !== undefined) for (const l of report.perRank[0]!.lines) log(l);
  const rec = trainRecord(report);
  log(
    `held-out loss ${report.valLoss!.toFixed(4)} (mean over ${N} rank${N === 1 ? '' : 's'}) after ${steps} steps; ` +
      `${Math.round(rec.tokensPerSecond as number)} tok/s; peak device memory per rank ` +
      `${(Math.max(...report.devicePeakBytes) / 2 ** 20).toFixed(1)} MiB`,
  );
  log(JSON.stringify({ train: rec }));
  return report;
}
