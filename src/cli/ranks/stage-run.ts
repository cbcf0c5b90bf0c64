// Rank program of `zerots demo` and `zerots bench zero` (spawned by spawnWorld as runStagesRank): one device and one
// process group per rank; every requested ZeRO stage gets its own engine over its own GPT, built from the same seed
// and fed the same data, so all stages train the same model. Worker start-up (the kernels' compile) is the
// expensive part, so all stages share one world.
//
// [Note: interleaved timing] The machine is shared and its load changes by the second. Timing the stages one after
// the other would charge each stage with whatever else ran meanwhile; instead every stage first runs its untimed
// steps alone (the memory is measured there), then the timed steps run in rounds, one step of each stage per round,
// so load changes hit every stage alike (the first stage of a round rotates). A stage's time per step is the median
// of its timed steps; its speed against stage 0 is the median over rounds of the ratio of the two stages' steps in
// the same round (a paired comparison: both ran under about the same load).
import { writeSync } from 'node:fs';
import type { ProcessGroup, CollectiveOp } from '../../comm/types.js';
import type { RankContext } from '../../launch/spawn.js';
import { Device, MEMORY_CATEGORIES, type MemoryCategory } from '../../tensor/device.js';
import { GPT } from '../../nn/gpt.js';
import { initialize, type ZeroEngine } from '../../zero/engine.js';
import { DistributedSampler, loadCorpus, trainValSplit } from '../../data/index.js';
import type { PhaseSeconds, StageNumber, StageResult, StageRunSpec } from './stage-spec.js';
import { stageConfig } from './stage-config.js';
import { median } from './stats.js';
import { heldOutLoss } from '../../train/held-out.js';

/** Bytes of the threads transport's staging area per rank (256 KiB or more reaches full bandwidth). */
export const COMM_STAGING_BYTES = 1 << 20;

const OPS: readonly CollectiveOp[] = ['all_reduce', 'reduce_scatter', 'all_gather', 'broadcast', 'barrier'];

function categories(f: (c: MemoryCategory) => number): Record<MemoryCategory, number> {
  return Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, f(c)])) as Record<MemoryCategory, number>;
}

function ops(f: (op: CollectiveOp) => number): Record<CollectiveOp, number> {
  return Object.fromEntries(OPS.map((op) => [op, f(op)])) as Record<CollectiveOp, number>;
}

/** GPT-2 practice: no weight decay on biases and LayerNorm gains (1-D parameters). */
function noDecay(_name: string, shape: readonly number[]): boolean {
  return shape.length < 2;
}

/** One stage's engine and what is measured of it. */
interface Live {
  stage: StageNumber;
  model: GPT;
  engine: ZeroEngine<GPT>;
  losses: number[];
  stepSeconds: number[];
  phases: { forward: number; backward: number; step: number };
  commBytes: Record<CollectiveOp, number>;
  commSeconds: Record<CollectiveOp, number>;
  commCalls: Record<CollectiveOp, number>;
  afterInit: Record<MemoryCategory, number>;
  peak: Record<MemoryCategory, number>;
  peakTotal: number;
  firstStepPeakTotal: number;
}

interface RankRun {
  device: Device;
  group: ProcessGroup;
  ctx: RankContext;
  spec: StageRunSpec;
  sampler: DistributedSampler;
}

export async function runStagesRank(ctx: RankContext, spec: StageRunSpec): Promise<StageResult[]> {
  const device = new Device({ capacityBytes: spec.deviceBytes, kernels: spec.kernels, name: `rank${ctx.rank}` });
  // The threads transport stages reductions through this buffer; without one it uses an 8 KiB slot, and large
  // reductions then move in small blocks (src/comm/threads/setup.ts). Allocated once, before any stage's baseline.
  const staging = device.alloc(COMM_STAGING_BYTES, 'comm', 'collective staging');
  const group = await ctx.initProcessGroup(device.memory, {
    timeoutMs: 300_000,
    scratch: { ptr: staging.ptr, bytes: staging.bytes },
  });
  const { train, val } = trainValSplit(spec.corpus ?? loadCorpus());
  const T = spec.model.blockSize;
  const sampler = new DistributedSampler(train, {
    blockSize: T,
    microBatchSize: spec.microBatch,
    worldSize: ctx.worldSize,
    rank: ctx.rank,
  });
  const run: RankRun = { device, group, ctx, spec, sampler };
  const idle = device.memoryStats().inUseBytes;
  // at least one untimed step (the memory is measured there) and, from 2 steps on, at least one timed step
  const untimed = Math.min(Math.max(1, spec.untimedSteps), Math.max(1, spec.steps - 1));
  const lives = spec.stages.map((stage) => start(run, stage, untimed));
  for (let s = untimed; s < spec.steps; s++) {
    // rotate which stage goes first, so that no stage always follows the same one
    for (let k = 0; k < lives.length; k++) timedStep(run, lives[(k + s) % lives.length]!, s);
    progress(run, lives, s);
  }
  const out = lives.map((live) => {
    const valLoss =
      spec.evalBatches > 0
        ? heldOutLoss(run.device, live.model, val, {
            rank: run.ctx.rank,
            worldSize: run.ctx.worldSize,
            blockSize: spec.model.blockSize,
            microBatch: spec.microBatch,
            batches: spec.evalBatches,
          })
        : null;
    return finish(run, live, valLoss);
  });
  for (const live of lives) live.engine.dispose();
  const left = device.memoryStats().inUseBytes - idle;
  if (left !== 0) throw new Error(`rank ${ctx.rank}: ${left} device bytes not freed after the engines' dispose()`);
  return out;
}

