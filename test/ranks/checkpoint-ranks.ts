// Rank programs of the checkpoint tests: the tiny GPT trained by the ZeRO engine on a DistributedSampler over a
// synthetic token stream, saving and resuming. The data position of a resumed run comes from the checkpoint (the
// first micro-step is sampleIndex / (worldSize x micro-batch)), so a run resumed at another world size with the same
// train_batch_size takes exactly the windows the uninterrupted run takes.
import { writeSync } from 'node:fs';
import { Device } from '../../src/tensor/device.js';
import { HostMemory } from '../../src/tensor/host.js';
import { GPT, gptNoDecay, type GPTConfig } from '../../src/nn/gpt.js';
import { initialize } from '../../src/zero/engine.js';
import { commOptionsFor } from '../../src/zero/comm-options.js';
import { DistributedSampler } from '../../src/data/sampler.js';
import type { LoadReport } from '../../src/checkpoint/types.js';
import type { RankContext } from '../../src/launch/spawn.js';
import { GPT_TINY, MICRO, dsConfig } from '../helpers/lockstep-cases.js';
import { xorshift32 } from '../helpers/xorshift.js';

export interface CkptCase {
  stage: 0 | 1 | 2 | 3;
  precision: 'fp32' | 'bf16' | 'fp16';
  worldSize: number;
  gas: number;
  /** train until this many optimizer steps from the start of the run */
  steps: number;
  dir: string;
  saveAt?: number[];
  resume?: { dir: string; tag?: string };
  /** weights to initialise from (before training, no resume) */
  initFrom?: string;
  /** save weights (engine.saveWeights) at the end */
  weightsOut?: { path: string; dtype?: 'fp32' | 'bf16' | 'fp16' };
  model?: Partial<GPTConfig>;
  kernels?: 'js' | 'wasm';
  /** 'kill': block forever at this save phase after printing it (a test SIGKILLs the process) */
  blockAt?: { step: number; phase: 'shard-written' | 'manifest-written' | 'renamed' };
  /** rank 0 saves at this step, the others train on (bad input) */
  onlyRank0SavesAt?: number;
  /** this rank's shard write fails at this step (a thrown error in the save, as a full disk would) */
  failRankAt?: { rank: number; step: number };
  offload?: boolean;
  /** offload_param nvme: the parameter shard's swap files under this directory (stage 3, with offload) */
  paramNvme?: string;
}

export interface CkptResult {
  rank: number;
  /** mean loss over ranks of every step run here, by global step (index 0 = step 1) */
  losses: (number | null)[];
  /** this rank's loss at each step run here */
  rankLosses: (number | null)[];
  /** sorted window starts of every global step run here (all ranks' windows, gathered through the losses' order) */
  windows: (number[] | null)[];
  params: Record<string, Float32Array> | null;
  moments: Record<string, Record<string, Float32Array>> | null;
  report: LoadReport | null;
  saved: string[];
  error: { name: string; message: string } | null;
  weightsRead: number | null;
}

type Tokens = { B: number; T: number; data: Int32Array };

export const TOKENS = (() => {
  const r = xorshift32(12345);
  return Int32Array.from({ length: 6 * 400 + 1 }, () => r() % GPT_TINY.vocabSize);
})();

export function config(c: CkptCase): Record<string, unknown> {
  const base = dsConfig({
    stage: c.stage,
    precision: c.precision,
    worldSize: c.worldSize,
    gas: c.gas,
    steps: c.steps,
    clip: 0.5,
    kernels: 'js',
    offload: c.offload,
    paramNvme: c.paramNvme,
  });
  return {
    ...base,
    scheduler: { type: 'WarmupCosineLR', params: { total_num_steps: 12, warmup_num_steps: 2, cos_min_ratio: 0.1 } },
  };
}

