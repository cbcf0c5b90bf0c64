// `zerots bench memory`: the predicted peak (src/estimate/peak.ts) against the measured one. A matrix of stages 0-3 x
// offload on/off x activation checkpointing on/off x 2 GPT shapes x 3 micro-batches trains on 2 thread ranks (bf16)
// and compares each rank's measured device peak with the prediction; then, per (stage, offload, checkpointing) of the
// first shape, the largest micro-batch that fits a capacity is found with real out-of-memory errors (fresh ranks
// per trial, starting at the predicted one) and compared with the predicted one; then activation bytes per token
// per layer (measured on one device: end of forward, L minus L-1 layers) for fp32, bf16 and bf16 checkpointed, and
// for bf16 at T = 64, 256, 1024. Ends with the JSON line
// {"bench":"memory","cases":N,"max_rel_error":..,"max_batch_errors":..,"activation_bytes_per_token_layer":
//  {"fp32":..,"bf16":..,"bf16_checkpointed":..},"t_scaling":{"64":..,"256":..,"1024":..}, ...}.
import { spawnWorld } from '../launch/index.js';
import { Device } from '../tensor/device.js';
import { Tape, type ActivationDType } from '../autograd/tape.js';
import { GPT, type GPTConfig } from '../nn/gpt.js';
import { gptActivationBytes } from '../nn/activation-bytes.js';
import { largestMicroBatch, predictPeak, type PeakInput } from '../estimate/peak.js';
import { RESERVED_BYTES } from '../tensor/device.js';
import type { MemoryCase, MemoryResult, MemoryRankArgs } from './bench-memory-rank.js';

export interface BenchMemoryOptions {
  /** capacity per rank for the largest-micro-batch search (default 40 MiB) */
  capacityMiB?: number;
  /** skip the out-of-memory search */
  noSearch?: boolean;
  log?: (line: string) => void;
}

export const SHAPES: Omit<GPTConfig, 'seed'>[] = [
  { vocabSize: 256, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 },
  { vocabSize: 256, blockSize: 128, nLayer: 2, nHead: 6, nEmbd: 192 },
];
const MICRO = [2, 4, 8];
const RANK = new URL('./bench-memory-rank.js', import.meta.url);

/** The (stage, offload, checkpointing) combinations: offload needs stage >= 1 (optimizer) and 3 (parameters). */
export function combos(): { stage: 0 | 1 | 2 | 3; offload: boolean; checkpoint: boolean }[] {
  const out: { stage: 0 | 1 | 2 | 3; offload: boolean; checkpoint: boolean }[] = [];
  for (const stage of [0, 1, 2, 3] as const)
    for (const offload of stage === 0 ? [false] : [false, true])
      for (const checkpoint of [false, true]) out.push({ stage, offload, checkpoint });
  return out;
}

export function peakInputFor(c: MemoryCase): PeakInput {
  const C = c.model.nEmbd;
  return {
    model: c.model,
    micro: c.micro,
    worldSize: 2,
    stage: c.stage,
    precision: c.precision,
    checkpointing: c.checkpoint,
    cpuCheckpointing: c.checkpoint && c.offload,
    offloadOptimizer: c.offload,
    offloadParam: c.offload,
    offloadThreads: 1, // host workspace only: the device peak does not depend on the threads
    reduceBucketSize: C * C,
    prefetchBucketSize: Math.floor(0.9 * C * C),
    persistenceThreshold: 10 * C,
  };
}

async function world(cases: MemoryCase[], deviceBytes: number): Promise<MemoryResult[][]> {
  const args: MemoryRankArgs = { cases, deviceBytes, steps: 2, timeoutMs: 15_000 };
  return spawnWorld<MemoryResult[]>({ worldSize: 2, transport: 'threads', module: RANK, fn: 'memoryRank', args });
}

/** Whether micro-batch `micro` trains within `capacity` bytes per rank (a fresh world; both ranks must succeed). */
async function fits(c: Omit<MemoryCase, 'micro'>, micro: number, capacity: number): Promise<boolean> {
  const res = await world([{ ...c, micro }], capacity);
  return res.every((r) => r[0]?.ok === true);
}

/** Activation bytes per token per layer kept at the end of forward, measured: (L layers - (L-1) layers) / tokens. */
export function measuredActivationPerTokenLayer(dtype: ActivationDType, ckpt: boolean, T: number): number {
  const held = (nLayer: number): number => {
    const device = new Device({ capacityBytes: 256 << 20, name: 'act' });
    const gpt = new GPT(device, { vocabSize: 256, blockSize: T, nLayer, nHead: 4, nEmbd: 128, seed: 1 });
    gpt.setCheckpointing(ckpt);
    const tape = new Tape(device, { activationDType: dtype });
    const B = 2;
    const idx = { B, T, data: Array.from({ length: B * T }, (_, i) => (i * 7) % 256) };
    const before = device.memoryStats().byCategory.activation.inUse;
    gpt.forward(tape, idx, idx);
    const bytes = device.memoryStats().byCategory.activation.inUse - before;
    tape.clear();
    return bytes;
  };
  return (held(3) - held(2)) / (2 * T);
}

