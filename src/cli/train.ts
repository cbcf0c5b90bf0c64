// `zerots train`: a GPT on the user's text (--data: plain text or JSONL; default the shipped corpus), tokenized as
// bytes or with GPT-2's BPE (--tokenizer), at a preset or given size (--model), through the ZeRO engine on N ranks
// (--world-size, threads or --transport tcp processes; world size 1 runs in this thread over the local group). The
// DeepSpeed config (--config) decides stage, precision, batch sizes, optimizer and schedule, with "auto" filled
// from the flags and the model as the Hugging Face Trainer fills it (src/config/auto.ts) and AdamW when it names no
// optimizer; without one, gptTrainingConfig (src/train/configs.ts). Rank 0 draws a progress bar on a terminal
// (plain lines otherwise) and --log writes a JSON record per step; the last stdout line is one JSON object
// ({"train": ...}). No time limit. A non-finite final loss is a NumericsError (a non-zero exit).
import type { KernelChoice } from '../kernels/types.js';
import { readFileSync } from 'node:fs';
import { fillAuto, type AutoValues } from '../config/auto.js';
import { configNotices } from '../config/notices.js';
import { resolveConfig } from '../config/resolve.js';
import { loadTextDataset } from '../data/dataset.js';
import { ConfigError } from '../errors.js';
import type { GPTConfig } from '../nn/gpt.js';
import { type ModelDims, modelForTokenizer, modelFromJson, modelPreset } from '../nn/presets.js';
import { gptTrainingConfig } from '../train/configs.js';
import type { RunReport } from '../train/report.js';
import type { RunSpec } from '../train/spec.js';
import { trainWorld } from '../train/world.js';
import { type LaunchedRank, launchedRank, startedByMpiLauncher } from '../launch/index.js';
import { autoResume, trainAsRank, trainUnderMpirun } from './train-launched.js';

export interface TrainCliOptions {
  config?: string;
  steps?: number;
  worldSize?: number;
  /** --data: a text or JSONL file (default: the shipped corpus). */
  data?: string;
  /** --tokenizer byte | gpt2 (default byte). */
  tokenizer?: string;
  /** --model: a preset name or FILE.json, or the dimensions (default: 4 layers, d 128, 4 heads, context 64). */
  model?: string | Partial<Omit<GPTConfig, 'seed'>>;
  /** --micro-batch: sequences per rank per micro-step (default 16 on one rank, 8 on several). */
  microBatch?: number;
  /** the same as microBatch (the name the API had first) */
  batchSize?: number;
  lr?: number;
  /** Held-out evaluation every this many steps, besides the end (default: only at the end). */
  evalEvery?: number;
  /** Held-out micro-batches per rank (default 4). */
  evalBatches?: number;
  /** threads (default), tcp, or mpi (under mpirun; outside one, `zerots train` starts mpirun: train-mpi.ts). */
  transport?: 'threads' | 'tcp' | 'mpi';
  kernels?: KernelChoice;
  seed?: number;
  /** Device memory per rank in MiB (default 512), host memory per rank for offload in MiB (default unbounded). */
  deviceMib?: number;
  hostMib?: number;
  /** --log: JSON Lines file, one record per step. */
  logFile?: string;
  /** Draw the progress bar (default: stdout is a terminal and no `log` function is given). */
  bar?: boolean;
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

/** The hyperparameters the flags stand for (what fills "auto" and a missing optimizer). */
const ADAMW = { betas: [0.9, 0.95] as const, eps: 1e-8, weightDecay: 0.1, clip: 1.0, lr: 3e-3 };

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`, what);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${what} ${path} is not valid JSON: ${(e as Error).message}`, what);
  }
}

function modelDims(m: TrainCliOptions['model'], tokenizerVocab: number): { dims: ModelDims; name: string } {
  if (m === undefined) return { dims: { ...DEFAULT_MODEL, vocabSize: Math.max(256, tokenizerVocab) }, name: 'default' };
  if (typeof m !== 'string') return { dims: { ...DEFAULT_MODEL, ...m }, name: 'given' };
  const dims = m.endsWith('.json') ? modelFromJson(readJson(m, 'model'), m) : modelPreset(m);
  return { dims: modelForTokenizer(dims, tokenizerVocab, m), name: m };
}