export async function run(ctx: RankContext, c: CkptCase): Promise<CkptResult> {
  const device = new Device({ capacityBytes: 64 << 20, kernels: c.kernels ?? 'js', name: `rank${ctx.rank}` });
  const cfg = config(c);
  const comm = commOptionsFor(device, cfg, { worldSize: ctx.worldSize, progressThread: false });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const modelCfg = { ...GPT_TINY, ...c.model };
  const model = new GPT(device, modelCfg, { materialize: false });
  const host = c.offload ? new HostMemory({ arenaBytes: 4 << 20, kernels: c.kernels ?? 'js' }) : undefined;
  const engine = initialize({ model, config: cfg, group, device, noDecay: gptNoDecay, host });
  const sampler = new DistributedSampler(TOKENS, {
    blockSize: modelCfg.blockSize,
    microBatchSize: MICRO,
    worldSize: ctx.worldSize,
    rank: ctx.rank,
  });
  const res: CkptResult = {
    rank: ctx.rank,
    losses: [],
    rankLosses: [],
    windows: [],
    params: null,
    moments: null,
    report: null,
    saved: [],
    error: null,
    weightsRead: null,
  };
  const scratch = device.alloc(4 * (1 + ctx.worldSize * MICRO * c.gas), 'comm', 'test gather');
  try {
    let first = 0;
    if (c.resume !== undefined) {
      res.report = engine.loadCheckpoint(c.resume.dir, { tag: c.resume.tag });
      first = res.report.globalSteps;
      if (res.report.data.sampleIndex % (ctx.worldSize * MICRO) !== 0)
        throw new Error('data position not on a micro-step');
    }
    if (c.initFrom !== undefined) res.weightsRead = engine.loadWeights(c.initFrom).bytesRead;
    let micro = res.report === null ? 0 : res.report.data.sampleIndex / (ctx.worldSize * MICRO);
    for (let s = first; s < c.steps; s++) {
      if (c.onlyRank0SavesAt === s && ctx.rank === 0) engine.saveCheckpoint(c.dir);
      const mbs: [Tokens, Tokens][] = [];
      const starts: number[] = [];
      for (let k = 0; k < c.gas; k++, micro++) {
        const b = sampler.batch(
          modelCfg.seed,
          Math.floor(micro / sampler.stepsPerEpoch),
          micro % sampler.stepsPerEpoch,
        );
        starts.push(...b.starts);
        mbs.push([
          { B: b.B, T: b.T, data: b.inputs },
          { B: b.B, T: b.T, data: b.targets },
        ]);
      }
      const r = engine.trainBatch(mbs);
      // every rank's loss and windows to every rank (all-gather of [loss, starts...])
      const n = 1 + starts.length;
      const all = device.f32(scratch.ptr, n * ctx.worldSize);
      const mine = all.subarray(ctx.rank * n, (ctx.rank + 1) * n);
      mine[0] = r.loss;
      mine.set(starts, 1);
      group.allGather(all, mine, 'f32');
      let sum = 0;
      const win: number[] = [];
      for (let q = 0; q < ctx.worldSize; q++) {
        sum += all[q * n];
        for (let i = 1; i < n; i++) win.push(all[q * n + i]);
      }
      res.losses[s] = sum / ctx.worldSize;
      res.rankLosses[s] = r.loss;
      res.windows[s] = win.sort((a, b) => a - b);
      const done = s + 1;
      if (c.failRankAt?.step === done) {
        const fail = c.failRankAt.rank;
        engine.saveCheckpoint(c.dir, {
          onPhase: (p) => {
            if (p === 'shard-written' && ctx.rank === fail)
              throw new Error('ENOSPC: no space left on device (simulated)');
          },
        });
      }
      if (c.saveAt?.includes(done)) {
        const block = c.blockAt?.step === done ? c.blockAt.phase : null;
        res.saved.push(
          engine.saveCheckpoint(c.dir, {
            clientState: { note: 'test', step: done },
            onPhase: (p) => {
              if (p !== block) return;
              writeSync(1, `BLOCKED ${p} ${JSON.stringify(res.losses)}\n`);
              Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120_000);
            },
          }),
        );
        if (c.blockAt !== undefined) writeSync(1, `SAVED ${done} ${JSON.stringify(res.losses.slice(0, done))}\n`);
      }
    }
    if (c.weightsOut !== undefined) engine.saveWeights(c.weightsOut.path, { dtype: c.weightsOut.dtype });
    const cons = engine.consolidate();
    res.params = cons.params;
    res.moments = cons.state;
  } catch (e) {
    const err = e as Error;
    res.error = { name: err.name, message: err.message };
  } finally {
    device.free(scratch);
    engine.dispose();
  }
  return res;
}
