// The training rank program: what every rank of `zerots train`, the demo and `bench zero` runs (spawned by
// trainWorld as `trainRank`, or called in-process over the local group at world size 1). One device and one process
// group per rank; every run of the spec gets its own engine over its own GPT, built from the same seed and fed the
// same data, each rank reading its share of every global batch (DistributedSampler). Worker start-up (the kernels'
// compile) is the expensive part, so all runs share one world.
//
// [Note: interleaved timing] The machine is shared and its load changes by the second. Timing the runs one after
// the other would charge each with whatever else ran meanwhile; instead every run first trains its untimed steps
// alone (the memory is measured there), then the timed steps run in rounds, one step of each run per round, so
// load changes hit every run alike (the first run of a round rotates). A run's time per step is the median of its
// timed steps; its speed against another is the median over rounds of the ratio of the two runs' steps in the same
// round (a paired comparison: both ran under about the same load).
import { writeSync } from 'node:fs';
import type { CollectiveOp, ProcessGroup } from '../comm/types.js';
import type { RankContext } from '../launch/spawn.js';
import { resolveConfig } from '../config/resolve.js';
import type { ZeroConfig } from '../config/types.js';
import { DistributedSampler, loadCorpus, trainValSplit } from '../data/index.js';
import { ConfigError, StateError } from '../errors.js';
import { GPT, gptNoDecay } from '../nn/gpt.js';
import { type Allocation, Device, MEMORY_CATEGORIES, type MemoryCategory } from '../tensor/device.js';
import { commOptionsFor } from '../zero/comm-options.js';
import { engineBackends, engineLine } from '../zero/backends.js';
import { initialize, type StepInfo, type ZeroEngine } from '../zero/engine.js';
import { heldOutLoss } from './held-out.js';
import { gatherWorldFigures } from './world-figures.js';
import type { PhaseSeconds, RankResult, RunConfig, RunSpec } from './spec.js';
import { median } from './stats.js';
import { ProgressReporter } from './progress.js';
import { policyFromConfig } from '../config/policy.js';
import { HostMemory } from '../tensor/host.js';

const OPS: readonly CollectiveOp[] = ['all_reduce', 'reduce_scatter', 'all_gather', 'broadcast', 'barrier'];

function categories(f: (c: MemoryCategory) => number): Record<MemoryCategory, number> {
  return Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, f(c)])) as Record<MemoryCategory, number>;
}

function ops(f: (op: CollectiveOp) => number): Record<CollectiveOp, number> {
  return Object.fromEntries(OPS.map((op) => [op, f(op)])) as Record<CollectiveOp, number>;
}

type Tokens = { B: number; T: number; data: Int32Array };