function positiveInt(v: number | undefined, flag: string): void {
  if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1))
    throw new ConfigError(`${flag} ${v}: use a whole number >= 1`, flag.replace(/^--/, ''));
}

/**
 * A flag the user gave that the config contradicts with a concrete value: the Trainer's "mismatch" error, rather
 * than one of the two silently winning.
 */
function checkMatch(json: unknown, path: string[], flag: string, value: number | undefined): void {
  if (value === undefined) return;
  let v: unknown = json;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  if (typeof v === 'number' && v !== value)
    throw new ConfigError(
      `config "${path.join('.')}" = ${v} but ${flag} ${value}; set it to "auto" in the config, or drop the flag.`,
      path.join('.'),
    );
}

/** Trains in this process (its own ranks: threads, or processes with transport 'tcp'). */
export async function train(opts: TrainCliOptions = {}): Promise<RunReport> {
  return (await trainJob(opts, null))!;
}

/** The `zerots train` command: under `zerots launch` this process is one rank of the launcher's job. */
export async function trainCommand(opts: TrainCliOptions): Promise<void> {
  if (opts.transport === 'mpi' && !startedByMpiLauncher()) return trainUnderMpirun(opts); // [native mpi]
  // Under mpirun --transport mpi is a requirement (no quiet fall-back to tcp when libmpi does not load).
  if (opts.transport === 'mpi') process.env.ZEROTS_TRANSPORT ??= 'mpi';
  const launched = launchedRank();
  if (launched !== null && opts.transport !== undefined && opts.transport !== launched.transport)
    throw new ConfigError(
      `--transport ${opts.transport}, but this rank of a launched job runs the ${launched.transport} transport ` +
        '(the launcher and ZEROTS_TRANSPORT decide it): drop --transport, or set ZEROTS_TRANSPORT',
      'transport',
    );
  await trainJob(opts, launched);
}

