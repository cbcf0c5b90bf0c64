// Rank program for the lockstep tests: the ZeRO engine trains the tiny GPT; returns per-step losses and norms, and
// (rank 0) the consolidated fp32 parameters and Adam moments.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Device } from '../../src/tensor/device.js';
import { GPT } from '../../src/nn/gpt.js';
import { HostMemory } from '../../src/tensor/host.js';
import { initialize } from '../../src/zero/engine.js';
import type { ShardIOStats } from '../../src/zero/param-fetcher.js';
import { commOptionsFor } from '../../src/zero/comm-options.js';
import { gptNoDecay } from '../../src/nn/gpt.js';
import { GPT_TINY, dsConfig, microBatch, type LockstepCase } from '../helpers/lockstep-cases.js';
import type { FakeRankContext } from '../helpers/fake-world.js';
import type { ProcessGroup } from '../../src/comm/types.js';

export interface EngineResult {
  losses: number[];
  norms: number[];
  applied: boolean[];
  params?: Record<string, number[]>;
  m?: Record<string, number[]>;
  v?: Record<string, number[]>;
  memory: { afterInit: Record<string, number>; afterStep: Record<string, number>; peak: number };
  commBytes: number[];
  /** payload bytes (the buffers' logical size, algorithm-independent) per step, by collective */
  payload: Record<'all_reduce' | 'reduce_scatter' | 'all_gather' | 'broadcast', number>[];
  layout: { padded: number; shardNumel: number; wtePadded: number; largestGroup: number; buckets: number };
  /** peak bytes of category 'param' during training, above the baseline */
  paramPeak: number;
  /** peak bytes of category 'grad' over the whole run (first step included) */
  gradPeak: number;
  /**
   * During step() alone (the last step): the peak bytes above what was in use when backward ended, and the peak
   * of category 'workspace' above its use then (the step's fp32 gradient workspace, [Note: bucket-sized step workspace])
   */
  stepTransient: number;
  stepWorkspace: number;
  skipped: number;
  /** host bytes in use (offload) before dispose */
  hostInUse: number;
  fetch: {
    liveElements: number;
    peakLiveElements: number;
    gathers: number;
    shard: { hostBytes: number; diskBytes: number };
    shardIO: ShardIOStats | null;
  } | null;
  /** offloaded optimizer state: host bytes, swap-file bytes, sub-groups (null on the device) */
  offload: { hostBytes: number; diskBytes: number; subGroups: number } | null;
  /** host bytes in use by category before dispose (offload) */
  hostByCategory: Record<string, number>;
  /** nvme: bytes of this rank's swap files found on disk before dispose, and whether they were gone after */
  swap: { bytes: number; files: number; removed: boolean } | null;
  /** offload_param nvme: the same for the parameter shard's directory (c.paramNvme) */
  paramSwap: { bytes: number; files: number; removed: boolean } | null;
  /** host bytes in use after the steps, before consolidate and dispose */
  hostAfterStep: Record<string, number>;
  /** host memory (offload) during the steps (the update, its copy-back): peak bytes by category, and `total` */
  hostStepPeak: Record<string, number>;
}

/** This rank's swap directories (zerots-rank<r>-*) under dir: their files' total size and count. */
function swapFiles(dir: string, rank: number): { bytes: number; files: number; dirs: number } {
  const dirs = readdirSync(dir).filter((d) => d.startsWith(`zerots-rank${rank}-`));
  let bytes = 0;
  let files = 0;
  for (const d of dirs)
    for (const f of readdirSync(join(dir, d))) {
      bytes += statSync(join(dir, d, f)).size;
      files++;
    }
  return { bytes, files, dirs: dirs.length };
}

/** Several cases on one device and group (worker start-up is the expensive part); each must free all it took. */
export async function trainMany(ctx: FakeRankContext, cases: LockstepCase[]): Promise<EngineResult[]> {
  const device = new Device({ capacityBytes: 32 << 20, kernels: cases[0].kernels, name: `rank${ctx.rank}` });
  // the threads transport's scratch and, when a case asks for overlap_comm, its progress thread (fake transport: ignored)
  const comm = commOptionsFor(device, dsConfig(cases[0]), {
    worldSize: ctx.worldSize,
    progressThread: cases.some((c) => c.overlap === true),
  });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const out: EngineResult[] = [];
  for (const c of cases) {
    const before = device.memoryStats().inUseBytes;
    device.resetPeak();
    out.push(train(device, group, ctx, c, before));
    const after = device.memoryStats().inUseBytes;
    if (after !== before)
      throw new Error(`case stage ${c.stage} ${c.precision}: ${after - before} bytes not freed after dispose()`);
  }
  return out;
}