/** One run's engine and what is measured of it. */
interface Live {
  run: RunConfig;
  /** Optimizer steps done before this program (a resumed run: the checkpoint's step) and the first micro-step's data index. */
  first: number;
  firstMicro: number;
  config: ZeroConfig;
  model: GPT;
  engine: ZeroEngine<GPT>;
  /** This rank's share of every global batch, at the run's micro-batch size. */
  sampler: DistributedSampler;
  losses: number[];
  last: StepInfo | null;
  /** Cumulative training seconds after each step (evaluation excluded). */
  elapsed: number[];
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

interface World {
  device: Device;
  group: ProcessGroup;
  ctx: RankContext;
  spec: RunSpec;
  /** The training split of the corpus. */
  train: Uint8Array | Int32Array;
  /** One float for averaging a loss over the ranks (progress lines). */
  mean: Allocation;
  lines: string[];
  /** The device's peak bytes before the last resetPeak (the runs reset it to measure each one's steady state). */
  peakBefore: number;
  /** Rank 0's bar and step log (spec.display), else null. */
  reporter: ProgressReporter | null;
  /** Memory before the run being started was built. */
  base?: ReturnType<Device['memoryStats']>;
  /** Every run's last-step loss averaged over the ranks (progress at the last step). */
  finalMeans?: number[];
}

export async function trainRank(ctx: RankContext, spec: RunSpec): Promise<RankResult[]> {
  const device = new Device({ capacityBytes: spec.deviceBytes, kernels: spec.kernels, name: `rank${ctx.rank}` });
  // The scratch speeds up large reductions; no progress thread: it costs a core per rank, and on a machine with no
  // spare cores (CI has 2) overlap_comm's async collectives are better run at the call. Allocated once, before any
  // run's baseline.
  const comm = commOptionsFor(device, spec.runs[0]!.config, {
    worldSize: ctx.worldSize,
    progressThread: false,
    timeoutMs: 300_000,
  });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const { train, val } = trainValSplit(spec.corpus ?? loadCorpus());
  const configs = spec.runs.map((r) => resolveConfig(r.config, { worldSize: ctx.worldSize }));
  const mean = device.alloc(4, 'comm', 'loss averaged over ranks (progress lines)');
  const w0 = { ctx, spec, lines: [] as string[] };
  say(w0, engineLine(engineBackends(device.kernels.backend, group.transport))); // [native blas] what every engine runs on
  const reporter =
    ctx.rank === 0 && spec.display !== undefined && (spec.display.bar || spec.display.logFile !== undefined)
      ? new ProgressReporter({ steps: spec.steps, fd: 1, ...spec.display })
      : null;
  const w: World = { device, group, ctx, spec, train, mean, lines: w0.lines, peakBefore: 0, reporter };
  const idle = device.memoryStats().inUseBytes;
  if (spec.checkpoint !== undefined && spec.runs.length !== 1)
    throw new ConfigError(`checkpoints need a spec with one run; this one has ${spec.runs.length}`, 'checkpoint');
  const lives: Live[] = [];
  let out: RankResult[];
  try {
    let first = 0;
    let untimed = 0;
    for (let k = 0; k < spec.runs.length; k++) {
      const live = build(w, spec.runs[k]!, configs[k]!);
      lives.push(live);
      first = live.first;
      // at least one untimed step (the memory is measured there) and, from 2 steps on, at least one timed step
      untimed = Math.min(Math.max(1, spec.untimedSteps), Math.max(1, spec.steps - first - 1));
      start(w, live, untimed);
    }
    for (let s = first; s < first + untimed; s++) {
      progress(w, lives, s);
      midEval(w, lives, s, val);
    }
    for (let s = first + untimed; s < spec.steps; s++) {
      // rotate which run goes first, so that no run always follows the same one
      for (let k = 0; k < lives.length; k++) timedStep(w, lives[(k + s) % lives.length]!, s);
      progress(w, lives, s);
      midEval(w, lives, s, val);
      for (const live of lives) maybeSave(w, live, s);
    }
    reporter?.stop();
    out = lives.map((live) => finish(w, live, val));
    gatherWorldFigures(device, group, out); // a rank of a launched job reports the world's, as summarize() does
    out[0]!.lines = w.lines;
    out.forEach((r, k) => {
      r.worldMeanLoss = w.finalMeans?.[k] ?? Number.NaN;
    });
  } finally {
    reporter?.stop();
    for (const live of lives) live.engine.dispose();
  }
  const left = device.memoryStats().inUseBytes - idle;
  if (left !== 0) throw new StateError(`rank ${ctx.rank}: ${left} device bytes not freed after the engines' dispose()`);
  device.free(mean);
  comm.dispose();
  return out;
}

/** Builds the run's engine (restored from a checkpoint, or its weights from a file, when the spec says so). */
function build(w: World, run: RunConfig, config: ZeroConfig): Live {
  const { device, group, spec } = w;
  const base = device.memoryStats();
  const above = (c: MemoryCategory, v: number) => v - base.byCategory[c].inUse;
  resetPeak(w);
  w.base = base;
  const model = new GPT(device, { ...spec.model, seed: spec.seed }, { materialize: false });
  const policy = policyFromConfig(config);
  // offload: the rank's host memory (HostMemory, outside the device's capacity), as DeepSpeed's CPU buffers
  const host =
    policy.optimizerState.placement !== 'device' || policy.paramShardPlacement !== 'device'
      ? new HostMemory({
          capacityBytes: spec.hostBytes,
          // an arena no larger than the whole budget (the default arena is 256 MiB)
          arenaBytes: spec.hostBytes === undefined ? undefined : Math.min(spec.hostBytes, 256 * 2 ** 20),
          kernels: spec.kernels,
          name: `host${w.ctx.rank}`,
        })
      : undefined;
  const engine = initialize({
    model,
    config,
    group,
    device,
    host,
    noDecay: gptNoDecay,
    localWorldSize: w.ctx.localWorldSize,
  });
  const sampler = new DistributedSampler(w.train, {
    blockSize: spec.model.blockSize,
    microBatchSize: config.trainMicroBatchSizePerGpu,
    worldSize: w.ctx.worldSize,
    rank: w.ctx.rank,
  });
  const { first, firstMicro } = restore(w, engine, config);
  const live: Live = {
    run,
    first,
    firstMicro,
    config,
    model,
    engine,
    sampler,
    losses: [],
    last: null,
    elapsed: [],
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
  return live;
}

/** Trains the run's untimed steps alone, measuring its memory above what was in use before it was built. */
function start(w: World, live: Live, untimed: number): void {
  const { device } = w;
  const base = w.base!;
  const above = (c: MemoryCategory, v: number) => v - base.byCategory[c].inUse;
  for (let s = live.first; s < live.first + untimed; s++) {
    // The first step learns (stage 2: gradient readiness, holding every bucket; stage 3: the gather order); the
    // steady-state peak is that of a later step when there is one.
    if (s === live.first + 1) resetPeak(w);
    const t0 = performance.now();
    trainStep(w, live, s);
    addElapsed(live, (performance.now() - t0) / 1000);
    if (s === live.first) live.firstStepPeakTotal = device.memoryStats().peakBytes - base.inUseBytes;
    maybeSave(w, live, s);
  }
  const m = device.memoryStats();
  live.peak = categories((c) => above(c, m.byCategory[c].peak));
  live.peakTotal = m.peakBytes - base.inUseBytes;
}

/** --resume / --init-from: the step and data position to start from (0, 0 for a fresh run). */
function restore(w: World, engine: ZeroEngine<GPT>, config: ZeroConfig): { first: number; firstMicro: number } {
  const c = w.spec.checkpoint;
  const { ctx } = w;
  if (c?.resume !== undefined) {
    const r = engine.loadCheckpoint(c.resume);
    const perMicro = ctx.worldSize * config.trainMicroBatchSizePerGpu;
    if (r.data.sampleIndex % perMicro !== 0)
      throw new ConfigError(
        `checkpoint ${r.dir} stopped after ${r.data.sampleIndex} samples, not a whole number of micro-steps of ` +
          `${perMicro} (world size ${ctx.worldSize} x micro-batch ${config.trainMicroBatchSizePerGpu}); resume with a ` +
          'micro-batch that divides it (keep train_batch_size as it was)',
        'train_micro_batch_size_per_gpu',
      );
    if (r.globalSteps >= w.spec.steps)
      throw new ConfigError(
        `checkpoint ${r.dir} is at step ${r.globalSteps}; --steps ${w.spec.steps} counts from the start of the run, ` +
          'so ask for more steps than that',
        'steps',
      );
    const fp = (x: string) => (x === 'f32' ? 'fp32' : x);
    say(
      w,
      `resumed from ${r.dir}: step ${r.globalSteps} (${r.data.sampleIndex} samples); world size ${r.worldSize.saved} then, ` +
        `${r.worldSize.now} now; ZeRO stage ${r.stage.saved} then, ${r.stage.now} now; ${fp(r.precision.saved)} then, ` +
        `${fp(r.precision.now)} now`,
    );
    return { first: r.globalSteps, firstMicro: r.data.sampleIndex / perMicro };
  }
  if (c?.initFrom !== undefined) {
    const r = engine.loadWeights(c.initFrom);
    say(w, `weights from ${r.path} (${r.tensors} tensors); optimizer state fresh`);
  }
  return { first: 0, firstMicro: 0 };
}

/** After step s (0-based): a checkpoint when --save-dir asks for one (a collective: every rank calls it). */
function maybeSave(w: World, live: Live, s: number): void {
  const c = w.spec.checkpoint;
  if (c?.saveDir === undefined) return;
  const done = s + 1;
  const every = c.saveEvery ?? 0;
  if (!(done === w.spec.steps || (every > 0 && done % every === 0))) return;
  const gas = live.config.gradientAccumulationSteps;
  const next = live.firstMicro + (done - live.first) * gas;
  const perMicro = w.ctx.worldSize * live.config.trainMicroBatchSizePerGpu;
  const dir = live.engine.saveCheckpoint(c.saveDir, {
    data: { epoch: Math.floor(next / live.sampler.stepsPerEpoch), sampleIndex: next * perMicro },
  });
  say(w, `saved ${dir} at step ${done}`);
}

/** A line from rank 0, kept for the report and written as it happens (see progress). */
function say(w: Pick<World, 'ctx' | 'spec' | 'lines'>, line: string): void {
  if (w.ctx.rank !== 0) return;
  w.lines.push(line);
  if (w.spec.progressTo !== 'none') writeSync(w.spec.progressTo === 'stdout' ? 1 : 2, `${line}\n`);
}

function resetPeak(w: World): void {
  w.peakBefore = Math.max(w.peakBefore, w.device.memoryStats().peakBytes);
  w.device.resetPeak();
}

function addElapsed(live: Live, seconds: number): void {
  live.elapsed.push((live.elapsed[live.elapsed.length - 1] ?? 0) + seconds);
}

/** One optimizer step: gradient_accumulation_steps micro-batches forward and backward, then step(). */
function trainStep(w: World, live: Live, s: number): { forward: number; backward: number; step: number } {
  const { spec } = w;
  const { sampler } = live;
  const T = spec.model.blockSize;
  const gas = live.config.gradientAccumulationSteps;
  const t = { forward: 0, backward: 0, step: 0 };
  let loss = 0;
  for (let k = 0; k < gas; k++) {
    const i = live.firstMicro + (s - live.first) * gas + k;
    const b = sampler.batch(spec.seed, Math.floor(i / sampler.stepsPerEpoch), i % sampler.stepsPerEpoch);
    const inputs: Tokens = { B: b.B, T, data: b.inputs };
    const targets: Tokens = { B: b.B, T, data: b.targets };
    const a = performance.now();
    live.engine.forward(inputs, targets);
    const f = performance.now();
    loss += live.engine.backward();
    t.forward += (f - a) / 1000;
    t.backward += (performance.now() - f) / 1000;
  }
  const g = performance.now();
  live.last = live.engine.step();
  t.step = (performance.now() - g) / 1000;
  live.losses.push(loss / gas);
  return t;
}

function timedStep(w: World, live: Live, s: number): void {
  const { group } = w;
  group.barrier(); // every rank starts the step together; the step ends in a collective on every stage
  const log = live.engine.commStats(); // the group's log: this step's collectives only, after the reset
  log.reset();
  const t0 = performance.now();
  const p = trainStep(w, live, s);
  const seconds = (performance.now() - t0) / 1000;
  live.stepSeconds.push(seconds);
  addElapsed(live, seconds);
  live.phases.forward += p.forward;
  live.phases.backward += p.backward;
  live.phases.step += p.step;
  for (const op of OPS) {
    live.commBytes[op] += log.byOp[op].bytesSent;
    live.commSeconds[op] += log.byOp[op].seconds;
    live.commCalls[op] += log.byOp[op].count;
  }
}

/** Step s's progress line, on rank 0, with each run's loss averaged over the ranks (a collective: every rank calls it). */
function progress(w: World, lives: readonly Live[], s: number): void {
  const { spec, ctx, device, group } = w;
  const lineStep = spec.progressEvery > 0 && ((s + 1) % spec.progressEvery === 0 || s + 1 === spec.steps);
  // the bar and the step log want every step: their ranks all take part in the averaging (rank 0 alone knows)
  const everyStep = spec.display !== undefined && (spec.display.bar || spec.display.logFile !== undefined);
  // the last step is always averaged: a rank of `zerots launch` reports the job's final loss from it alone
  const last = s + 1 === spec.steps;
  if (!lineStep && !everyStep && !last) return;
  const v = device.f32(w.mean.ptr, 1);
  const means = lives.map((l) => {
    v[0] = l.losses[s - l.first]! / ctx.worldSize;
    group.allReduce(v, 'sum', 'f32');
    return v[0]!;
  });
  if (last) w.finalMeans = means;
  if (ctx.rank !== 0) return;
  if (w.reporter !== null && lives.length === 1) report(w, lives[0]!, means[0]!, s);
  if (!lineStep) return;
  let line: string;
  if (lives.length === 1) {
    const l = lives[0]!;
    const tokens = (s + 1 - l.first) * l.config.trainBatchSize * spec.model.blockSize;
    line =
      `step ${s + 1}/${spec.steps} | loss ${means[0]!.toFixed(4)} | lr ${(l.last?.lr ?? NaN).toExponential(2)} | ` +
      `grad norm ${(l.last?.gradNorm ?? NaN).toFixed(3)}${l.last?.applied === false ? ' (skipped: fp16 overflow)' : ''}` +
      ` | ${Math.round(tokens / l.elapsed[s - l.first]!)} tok/s`;
  } else {
    line = `  step ${s + 1}/${spec.steps}: loss ${lives.map((l, k) => `${l.run.label} ${means[k]!.toFixed(4)}`).join(', ')}`;
  }
  w.lines.push(line);
  // A worker's process.stdout/stderr is flushed through its event loop, which the synchronous training loop never
  // yields to; a direct write to the process's fd shows up at once.
  if (spec.progressTo !== 'none' && spec.display?.bar !== true)
    writeSync(spec.progressTo === 'stdout' ? 1 : 2, `${line}\n`);
}

/** --eval-every: the held-out loss after step s, averaged over the ranks (every rank evaluates its share). */
function midEval(w: World, lives: readonly Live[], s: number, val: Uint8Array | Int32Array): void {
  const { spec, ctx, device, group } = w;
  const every = spec.evalEvery ?? 0;
  if (every <= 0 || (s + 1) % every !== 0 || s + 1 === spec.steps || spec.evalBatches <= 0) return;
  const v = device.f32(w.mean.ptr, 1);
  const means = lives.map((l) => {
    const mine = heldOutLoss(device, l.model, val, {
      rank: ctx.rank,
      worldSize: ctx.worldSize,
      blockSize: spec.model.blockSize,
      microBatch: l.config.trainMicroBatchSizePerGpu,
      batches: spec.evalBatches,
    });
    v[0] = mine / ctx.worldSize;
    group.allReduce(v, 'sum', 'f32');
    return v[0]!;
  });
  if (ctx.rank !== 0) return;
  const losses = lives.map((l, k) => `${lives.length > 1 ? `${l.run.label} ` : ''}${means[k]!.toFixed(4)}`);
  const line = `  step ${s + 1}/${spec.steps}: held-out loss ${losses.join(', ')}`;
  w.lines.push(line);
  w.reporter?.eval(s + 1, means[0]!);
  if (spec.progressTo !== 'none' && spec.display?.bar !== true)
    writeSync(spec.progressTo === 'stdout' ? 1 : 2, `${line}\n`);
}

/** Step s of a single run to rank 0's bar and step log. */
function report(w: World, l: Live, loss: number, s: number): void {
  const m = w.device.memoryStats();
  const tokens = (s + 1 - l.first) * l.config.trainBatchSize * w.spec.model.blockSize;
  w.reporter!.step({
    step: s + 1,
    loss,
    lr: l.last?.lr ?? NaN,
    gradNorm: l.last?.gradNorm ?? NaN,
    lossScale: l.last?.lossScale ?? 1,
    applied: l.last?.applied ?? true,
    tokensPerSecond: tokens / l.elapsed[s - l.first]!,
    deviceBytes: m.inUseBytes,
    devicePeakBytes: m.peakBytes,
    elapsedSeconds: l.elapsed[s - l.first]!,
  });
}

function finish(w: World, live: Live, val: Uint8Array | Int32Array): RankResult {
  const { spec, ctx, device } = w;
  const valLoss =
    spec.evalBatches > 0
      ? heldOutLoss(device, live.model, val, {
          rank: ctx.rank,
          worldSize: ctx.worldSize,
          blockSize: spec.model.blockSize,
          microBatch: live.config.trainMicroBatchSizePerGpu,
          batches: spec.evalBatches,
          activationDType: live.config.bf16.enabled ? 'bf16' : live.config.fp16.enabled ? 'f16' : 'f32',
        })
      : null;
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
  const c = live.config;
  return {
    label: live.run.label,
    stage: c.zero.stage,
    precision: c.bf16.enabled ? 'bf16' : c.fp16.enabled ? 'fp16' : 'fp32',
    rank: ctx.rank,
    losses: live.losses,
    valLoss,
    lastLr: live.last?.lr ?? NaN,
    lastGradNorm: live.last?.gradNorm ?? NaN,
    skippedSteps: live.engine.scaler?.skippedSteps ?? 0,
    trainSeconds: live.elapsed[live.elapsed.length - 1] ?? 0,
    secondsPerStep: median(live.stepSeconds),
    minSecondsPerStep: n > 0 ? Math.min(...live.stepSeconds) : NaN,
    stepSeconds: live.stepSeconds,
    timedSteps: n,
    tokensPerStep: c.trainBatchSize * spec.model.blockSize,
    phases,
    peak: live.peak,
    peakTotal: live.peakTotal,
    firstStepPeakTotal: live.firstStepPeakTotal,
    devicePeakBytes: Math.max(w.peakBefore, device.memoryStats().peakBytes),
    afterInit: live.afterInit,
    commBytesPerStep: OPS.reduce((sum, op) => sum + commBytesByOp[op], 0),
    commBytesByOp,
    commCallsByOp: ops((op) => per(live.commCalls[op])),
    params: live.model.parameters().reduce((sum, p) => sum + p.numel, 0),
    layout: { padded: L.padded, shardNumel: L.shardNumel, worldSize: ctx.worldSize },
    lines: [],
    engine: live.engine.backends,
  };
}