async function trainJob(opts: TrainCliOptions, launched: LaunchedRank | null): Promise<RunReport | null> {
  if (launched !== null && opts.worldSize !== undefined && opts.worldSize !== launched.worldSize)
    throw new ConfigError(
      `--world-size ${opts.worldSize}, but zerots launch started a job of ${launched.worldSize} ranks: drop ` +
        '--world-size under the launcher (a restarted job may run at another size)',
      'worldSize',
    );
  const N = launched?.worldSize ?? opts.worldSize ?? 1;
  if (!(Number.isSafeInteger(N) && N >= 1))
    throw new ConfigError(`world size ${opts.worldSize}: use a whole number >= 1`, 'worldSize');
  const steps = opts.steps ?? 300;
  if (!(Number.isSafeInteger(steps) && steps > 0))
    throw new ConfigError(`steps = ${steps} must be a positive integer`, 'steps');
  const micro = opts.microBatch ?? opts.batchSize;
  positiveInt(micro, '--micro-batch');
  positiveInt(opts.evalEvery, '--eval-every');
  if (opts.lr !== undefined && !(opts.lr > 0)) throw new ConfigError(`--lr ${opts.lr}: use a number > 0`, 'lr');
  const log = launched !== null && launched.rank !== 0 ? () => {} : (opts.log ?? ((l: string) => console.log(l)));
  const dataset = await loadTextDataset({ data: opts.data, tokenizer: opts.tokenizer });
  const { dims: model, name: modelName } = modelDims(opts.model, dataset.tokenizer.vocabSize);
  const raw =
    opts.config === undefined
      ? gptTrainingConfig({ steps, stage: N === 1 ? 0 : 2, microBatch: micro ?? (N === 1 ? 16 : 8), lr: opts.lr })
      : readJson(opts.config, 'config');
  checkMatch(raw, ['train_micro_batch_size_per_gpu'], '--micro-batch', micro);
  checkMatch(raw, ['optimizer', 'params', 'lr'], '--lr', opts.lr);
  const values: AutoValues = {
    worldSize: N,
    microBatch: micro ?? (N === 1 ? 16 : 8),
    gradientAccumulation: 1,
    lr: opts.lr ?? ADAMW.lr,
    betas: ADAMW.betas,
    eps: ADAMW.eps,
    weightDecay: ADAMW.weightDecay,
    gradClip: ADAMW.clip,
    warmupSteps: Math.max(1, Math.round(steps / 10)),
    totalSteps: steps,
    precision: 'fp32',
    hiddenSize: model.nEmbd,
  };
  const { config: json, filled } = fillAuto(raw, values);
  const c = resolveConfig(json, { worldSize: N, hiddenSize: model.nEmbd });
  if (opts.resume === true && opts.saveDir === undefined)
    throw new ConfigError('--resume without a folder resumes from --save-dir: give one of them', 'resume');
  const resume = autoResume(launched, opts.saveDir, opts.resume === true ? opts.saveDir : opts.resume, log);
  const initFrom = resume !== undefined && launched?.restartCount ? undefined : opts.initFrom;
  if (resume !== undefined && initFrom !== undefined)
    throw new ConfigError(
      '--resume and --init-from together: a resumed run has its weights already; pick one',
      'initFrom',
    );
  if (opts.saveEvery !== undefined && opts.saveDir === undefined)
    throw new ConfigError('--save-every needs --save-dir (where to save)', 'saveEvery');
  const checkpoint =
    opts.saveDir === undefined && resume === undefined && initFrom === undefined
      ? undefined
      : { saveDir: opts.saveDir, saveEvery: opts.saveEvery, resume, initFrom };
  for (const line of configNotices(c, filled)) log(line);
  const precision = c.bf16.enabled ? 'bf16' : c.fp16.enabled ? 'fp16' : 'fp32';
  const T = model.blockSize;
  const transport = launched?.transport ?? opts.transport ?? 'threads';
  if (launched === null && transport === 'mpi')
    throw new ConfigError('train(): the MPI transport runs under mpirun (zerots train --transport mpi)', 'transport');
  log(
    `training GPT ${modelName} (${model.nLayer} layers, d ${model.nEmbd}, ${model.nHead} heads, context ${T}, ` +
      `vocabulary ${model.vocabSize}) on ${dataset.source} (${dataset.tokens.length} ${dataset.tokenizer.name} ` +
      `tokens) with ZeRO stage ${c.zero.stage}, ${precision}, ${N} ${transport === 'threads' ? 'thread' : 'process'} ` +
      `rank${N === 1 ? '' : 's'}, ${c.trainBatchSize * T} tokens/step (micro-batch ${c.trainMicroBatchSizePerGpu} x ` +
      `accumulation ${c.gradientAccumulationSteps} x ${N} ranks), ${steps} steps, ` +
      `ln(${model.vocabSize}) = ${Math.log(model.vocabSize).toFixed(3)}`,
  );
  const bar = opts.bar ?? (opts.log === undefined && process.stdout.isTTY === true);
  const spec: RunSpec = {
    model,
    seed: opts.seed ?? 1337,
    runs: [{ label: 'train', config: json }],
    steps,
    untimedSteps: 1,
    evalBatches: opts.evalBatches ?? 4,
    ...(opts.evalEvery === undefined ? {} : { evalEvery: opts.evalEvery }),
    kernels: opts.kernels ?? 'auto',
    deviceBytes: (opts.deviceMib ?? 512) * 2 ** 20,
    ...(opts.hostMib === undefined ? {} : { hostBytes: opts.hostMib * 2 ** 20 }),
    corpus: dataset.tokens,
    checkpoint,
    progressEvery: Math.max(1, Math.round(steps / 10)),
    progressTo: opts.log === undefined ? 'stdout' : 'none',
    display: {
      bar,
      columns: process.stdout.columns,
      ...(opts.logFile === undefined ? {} : { logFile: opts.logFile }),
    },
  };
  if (launched !== null) {
    await trainAsRank(launched, spec, log);
    return null;
  }
  const [r] = await trainWorld(spec, N, null, transport === 'tcp' ? 'tcp' : 'threads');
  const report = r!;
  if (opts.log !== undefined) for (const l of report.perRank[0]!.lines) log(l);
  const rec = trainRecord(report);
  log(
    `${report.valLoss === null ? 'no held-out loss (--eval-batches 0)' : `held-out loss ${report.valLoss.toFixed(4)}`} ` +
      `(mean over ${N} rank${N === 1 ? '' : 's'}) after ${steps} steps; ` +
      `${Math.round(rec.tokensPerSecond as number)} tok/s; peak device memory per rank ` +
      `${(Math.max(...report.devicePeakBytes) / 2 ** 20).toFixed(1)} MiB`,
  );
  log(JSON.stringify({ train: rec }));
  return report;
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
    engine: r.engine,
  };
}