function train(
  device: Device,
  group: ProcessGroup,
  ctx: FakeRankContext,
  c: LockstepCase,
  baseline: number,
): EngineResult {
  const model = new GPT(device, GPT_TINY, { materialize: false });
  if (c.checkpoint !== undefined) model.setCheckpointing(true);
  const base = structuredClone(device.memoryStats().byCategory);
  const host = c.offload
    ? new HostMemory({ arenaBytes: 4 << 20, kernels: c.kernels, name: `host${ctx.rank}` })
    : undefined;
  const engine = initialize({
    model,
    config: dsConfig(c),
    group,
    noDecay: gptNoDecay,
    host,
    offloadThreads: c.offloadThreads,
  });
  const cat = () =>
    Object.fromEntries(
      Object.entries(device.memoryStats().byCategory).map(([k, v]) => [
        k,
        v.inUse - base[k as keyof typeof base].inUse,
      ]),
    );
  const afterInit = cat();
  const losses: number[] = [];
  const norms: number[] = [];
  const applied: boolean[] = [];
  const commBytes: number[] = [];
  const payload: EngineResult['payload'] = [];
  let afterStep = afterInit;
  let runPeak = 0;
  let paramPeakRun = 0;
  let gradPeakRun = 0;
  let stepTransient = 0;
  let stepWorkspace = 0;
  const hostStepPeak: Record<string, number> = {};
  for (let step = 0; step < c.steps; step++) {
    group.log.reset();
    const mbs = Array.from({ length: c.gas }, (_, k) => {
      const b = microBatch(step, k, ctx.rank, ctx.worldSize);
      return [b.inputs, b.targets] as [number[][], number[][]];
    });
    // trainBatch's three phases, the step's memory measured on its own
    let sum = 0;
    for (const mb of mbs) {
      engine.forward(...mb);
      sum += engine.backward();
    }
    const before = device.memoryStats();
    runPeak = Math.max(runPeak, before.peakBytes);
    paramPeakRun = Math.max(paramPeakRun, before.byCategory.param.peak);
    gradPeakRun = Math.max(gradPeakRun, before.byCategory.grad.peak);
    device.resetPeak();
    host?.resetPeak();
    const r = { loss: sum / mbs.length, step: engine.step()! };
    for (const [k, v] of Object.entries(host?.memoryStats().byCategory ?? {}))
      hostStepPeak[k] = Math.max(hostStepPeak[k] ?? 0, v.peak);
    if (host !== undefined) hostStepPeak.total = Math.max(hostStepPeak.total ?? 0, host.memoryStats().peakBytes);
    const during = device.memoryStats();
    stepTransient = during.peakBytes - before.inUseBytes;
    stepWorkspace = during.byCategory.workspace.peak - before.byCategory.workspace.inUse;
    losses.push(r.loss);
    norms.push(r.step.gradNorm);
    applied.push(r.step.applied);
    commBytes.push(group.log.totalBytesSent());
    const by = group.log.byOp;
    payload.push({
      all_reduce: by.all_reduce.payloadBytes,
      reduce_scatter: by.reduce_scatter.payloadBytes,
      all_gather: by.all_gather.payloadBytes,
      broadcast: by.broadcast.payloadBytes,
    });
    afterStep = cat();
  }
  const end = device.memoryStats();
  const peak = Math.max(runPeak, end.peakBytes) - baseline;
  const paramPeak = Math.max(paramPeakRun, end.byCategory.param.peak) - base.param.inUse;
  const gradPeak = Math.max(gradPeakRun, end.byCategory.grad.peak) - base.grad.inUse;
  const L = engine.plan.layout;
  const wte = L.buckets[L.locate[0][0]].layout; // parameter 0 is wte.weight
  const layout = {
    padded: L.padded,
    shardNumel: L.shardNumel,
    wtePadded: wte.padded,
    largestGroup: Math.max(...L.buckets.map((b) => b.layout.padded)),
    buckets: L.buckets.length,
  };
  const skipped = engine.scaler?.skippedSteps ?? 0;
  const hostAfterStep = Object.fromEntries(
    Object.entries(host?.memoryStats().byCategory ?? {}).map(([k, v]) => [k, v.inUse]),
  );
  const full = engine.consolidate();
  const toPlain = (o: Record<string, Float32Array>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, [...v]]));
  const hostInUse = host?.memoryStats().inUseBytes ?? 0;
  const hostByCategory = Object.fromEntries(
    Object.entries(host?.memoryStats().byCategory ?? {}).map(([k, v]) => [k, v.inUse]),
  );
  const fetch = engine.fetchStats();
  const offload = engine.offloadStats();
  const onDisk = c.nvme === undefined ? null : swapFiles(c.nvme.path, ctx.rank);
  const paramOnDisk = c.paramNvme === undefined ? null : swapFiles(c.paramNvme, ctx.rank);
  engine.dispose();
  const paramSwap =
    paramOnDisk === null
      ? null
      : { bytes: paramOnDisk.bytes, files: paramOnDisk.files, removed: swapFiles(c.paramNvme!, ctx.rank).dirs === 0 };
  const swap =
    onDisk === null
      ? null
      : { bytes: onDisk.bytes, files: onDisk.files, removed: swapFiles(c.nvme!.path, ctx.rank).dirs === 0 };
  if ((host?.memoryStats().inUseBytes ?? 0) !== 0) throw new Error('host memory not freed by dispose()');
  const res: EngineResult = {
    losses,
    norms,
    applied,
    memory: { afterInit, afterStep, peak },
    commBytes,
    payload,
    layout,
    paramPeak,
    skipped,
    hostInUse,
    fetch,
    gradPeak,
    stepTransient,
    stepWorkspace,
    offload: offload === null ? null : { ...offload },
    hostByCategory,
    swap,
    paramSwap,
    hostAfterStep,
    hostStepPeak,
  };
  if (ctx.rank === 0) {
    res.params = toPlain(full.params);
    res.m = toPlain(full.state.m);
    res.v = toPlain(full.state.v);
  }
  return res;
}
