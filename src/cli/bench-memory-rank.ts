// Rank program of `zerots bench memory` (spawned by spawnWorld): trains each case's GPT through the engine for a
// few steps on this rank's device and reports the device's peak bytes (requested bytes, everything on the device:
// kernel and comm scratch too), by category, and the host bytes (offload, cpu_checkpointing). A case that runs out
// of device memory reports the DeviceOutOfMemoryError instead (the search for the largest micro-batch that fits).
import type { RankContext } from '../launch/spawn.js';
import { Device, MEMORY_CATEGORIES, type MemoryCategory } from '../tensor/device.js';
import { HostMemory } from '../tensor/host.js';
import { GPT, type GPTConfig } from '../nn/gpt.js';
import { checkpointHost } from '../autograd/checkpoint.js';
import { initialize } from '../zero/engine.js';
import { commOptionsFor } from '../zero/comm-options.js';
import { DeviceOutOfMemoryError } from '../errors.js';

export interface MemoryCase {
  model: Omit<GPTConfig, 'seed'>;
  micro: number;
  stage: 0 | 1 | 2 | 3;
  precision: 'fp32' | 'bf16';
  checkpoint: boolean;
  offload: boolean;
}

export interface MemoryResult {
  ok: boolean;
  /** this rank's own DeviceOutOfMemoryError */
  oom?: boolean;
  error?: string;
  /** Device peak bytes over the run (everything on the device). */
  peak: number;
  /** Device address space spanned at most (allocator spanBytes): the capacity this run's requests need. */
  span: number;
  byCategory: Record<MemoryCategory, number>;
  hostPeak: number;
}

export function dsConfigFor(c: MemoryCase): Record<string, unknown> {
  return {
    train_micro_batch_size_per_gpu: c.micro,
    gradient_accumulation_steps: 1,
    gradient_clipping: 1.0,
    optimizer: { type: 'AdamW', params: { lr: 1e-3, weight_decay: 0.1 } },
    bf16: { enabled: c.precision === 'bf16' },
    ...(c.checkpoint ? { activation_checkpointing: { cpu_checkpointing: c.offload } } : {}),
    zero_optimization: {
      stage: c.stage,
      // Hugging Face's sizes from the hidden size h (h^2, 0.9 h^2, 10 h): DeepSpeed's defaults save nothing on a
      // model this small (issue 9, item 5)
      reduce_bucket_size: c.model.nEmbd ** 2,
      stage3_prefetch_bucket_size: Math.floor(0.9 * c.model.nEmbd ** 2),
      stage3_param_persistence_threshold: 10 * c.model.nEmbd,
      ...(c.offload && c.stage > 0 ? { offload_optimizer: { device: 'cpu' } } : {}),
      ...(c.offload && c.stage === 3 ? { offload_param: { device: 'cpu' } } : {}),
    },
  };
}

export interface MemoryRankArgs {
  cases: MemoryCase[];
  deviceBytes: number;
  steps: number;
  timeoutMs: number;
  /** threads of an offloaded step (default the engine's: the cores shared by the machine's ranks) */
  offloadThreads?: number;
}

/** Runs the cases one after another on one device and group; stops at the first out-of-memory. */
export async function memoryRank(ctx: RankContext, a: MemoryRankArgs): Promise<MemoryResult[]> {
  const device = new Device({ capacityBytes: a.deviceBytes, name: `rank${ctx.rank}` });
  const comm = commOptionsFor(device, dsConfigFor(a.cases[0]!), {
    worldSize: ctx.worldSize,
    progressThread: false,
    timeoutMs: a.timeoutMs,
  });
  const group = await ctx.initProcessGroup(device.memory, comm.options);
  const out: MemoryResult[] = [];
  for (const c of a.cases) {
    const r = runCase(device, group, ctx, c, a.steps, a.offloadThreads);
    out.push(r);
    if (!r.ok) break;
  }
  return out;
}

function runCase(
  device: Device,
  group: Parameters<typeof initialize>[0]['group'],
  ctx: RankContext,
  c: MemoryCase,
  steps: number,
  offloadThreads?: number,
): MemoryResult {
  const host = c.offload ? new HostMemory({ arenaBytes: 64 << 20, name: `host${ctx.rank}` }) : undefined;
  device.resetPeak();
  host?.resetPeak();
  checkpointHost.peak = checkpointHost.inUse;
  const empty = Object.fromEntries(MEMORY_CATEGORIES.map((k) => [k, 0])) as Record<MemoryCategory, number>;
  try {
    const model = new GPT(device, { ...c.model, seed: 1 }, { materialize: false });
    model.setCheckpointing(c.checkpoint);
    const engine = initialize({
      model,
      config: dsConfigFor(c),
      group,
      host,
      noDecay: (_n, s) => s.length < 2,
      offloadThreads,
    });
    const T = c.model.blockSize;
    try {
      for (let s = 0; s < steps; s++) {
        const data = Array.from(
          { length: c.micro * T },
          (_, i) => (i * 7 + s * 13 + ctx.rank * 31) % c.model.vocabSize,
        );
        const tgt = data.map((x) => (x + 1) % c.model.vocabSize);
        engine.trainBatch([
          [
            { B: c.micro, T, data },
            { B: c.micro, T, data: tgt },
          ],
        ]);
      }
      const st = device.memoryStats();
      const byCategory = Object.fromEntries(MEMORY_CATEGORIES.map((k) => [k, st.byCategory[k].peak])) as Record<
        MemoryCategory,
        number
      >;
      const hostPeak = (host?.memoryStats().peakBytes ?? 0) + checkpointHost.peak;
      return { ok: true, peak: st.peakBytes, span: st.spanBytes ?? st.peakBytes, byCategory, hostPeak };
    } finally {
      engine.dispose();
    }
  } catch (e) {
    // this rank's out-of-memory, or the peer's (this rank then meets a lost peer or a timeout in a collective)
    const oom = e instanceof DeviceOutOfMemoryError;
    const error = `${oom ? 'out of memory' : 'peer failed'}: ${(e as Error).message.split('\n')[0]}`;
    const st = device.memoryStats();
    return { ok: false, oom, error, peak: st.peakBytes, span: st.spanBytes ?? 0, byCategory: empty, hostPeak: 0 };
  }
}