/** Builds the stage's engine and runs its untimed steps alone, measuring its memory (above what was in use before). */
function start(run: RankRun, stage: StageNumber, untimed: number): Live {
  const { device, group, spec } = run;
  const base = device.memoryStats();
  const above = (c: MemoryCategory, v: number) => v - base.byCategory[c].inUse;
  device.resetPeak();
  const model = new GPT(device, { ...spec.model, seed: spec.seed }, { materialize: false });
  const engine = initialize({ model, config: stageConfig(spec, stage), group, device, noDecay });
  const live: Live = {
    stage,
    model,
    engine,
    losses: [],
    stepSeconds: [],
    phases: { forward: 0, backward: 0, step: 0 },
    commBytes: ops(() => 0),
    commSeconds: ops(() => 0),
    commCalls: ops(() => 0),
    afterInit: categories((c) => above(c, device.memoryStats().byCategory[c].inUse)),
    peak: categories(() => 0),
    peakTotal: 0,
    firstStepPeakTotal: 0,
  };
  for (let s = 0; s < untimed; s++) {
    // The first step learns (stage 2: gradient readiness, holding every bucket; stage 3: the gather order); the
    // steady-state peak is that of a later step when there is one.
    if (s === 1) device.resetPeak();
    trainStep(run, live, s);
    if (s === 0) live.firstStepPeakTotal = device.memoryStats().peakBytes - base.inUseBytes;
  }
  const m = device.memoryStats();
  live.peak = categories((c) => above(c, m.byCategory[c].peak));
  live.peakTotal = m.peakBytes - base.inUseBytes;
  return live;
}

function trainStep(run: RankRun, live: Live, s: number): { forward: number; backward: number; step: number } {
  const { sampler, spec } = run;
  const T = spec.model.blockSize;
  const b = sampler.batch(spec.seed, Math.floor(s / sampler.stepsPerEpoch), s % sampler.stepsPerEpoch);
  const a = performance.now();
  live.engine.forward({ B: b.B, T, data: b.inputs }, { B: b.B, T, data: b.targets });
  const f = performance.now();
  live.losses.push(live.engine.backward());
  const g = performance.now();
  live.engine.step();
  const h = performance.now();
  return { forward: (f - a) / 1000, backward: (g - f) / 1000, step: (h - g) / 1000 };
}

function timedStep(run: RankRun, live: Live, s: number): void {
  const { group } = run;
  group.barrier(); // every rank starts the step together; the step ends in a collective on every stage
  const log = live.engine.commStats(); // the group's log: this step's collectives only, after the reset
  log.reset();
  const t0 = performance.now();
  const p = trainStep(run, live, s);
  live.stepSeconds.push((performance.now() - t0) / 1000);
  live.phases.forward += p.forward;
  live.phases.backward += p.backward;
  live.phases.step += p.step;
  for (const op of OPS) {
    live.commBytes[op] += log.byOp[op].bytesSent;
    live.commSeconds[op] += log.byOp[op].seconds;
    live.commCalls[op] += log.byOp[op].count;
  }
}

function progress(run: RankRun, lives: readonly Live[], s: number): void {
  const { spec, ctx } = run;
  if (ctx.rank !== 0 || spec.progressEvery <= 0 || ((s + 1) % spec.progressEvery !== 0 && s + 1 !== spec.steps)) return;
  const losses = lives.map((l) => `stage ${l.stage} ${l.losses[s]!.toFixed(4)}`).join(', ');
  // A worker's process.stderr is flushed through its event loop, which the synchronous training loop never yields
  // to; a direct write to the process's fd 2 shows up at once.
  writeSync(2, `  step ${s + 1}/${spec.steps}: loss (rank 0) ${losses}\n`);
}

function finish(run: RankRun, live: Live, valLoss: number | null): StageResult {
  const { spec, ctx } = run;
  const n = live.stepSeconds.length;
  const per = (x: number) => (n > 0 ? x / n : NaN); // no timed step (a 1-step run): nothing measured
  const phases: PhaseSeconds = {
    forward: per(live.phases.forward),
    backward: per(live.phases.backward),
    step: per(live.phases.step),
    comm: ops((op) => per(live.commSeconds[op])),
  };
  const commBytesByOp = ops((op) => per(live.commBytes[op]));
  const L = live.engine.plan.layout;
  return {
    stage: live.stage,
    rank: ctx.rank,
    losses: live.losses,
    valLoss,
    secondsPerStep: median(live.stepSeconds),
    minSecondsPerStep: n > 0 ? Math.min(...live.stepSeconds) : NaN,
    stepSeconds: live.stepSeconds,
    timedSteps: n,
    tokensPerStep: ctx.worldSize * spec.microBatch * spec.model.blockSize,
    phases,
    peak: live.peak,
    peakTotal: live.peakTotal,
    firstStepPeakTotal: live.firstStepPeakTotal,
    afterInit: live.afterInit,
    commBytesPerStep: OPS.reduce((sum, op) => sum + commBytesByOp[op], 0),
    commBytesByOp,
    commCallsByOp: ops((op) => per(live.commCalls[op])),
    params: live.model.parameters().reduce((sum, p) => sum + p.numel, 0),
    layout: { padded: L.padded, shardNumel: L.shardNumel, worldSize: ctx.worldSize },
  };
}
