// The single-rank trainer: GPT on a byte corpus, AdamW with warmup + cosine decay, gradient clipping, held-out
// loss. One step = forward on the tape, backward (which frees activations as it goes), clear, update.
import { Device } from '../tensor/device.js';
import { Tape } from '../autograd/tape.js';
import { GPT, type GPTConfig } from '../nn/gpt.js';
import type { ParamDType } from '../nn/parameter.js';
import { DistributedSampler } from '../data/sampler.js';
import { trainValSplit } from '../data/split.js';
import { loadCorpus } from '../data/corpus.js';
import { ConfigError, NumericsError } from '../errors.js';
import { AdamW, globalGradNorm } from './adamw.js';
import { cosineLr } from './schedule.js';

export interface TrainerOptions {
  model: Omit<GPTConfig, 'seed'>;
  seed?: number;
  /** Sequences per step. */
  batchSize: number;
  /** Optimizer steps (also the end of the cosine decay). */
  steps: number;
  lr?: number;
  minLr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  betas?: [number, number];
  /** Global gradient-norm clip (0: off). */
  gradClip?: number;
  /** Sequences of the validation split used by evaluate() (default 4 batches). */
  evalSequences?: number;
  kernels?: 'wasm' | 'js';
  deviceBytes?: number;
  dtype?: ParamDType;
  /** Token stream (bytes); default the shipped corpus. */
  corpus?: Uint8Array;
}

export interface StepResult {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
}

export class Trainer {
  readonly device: Device;
  readonly model: GPT;
  readonly tape: Tape;
  readonly optimizer: AdamW;
  private readonly train: DistributedSampler;
  private readonly val: DistributedSampler;
  private readonly o: Required<Omit<TrainerOptions, 'corpus' | 'dtype' | 'deviceBytes' | 'kernels'>>;
  private stepIndex = 0;

  constructor(opts: TrainerOptions) {
    const T = opts.model.blockSize;
    this.o = {
      model: opts.model,
      seed: opts.seed ?? 1337,
      batchSize: opts.batchSize,
      steps: opts.steps,
      lr: opts.lr ?? 1e-3,
      minLr: opts.minLr ?? (opts.lr ?? 1e-3) / 10,
      warmupSteps: opts.warmupSteps ?? Math.min(100, Math.ceil(opts.steps / 10)),
      weightDecay: opts.weightDecay ?? 0.1,
      betas: opts.betas ?? [0.9, 0.95],
      gradClip: opts.gradClip ?? 1.0,
      evalSequences: opts.evalSequences ?? 4 * opts.batchSize,
    };
    if (!(Number.isSafeInteger(opts.steps) && opts.steps > 0))
      throw new ConfigError(`steps = ${opts.steps} must be a positive integer`, 'steps');
    const tokens = opts.corpus ?? loadCorpus();
    if (tokens.some((t) => t >= opts.model.vocabSize))
      throw new ConfigError(`the corpus has tokens >= vocabSize ${opts.model.vocabSize}`, 'model.vocabSize');
    const split = trainValSplit(tokens);
    this.train = new DistributedSampler(split.train, { blockSize: T, microBatchSize: opts.batchSize });
    this.val = new DistributedSampler(split.val, {
      blockSize: T,
      microBatchSize: Math.min(opts.batchSize, this.o.evalSequences),
      shuffle: false,
    });
    this.device = new Device({
      capacityBytes: opts.deviceBytes ?? 2 ** 30,
      kernels: opts.kernels ?? 'wasm',
      name: 'rank0',
    });
    this.model = new GPT(this.device, { ...opts.model, seed: this.o.seed }, { dtype: opts.dtype ?? 'f32' });
    this.tape = new Tape(this.device);
    this.optimizer = new AdamW(this.model.parameters(), {
      lr: this.o.lr,
      betas: this.o.betas,
      weightDecay: this.o.weightDecay,
    });
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.stepIndex;
  }

  lrAt(step: number): number {
    return cosineLr(step, {
      maxLr: this.o.lr,
      minLr: this.o.minLr,
      warmupSteps: this.o.warmupSteps,
      totalSteps: this.o.steps,
    });
  }

  /** One optimizer step on the next training batch. */
  step(): StepResult {
    const s = this.stepIndex;
    const epoch = Math.floor(s / this.train.stepsPerEpoch);
    const batch = this.train.batch(this.o.seed, epoch, s % this.train.stepsPerEpoch);
    for (const p of this.model.parameters()) p.zeroGrad();
    const { B, T } = batch;
    const { loss } = this.model.forward(this.tape, { B, T, data: batch.inputs }, { B, T, data: batch.targets });
    const value = this.tape.backward(loss!);
    this.tape.clear();
    if (!Number.isFinite(value)) throw new NumericsError(`training loss is ${value} at step ${s}`);
    const gradNorm = globalGradNorm(this.model.parameters());
    const clip = this.o.gradClip > 0 && gradNorm > this.o.gradClip ? this.o.gradClip / gradNorm : 1;
    const lr = this.lrAt(s);
    this.optimizer.step(lr, clip);
    this.stepIndex++;
    return { step: s, loss: value, lr, gradNorm };
  }

  /** Mean cross-entropy on the first evalSequences windows of the held-out split (forward only). */
  evaluate(): number {
    let sum = 0;
    let n = 0;
    const batches = Math.max(
      1,
      Math.min(this.val.stepsPerEpoch, Math.floor(this.o.evalSequences / this.val.microBatchSize)),
    );
    for (let i = 0; i < batches; i++) {
      const b = this.val.batch(0, 0, i);
      const { loss } = this.model.forward(
        this.tape,
        { B: b.B, T: b.T, data: b.inputs },
        { B: b.B, T: b.T, data: b.targets },
      );
      sum += loss!.f32()[0];
      n++;
      this.tape.clear();
    }
    return sum / n;
  }

  dispose(): void {
    this.tape.clear();
    this.optimizer.dispose();
    for (const p of this.model.parameters()) {
      p.release();
      p.freeGrad();
    }
  }
}
