// Rank program of `zerots train --world-size N` (spawned by spawnWorld as `trainZeroRank`): GPT on the shipped corpus
// through the ZeRO engine, each rank reading its share of every global batch (DistributedSampler), the DeepSpeed
// config deciding stage, precision, optimizer and schedule. Every few steps the ranks average their losses in one
// scalar all-reduce and rank 0 reports it; at the end each rank evaluates its share of the held-out windows.
import { writeSync } from 'node:fs';
import type { RankContext } from '../launch/spawn.js';
import { Device } from '../tensor/device.js';
import { GPT, type GPTConfig } from '../nn/gpt.js';
import { DistributedSampler, loadCorpus, trainValSplit } from '../data/index.js';
import { initialize } from '../zero/engine.js';
import { commOptionsFor } from '../zero/comm-options.js';
import { heldOutLoss } from './held-out.js';
import type { ZeroConfig } from '../config/types.js';
import { resolveConfig } from '../config/resolve.js';

export interface ZeroTrainSpec {
  /** DeepSpeed JSON config (validated again on every rank). */
  config: unknown;
  model: GPTConfig;
  steps: number;
  /** Report the mean loss every this many steps (and at the last). */
  logEvery: number;
  /** Held-out micro-batches per rank at the end. */
  evalBatches: number;
  kernels: 'wasm' | 'js';
  deviceBytes: number;
  /** Rank 0 writes progress lines to stdout as they happen (else it only returns them). */
  printLive: boolean;
}

export interface ZeroTrainRankResult {
  rank: number;
  /** rank 0: the progress lines */
  lines: string[];
  /** mean loss over ranks at each reported step (every rank has them) */
  reported: { step: number; loss: number; lr: number; gradNorm: number }[];
  /** this rank's loss at every step */
  losses: number[];
  /** this rank's held-out loss */
  valLoss: number;
  /** training seconds (evaluation excluded) */
  seconds: number;
  peakBytes: number;
  /** collective payload bytes of the last step */
  commBytesLastStep: number;
  /** steps the fp16 loss scaler skipped */
  skipped: number;
}

function noDecay(_name: string, shape: readonly number[]): boolean {
  return shape.length < 2; // GPT-2 practice: biases and LayerNorm gains
}

export async function trainZeroRank(ctx: RankContext, spec: ZeroTrainSpec): Promise<ZeroTrainRankResult> {
  const config: ZeroConfig = resolveConfig(spec.config, { worldSize: ctx.worldSize });
  const device = new Device({ capacityBytes: spec.deviceBytes, kernels: spec.kernels, name: `rank${ctx.rank}` });
  // The scratch speeds up large reductions; no progress thread: it costs a core per rank, and on a machine with no
  // spare cores (CI has 2) overlap_comm's async collectives are better run at the call.
  const comm = commOptionsFor(device, config, { worldSize: ctx.worldSize, progressThread: false });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const T = spec.model.blockSize;
  const { train, val } = trainValSplit(loadCorpus());
  const mb = config.trainMicroBatchSizePerGpu;
  const gas = config.gradientAccumulationSteps;
  const sampler = new DistributedSampler(train, {
    blockSize: T,
    microBatchSize: mb,
    worldSize: ctx.worldSize,
    rank: ctx.rank,
  });
  const model = new GPT(device, spec.model, { materialize: false });
  const engine = initialize({ model, config, group, device, noDecay });
  const mean = device.alloc(4, 'comm', 'reported loss');
  const lines: string[] = [];
  const say = (l: string) => {
    if (ctx.rank !== 0) return;
    lines.push(l);
    if (spec.printLive) writeSync(1, `${l}\n`);
  };
  const res: ZeroTrainRankResult = {
    rank: ctx.rank,
    lines,
    reported: [],
    losses: [],
    valLoss: NaN,
    seconds: 0,
    peakBytes: 0,
    commBytesLastStep: 0,
    skipped: 0,
  };
  const tokensPerStep = mb * gas * ctx.worldSize * T;
  const t0 = performance.now();
  try {
    for (let s = 0; s < spec.steps; s++) {
      group.log.reset();
      const micro = Array.from({ length: gas }, (_, k) => {
        const i = s * gas + k;
        const b = sampler.batch(spec.model.seed, Math.floor(i / sampler.stepsPerEpoch), i % sampler.stepsPerEpoch);
        return [
          { B: b.B, T, data: b.inputs },
          { B: b.B, T, data: b.targets },
        ] as [{ B: number; T: number; data: Int32Array }, { B: number; T: number; data: Int32Array }];
      });
      const r = engine.trainBatch(micro);
      res.losses.push(r.loss);
      res.commBytesLastStep = group.log.totalBytesSent();
      if ((s + 1) % spec.logEvery === 0 || s === spec.steps - 1) {
        const v = device.f32(mean.ptr, 1);
        v[0] = r.loss / ctx.worldSize;
        group.allReduce(v, 'sum', 'f32');
        const rep = { step: s + 1, loss: v[0], lr: r.step.lr, gradNorm: r.step.gradNorm };
        res.reported.push(rep);
        const sec = (performance.now() - t0) / 1000;
        say(
          `step ${s + 1}/${spec.steps} | loss ${rep.loss.toFixed(4)} | lr ${rep.lr.toExponential(2)} | grad norm ` +
            `${rep.gradNorm.toFixed(3)}` +
            `${r.step.applied ? '' : ' (skipped: fp16 overflow)'} | ${Math.round(((s + 1) * tokensPerStep) / sec)} tok/s`,
        );
      }
    }
    res.seconds = (performance.now() - t0) / 1000;
    res.valLoss = heldOutLoss(device, model, val, {
      rank: ctx.rank,
      worldSize: ctx.worldSize,
      blockSize: T,
      microBatch: mb,
      batches: spec.evalBatches,
    });
    res.peakBytes = device.memoryStats().peakBytes;
    res.skipped = engine.scaler?.skippedSteps ?? 0;
  } finally {
    engine.dispose();
    device.free(mean);
  }
  return res;
}
