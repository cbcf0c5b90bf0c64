// `zerots bench zero [--world-size 2]`: one GPT and micro-batch, every ZeRO stage 0..3 on thread ranks: tokens/s
// (and the ratio to stage 0, measured in the same run), where each step's time goes (forward, backward, step, and
// the collectives inside them), peak device memory per rank by category, and communication bytes per step.
// Last line: one JSON record (BenchZeroRecord). Goals on 2 thread ranks: stages 1 and 2 >= 0.95 x stage 0,
// stage 3 >= 0.85 x stage 0.
import { ConfigError } from '../errors.js';
import { type PeerRound, peerFields, peerRound, runTorchPeer } from './bench-zero-peer.js';
import type { RunReport } from '../train/report.js';
import { type StageRunOptions, stagesSpec } from '../train/stages.js';
import { trainWorld } from '../train/world.js';
import { BENCH_LEGEND, benchRecord, benchTable } from './tables.js';

export interface BenchZeroOptions {
  worldSize?: number;
  /** Overrides of the benchmark's run (tests use a tiny model); defaults in BENCH_SPEC. */
  spec?: Partial<StageRunOptions>;
  /** Printer for the table and the JSON record (default console.log). */
  print?: (line: string) => void;
  /** [native blas] 'torch': also run PyTorch DDP / ZeroRedundancyOptimizer on the same model (bench-zero-peer.ts). */
  peer?: 'torch';
  /** With a peer: rounds of (zerots, PyTorch), default 2; the JSON has the median ratio over rounds and the range. */
  rounds?: number;
}

/**
 * 4 layers, d 256, 4 heads, context 128 (3.3M parameters), 4 sequences per rank per step: big enough that the
 * matrix products dominate a step (as they do at scale), small enough for every stage in about a minute on 2 cores.
 * bf16 mixed precision, as ZeRO is meant to run; buckets of 1M elements (about a third of the model), so stages
 * 0-2 reduce in a few buckets and stage 2 frees gradients it does not own during backward.
 */
export const BENCH_SPEC: StageRunOptions = {
  model: { vocabSize: 256, blockSize: 128, nLayer: 4, nHead: 4, nEmbd: 256 },
  seed: 1337,
  microBatch: 4,
  steps: 12,
  untimedSteps: 2,
  stages: [0, 1, 2, 3],
  precision: 'bf16',
  lr: 1e-3,
  clip: 0,
  bucketElements: 1 << 20,
  // one transformer block (12 d^2 + 13 d elements): stage 3 gathers a block with one all-gather
  stage3Prefetch: 12 * 256 * 256 + 13 * 256,
  stage3Persistence: 2048,
  evalBatches: 0,
  kernels: 'auto',
  deviceBytes: 768 << 20,
  progressEvery: 0,
};

/** Prints the benchmark (its last line the JSON record, benchRecord) and returns one report per stage. */
export async function benchZero(opts: BenchZeroOptions = {}): Promise<RunReport[]> {
  const N = opts.worldSize ?? 2;
  if (!Number.isInteger(N) || N < 1)
    throw new ConfigError(`bench zero: world size must be an integer >= 1, got ${N}`, 'worldSize');
  const print = opts.print ?? ((l: string) => console.log(l));
  const spec: StageRunOptions = { ...BENCH_SPEC, ...opts.spec, stages: [0, 1, 2, 3] };
  const m = spec.model;
  print(
    `bench zero: GPT ${m.nLayer} layers, d ${m.nEmbd}, ${m.nHead} heads, context ${m.blockSize}; micro-batch ` +
      `${spec.microBatch} per rank; ` +
      `${N} thread ranks; ${spec.precision}; ${spec.untimedSteps} warm-up + ${spec.steps - spec.untimedSteps} timed steps per stage`,
  );
  // [native blas] with a peer: rounds of (zerots, PyTorch), so that the machine's load changes hit both sides
  const rounds = opts.peer === 'torch' ? (opts.rounds ?? 2) : 1;
  const peerRounds: PeerRound[] = [];
  let summaries: RunReport[] = [];
  for (let k = 0; k < rounds; k++) {
    if (rounds > 1) print(`round ${k + 1}/${rounds}: zerots, then PyTorch`);
    summaries = await trainWorld(stagesSpec(spec), N, 900_000);
    const t = opts.peer === 'torch' ? runTorchPeer(spec, N, print) : null;
    if (t !== null) peerRounds.push(peerRound(benchRecord(summaries), t, print));
    if (opts.peer === 'torch' && t === null) break; // no PyTorch: it will not appear in a later round
  }
  print(
    `${(summaries[0]!.params / 1e6).toFixed(2)}M parameters, ${summaries[0]!.perRank[0]!.tokensPerStep} tokens per step`,
  );
  print(benchTable(summaries));
  print(BENCH_LEGEND);
  const record = benchRecord(summaries);
  const goals = [record.stage1_ratio >= 0.95, record.stage2_ratio >= 0.95, record.stage3_ratio >= 0.85];
  print(
    `goals (stage 1, 2 >= 0.95; stage 3 >= 0.85 x stage 0): ${goals.every(Boolean) ? 'met' : 'missed'}` +
      ` (stage 1 ${record.stage1_ratio}, stage 2 ${record.stage2_ratio}, stage 3 ${record.stage3_ratio})`,
  );
  // [native blas] the GEMM backend, and the PyTorch peer when asked for, in the JSON line
  const engine = summaries[0]!.engine;
  const extra: Record<string, unknown> = { backend: engine.kernels, engine };
  if (peerRounds.length > 0) Object.assign(extra, peerFields(peerRounds, print));
  print(JSON.stringify({ ...record, ...extra }));
  return summaries;
}