export async function benchMemory(o: BenchMemoryOptions = {}): Promise<Record<string, unknown>> {
  const log = o.log ?? ((l: string) => console.log(l));
  const cases: MemoryCase[] = [];
  for (const model of SHAPES)
    for (const k of combos()) for (const micro of MICRO) cases.push({ model, micro, precision: 'bf16', ...k });
  log(`bench memory: ${cases.length} cases on 2 thread ranks (bf16), measured device peak vs predicted`);
  const res = await world(cases, 512 << 20);
  let maxRel = 0;
  const rows: Record<string, unknown>[] = [];
  cases.forEach((c, i) => {
    const measured = Math.max(res[0]![i]!.peak, res[1]![i]!.peak);
    const span = Math.max(res[0]![i]!.span, res[1]![i]!.span);
    const p = predictPeak(peakInputFor(c));
    const rel = Math.abs(measured - p.total) / measured;
    maxRel = Math.max(maxRel, rel);
    const tag = `L${c.model.nLayer} C${c.model.nEmbd} T${c.model.blockSize} b${c.micro} stage ${c.stage}`;
    const host = Math.max(res[0]![i]!.hostPeak, res[1]![i]!.hostPeak);
    log(
      `${tag.padEnd(28)} ${c.offload ? 'offload' : '       '} ${c.checkpoint ? 'ckpt' : '    '}  measured ` +
        `${(measured / 2 ** 20).toFixed(2)} MiB  predicted ${(p.total / 2 ** 20).toFixed(2)} MiB  ` +
        `error ${((100 * (p.total - measured)) / measured).toFixed(1)}%  host ${(host / 2 ** 20).toFixed(2)} ` +
        `(predicted ${(p.host / 2 ** 20).toFixed(2)}) MiB  span ${(span / 2 ** 20).toFixed(2)} MiB ` +
        `(+${((100 * (span - measured)) / p.backwardTransient).toFixed(1)}% of backward transient)`,
    );
    rows.push({
      ...c,
      model: undefined,
      shape: SHAPES.indexOf(c.model),
      measured,
      span,
      predicted: p.total,
      host,
      hostPredicted: p.host,
    });
  });
  let batchErrors = 0;
  const batches: Record<string, unknown>[] = [];
  if (!o.noSearch) {
    // shape 0 is where the fragmentation allowance was measured ([Note: fragmentation allowance]); shape 1 is not
    const capacities = [(o.capacityMiB ?? 40) << 20, 48 << 20];
    for (const [si, capacity] of capacities.entries()) {
      log(
        `largest micro-batch within ${capacity >> 20} MiB per rank (shape ${si}), predicted vs found by out-of-memory:`,
      );
      for (const k of combos()) {
        const c = { model: SHAPES[si]!, precision: 'bf16' as const, ...k };
        const predicted = largestMicroBatch(peakInputFor({ ...c, micro: 1 }), capacity - RESERVED_BYTES);
        // walk from the prediction: up while it fits, down while it does not
        let found = predicted;
        if (predicted >= 1 && (await fits(c, predicted, capacity))) {
          while (await fits(c, found + 1, capacity)) found++;
        } else {
          found = predicted - 1;
          while (found >= 1 && !(await fits(c, found, capacity))) found--;
        }
        if (Math.abs(found - predicted) > 1) batchErrors++;
        log(
          `  stage ${k.stage} ${k.offload ? 'offload' : '       '} ${k.checkpoint ? 'ckpt' : '    '}  predicted ` +
            `${predicted}, found ${found}`,
        );
        batches.push({ shape: si, ...k, predicted, found });
      }
    }
  }
  const perTok = {
    fp32: measuredActivationPerTokenLayer('f32', false, 64),
    bf16: measuredActivationPerTokenLayer('bf16', false, 64),
    bf16_checkpointed: measuredActivationPerTokenLayer('bf16', true, 64),
  };
  const formulaCk = (() => {
    const cfg = { vocabSize: 256, nLayer: 3, nHead: 4, nEmbd: 128 };
    const f = (L: number) =>
      gptActivationBytes({ ...cfg, nLayer: L }, 2, 64, {
        activationDType: 'bf16',
        checkpointed: Array.from({ length: L }, () => true),
      }).forward;
    return (f(3) - f(2)) / 128;
  })();
  const tScaling = Object.fromEntries(
    [64, 256, 1024].map((T) => [String(T), measuredActivationPerTokenLayer('bf16', false, T)]),
  );
  log(
    `activation bytes per token per layer (C = 128, end of forward): fp32 ${perTok.fp32}, bf16 ${perTok.bf16} ` +
      `(${(perTok.bf16 / perTok.fp32).toFixed(3)} x fp32), bf16 checkpointed ${perTok.bf16_checkpointed} (formula ${formulaCk})`,
  );
  log(`bf16 bytes per token per layer at T = 64, 256, 1024: ${Object.values(tScaling).join(', ')}`);
  const json = {
    bench: 'memory',
    cases: cases.length,
    max_rel_error: Number(maxRel.toFixed(4)),
    max_batch_errors: o.noSearch ? null : batchErrors,
    activation_bytes_per_token_layer: perTok,
    checkpointed_formula: formulaCk,
    t_scaling: tScaling,
  };
  log(JSON.stringify(json));
  return { ...json, rows, batches };
}
