// The largest GPT each method trains at a fixed per-rank device capacity (and host capacity, for offload), found the
// way one finds it on a GPU: try it. `zerots bench capacity` runs this for DDP, ZeRO-1, -2, -3, ZeRO-3 + cpu offload
// and ZeRO-3 + nvme offload on 2 thread ranks.
//
// [Note: the capacity ladder] The shapes tried are one fixed sequence, growing depth first, then width: at width d0,
// depth 1, 2, ..., Lmax; then at depth Lmax, width d0 + s, d0 + 2s, ..., dmax (heads fixed, so the head size grows
// with the width). Parameters grow strictly along it, and so does every memory a method holds (model states,
// activations, the gathered block), so "trains 3 steps at micro-batch 1" should be monotone along the ladder, and a
// bisection over its indices finds the boundary: the largest index that trained and the next index, which ran out of
// memory. Both are real trials; the shapes between that were not tried are assumed to follow (allocator
// fragmentation can break monotonicity: [Note: persistence 0 in bench capacity] in src/cli/bench-capacity.ts). Every
// trial is a real training run in a world of its own; a trial that does not fit ends in a real
// DeviceOutOfMemoryError (device or host arenas) or OffloadError (host memory or disk for the offloaded state) on
// some rank, which the world reports as its root cause; any other error is a failure of the benchmark. The found
// index is reported with its neighbour's out-of-memory trial (or as the top of the ladder, which says the ladder was
// too short). Depth first keeps the steps fine where stages 1-3 differ by ~10% per parameter: one block of Lmax is
// 1/Lmax of the model; the width part is coarser and is where the offloaded methods land.
import { ConfigError } from '../errors.js';
import type { GPTConfig } from '../nn/gpt.js';
import { gptTrainingConfig, type StageNumber } from './configs.js';
import type { RunReport } from './report.js';
import type { RunSpec } from './spec.js';
import { trainWorld } from './world.js';

export type CapacityKey = 'ddp' | 'zero1' | 'zero2' | 'zero3' | 'zero3_cpu' | 'zero3_nvme';

export interface CapacityMethod {
  key: CapacityKey;
  label: string;
  stage: StageNumber;
  /**
   * offload_optimizer.device, and offload_param's: "cpu", or "nvme" with max_in_cpu 0 (the whole 16-bit shard in its
   * swap file; the step streams it through buffer_count windows, so the host peak falls by about the shard).
   */
  offload: 'none' | 'cpu' | 'nvme';
}

export const CAPACITY_METHODS: readonly CapacityMethod[] = [
  { key: 'ddp', label: 'DDP', stage: 0, offload: 'none' },
  { key: 'zero1', label: 'ZeRO-1', stage: 1, offload: 'none' },
  { key: 'zero2', label: 'ZeRO-2', stage: 2, offload: 'none' },
  { key: 'zero3', label: 'ZeRO-3', stage: 3, offload: 'none' },
  { key: 'zero3_cpu', label: 'ZeRO-3 + cpu offload', stage: 3, offload: 'cpu' },
  { key: 'zero3_nvme', label: 'ZeRO-3 + nvme offload', stage: 3, offload: 'nvme' },
];

export type Shape = Omit<GPTConfig, 'seed'>;

export interface LadderOptions {
  /** Width of the depth part (d0). */
  width: number;
  /** Depth at which the width part starts (Lmax). */
  maxDepth: number;
  widthStep: number;
  maxWidth: number;
  heads: number;
  context: number;
  vocab: number;
}

/** Parameters of the GPT (tied embedding): 12 L d^2 + 13 L d + (V + T) d + 2 d. */
export function gptParams(s: Shape): number {
  const d = s.nEmbd;
  return 12 * s.nLayer * d * d + 13 * s.nLayer * d + (s.vocabSize + s.blockSize) * d + 2 * d;
}

/** The shapes of [Note: the capacity ladder], smallest first. */
export function shapeLadder(o: LadderOptions): Shape[] {
  const at = (nLayer: number, nEmbd: number): Shape => ({
    vocabSize: o.vocab,
    blockSize: o.context,
    nLayer,
    nHead: o.heads,
    nEmbd,
  });
  const out: Shape[] = [];
  for (let L = 1; L <= o.maxDepth; L++) out.push(at(L, o.width));
  for (let d = o.width + o.widthStep; d <= o.maxWidth; d += o.widthStep) out.push(at(o.maxDepth, d));
  const ok = (v: number, min: number) => Number.isSafeInteger(v) && v >= min;
  if (!(ok(o.width, 1) && ok(o.maxDepth, 1) && ok(o.widthStep, 1) && ok(o.heads, 1) && ok(o.context, 1)))
    throw new ConfigError(
      `capacity ladder: width ${o.width}, maxDepth ${o.maxDepth}, widthStep ${o.widthStep}, heads ${o.heads}, ` +
        `context ${o.context}: each must be a whole number >= 1`,
      'ladder',
    );
  for (const s of out)
    if (s.nEmbd % s.nHead !== 0)
      throw new ConfigError(
        `capacity ladder: width ${s.nEmbd} is not a multiple of ${s.nHead} heads; make width and widthStep multiples ` +
          'of heads',
        'ladder.widthStep',
      );
  return out;
}

export interface CapacityBase {
  deviceBytes: number;
  /** Host memory per rank for the offloaded methods (HostMemory capacity: every offloaded byte is counted there). */
  hostBytes: number;
  /** Directory for the nvme method's swap files (each rank makes its own folder there, removed at dispose). */
  nvmePath: string;
  worldSize: number;
  seed: number;
  kernels: 'wasm' | 'js';
  /** Optimizer steps each trial trains. */
  steps: number;
  /** reduce_bucket_size (and allgather) in elements. */
  bucketElements: number;
  /** sub_group_size of the offloaded methods (nvme keeps buffer_count sub-groups in host memory). */
  subGroupElements: number;
  precision: 'fp32' | 'bf16';
  /** stage3_param_persistence_threshold in elements. */
  persistence: number;
  corpus?: Uint8Array;
}

/** The method's DeepSpeed JSON at one shape: micro-batch 1, one transformer block per stage-3 gather. */
export function capacityConfig(b: CapacityBase, m: CapacityMethod, s: Shape): Record<string, unknown> {
  const d = s.nEmbd;
  const c = gptTrainingConfig({
    steps: b.steps,
    stage: m.stage,
    microBatch: 1,
    lr: 1e-3,
    clip: 1.0,
    precision: b.precision,
    bucketElements: b.bucketElements,
    stage3Prefetch: 12 * d * d + 13 * d,
    stage3Persistence: b.persistence,
  });
  if (m.offload === 'none') return c;
  const zero = c.zero_optimization as Record<string, unknown>;
  zero.offload_optimizer = m.offload === 'cpu' ? { device: 'cpu' } : { device: 'nvme', nvme_path: b.nvmePath };
  zero.offload_param =
    m.offload === 'cpu' ? { device: 'cpu' } : { device: 'nvme', nvme_path: b.nvmePath, max_in_cpu: 0 };
  zero.sub_group_size = b.subGroupElements;
  return c;
}

/** What ran out: the device, the rank's host memory, or the disk under nvme_path. */
export type Limit = 'device' | 'host' | 'disk';

/**
 * The limit an out-of-memory error names, or null when `e` is not one. Errors cross the thread boundary by name and
 * message (src/comm/wire-error.ts), so the class is read from `name`; HostMemory's and the offload parts' messages
 * say "out of host memory", nvme_path's check says what the file system has free.
 */
export function oomLimit(e: unknown): Limit | null {
  if (!(e instanceof Error)) return null;
  const host = /out of host memory/.test(e.message);
  if (e.name === 'DeviceOutOfMemoryError') return host ? 'host' : 'device';
  if (e.name === 'OffloadError') {
    if (host) return 'host';
    if (/swap files need .* free/.test(e.message)) return 'disk';
  }
  return null;
}

export interface CapacityTrial {
  index: number;
  shape: Shape;
  params: number;
  ok: boolean;
  /** null when it trained */
  limit: Limit | null;
  oom: string | null;
  /** Largest rank's device peak bytes (trained trials). */
  devicePeak: number | null;
  seconds: number;
}

export function capacitySpec(b: CapacityBase, m: CapacityMethod, s: Shape): RunSpec {
  return {
    model: s,
    seed: b.seed,
    runs: [{ label: m.label, config: capacityConfig(b, m, s) }],
    steps: b.steps,
    untimedSteps: b.steps,
    evalBatches: 0,
    kernels: b.kernels,
    deviceBytes: b.deviceBytes,
    ...(m.offload === 'none' ? {} : { hostBytes: b.hostBytes }),
    ...(b.corpus === undefined ? {} : { corpus: b.corpus }),
    progressEvery: 0,
    progressTo: 'none',
  };
}

/** Trains `m` at ladder shape `index`; an out-of-memory error is a result, any other a failure. */
export async function tryShape(
  b: CapacityBase,
  m: CapacityMethod,
  ladder: Shape[],
  index: number,
): Promise<CapacityTrial> {
  const shape = ladder[index]!;
  const t0 = performance.now();
  const done = (ok: boolean, limit: Limit | null, oom: string | null, report: RunReport | null): CapacityTrial => ({
    index,
    shape,
    params: report?.params ?? gptParams(shape),
    ok,
    limit,
    oom,
    devicePeak: report === null ? null : Math.max(...report.devicePeakBytes),
    seconds: (performance.now() - t0) / 1000,
  });
  try {
    const [report] = await trainWorld(capacitySpec(b, m, shape), b.worldSize, 600_000);
    return done(true, null, null, report!);
  } catch (e) {
    const limit = oomLimit(e);
    if (limit === null) throw e;
    return done(false, limit, (e as Error).message, null);
  }
}

export interface CapacityResult {
  method: CapacityMethod;
  /** Largest ladder index that trained (-1: not even the first shape). */
  index: number;
  best: CapacityTrial | null;
  /** The trial at index + 1, which ran out of memory (null: the ladder's top trained). */
  firstOom: CapacityTrial | null;
  trials: CapacityTrial[];
}

/**
 * Bisection over ladder indices [0, n): the largest index whose trial trains, given that training is monotone
 * along the ladder ([Note: the capacity ladder]). `attempt` runs one trial; the result holds it and its neighbour.
 */
export async function bisectLadder<T extends { index: number; ok: boolean }>(
  n: number,
  attempt: (index: number) => Promise<T>,
): Promise<{ index: number; best: T | null; firstOom: T | null; trials: T[] }> {
  const trials: T[] = [];
  let lo: T | null = null; // largest index that trained
  let hi: T | null = null; // smallest index that did not
  for (;;) {
    const a = lo?.index ?? -1;
    const z = hi?.index ?? n;
    if (z - a <= 1) break;
    const t = await attempt((a + z) >> 1);
    trials.push(t);
    if (t.ok) lo = t;
    else hi = t;
  }
  return { index: lo?.index ?? -1, best: lo, firstOom: hi, trials };
}

export async function searchCapacity(
  b: CapacityBase,
  m: CapacityMethod,
  ladder: Shape[],
  onTrial?: (t: CapacityTrial) => void,
): Promise<CapacityResult> {
  const r = await bisectLadder(ladder.length, async (i) => {
    const t = await tryShape(b, m, ladder, i);
    onTrial?.(t);
    return t;
  });
  return { method: m, ...r };
}
