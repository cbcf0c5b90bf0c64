// The experiment's figures as plain rows, shared by the text tables, report.md, report.html and the JSON line.
import type { MemoryCategory } from '../tensor/device.js';
import type { ExperimentOptions, ExperimentResult, MethodResult } from '../train/experiments.js';

const MiB = 2 ** 20;

export interface MethodRow {
  key: string;
  label: string;
  maxMicroBatch: number;
  /** The estimator's largest micro-batch (src/estimate/peak.ts) at the same capacity and settings. */
  predicted: number;
  /** The estimator's peak bytes at maxMicroBatch, and by category (what the run measured beside it). */
  predictedPeakBytes: number;
  predictedPeakMiB: Partial<Record<MemoryCategory, number>>;
  /** The first micro-batch that ran out of memory, and the error's message. */
  oomMicroBatch: number | null;
  oomMessage: string | null;
  trials: number;
  tokensPerSecond: number;
  tokens: number;
  steps: number;
  /** Rank 0's seconds for the fixed number of tokens. */
  seconds: number;
  /** Per category, the largest rank's peak (MiB) above what was in use before the engine. */
  peakMiB: Record<MemoryCategory, number>;
  /** The largest rank's device peak, everything counted (bytes). */
  devicePeakBytes: number;
  commMiBPerStep: number;
  valLoss: number | null;
  finalLoss: number;
  params: number;
}

export function methodRow(x: MethodResult): MethodRow {
  const r = x.run;
  return {
    key: x.method.key,
    label: x.method.label,
    maxMicroBatch: x.maxMicroBatch,
    predicted: x.predicted,
    predictedPeakBytes: x.peakCheck.predictedBytes,
    predictedPeakMiB: Object.fromEntries(
      Object.entries(x.peakCheck.predicted).map(([k, v]) => [k, v / MiB]),
    ) as Partial<Record<MemoryCategory, number>>,
    oomMicroBatch: x.search.firstOom?.micro ?? null,
    oomMessage: x.search.firstOom?.oom ?? null,
    trials: x.search.trials.length,
    tokensPerSecond: r.tokensPerSecond,
    tokens: x.tokens,
    steps: r.steps,
    seconds: r.trainSeconds,
    peakMiB: Object.fromEntries(Object.entries(r.peak).map(([k, v]) => [k, v / MiB])) as Record<MemoryCategory, number>,
    devicePeakBytes: Math.max(...r.devicePeakBytes),
    commMiBPerStep: r.commBytesPerStep / MiB,
    valLoss: r.valLoss,
    finalLoss: r.finalLoss,
    params: r.params,
  };
}

export function methodRows(res: ExperimentResult): MethodRow[] {
  return res.methods.map(methodRow);
}

const ORDER = ['ddp', 'zero1', 'zero2', 'zero3', 'zero3_offload'];

/** Whether the largest micro-batches grow DDP < ZeRO-1 <= ZeRO-2 <= ZeRO-3 < ZeRO-3 + offload (the NVMe row aside). */
export function orderHolds(rows: readonly MethodRow[]): boolean {
  const m = ORDER.map((k) => rows.find((r) => r.key === k)?.maxMicroBatch ?? NaN);
  return m[0]! < m[1]! && m[1]! <= m[2]! && m[2]! <= m[3]! && m[3]! < m[4]!;
}

/** The rows whose measured largest micro-batch differs from the estimator's. */
export function mispredicted(rows: readonly MethodRow[]): MethodRow[] {
  return rows.filter((r) => r.maxMicroBatch !== r.predicted);
}

/** The largest absolute difference of any method's loss from the first's, over the equal-batch run's steps. */
export function equalBatchLossSpread(res: ExperimentResult): number | null {
  if (res.equal === null) return null;
  const ref = res.equal.runs[0]!.losses;
  return Math.max(0, ...res.equal.runs.flatMap((r) => r.losses.map((l, i) => Math.abs(l - ref[i]!))));
}

export function describeSetup(res: ExperimentResult, o: ExperimentOptions): string {
  const b = res.base;
  const m = b.model;
  const params = res.methods[0]?.run.params ?? NaN;
  return (
    `GPT ${m.nLayer} layers x d ${m.nEmbd} (${m.nHead} heads, context ${m.blockSize}, byte vocabulary; ` +
    `${(params / 1e6).toFixed(2)}M parameters), ${b.precision} mixed precision, AdamW, ${b.worldSize} thread ranks ` +
    `with ${b.deviceBytes / MiB} MiB of device memory each, the shipped corpus; ${o.tokens} tokens per method`
  );
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');

/** One method's cells in the main table, the same in the terminal, markdown and HTML reports (headers differ). */
export function methodCells(r: MethodRow): string[] {
  return [
    r.label,
    String(r.maxMicroBatch),
    String(r.predicted),
    r.oomMicroBatch === null ? '-' : String(r.oomMicroBatch),
    Number.isFinite(r.tokensPerSecond) ? r.tokensPerSecond.toFixed(0) : '-',
    r.seconds.toFixed(1),
    f1(r.peakMiB.param),
    f1(r.peakMiB.grad),
    f1(r.peakMiB.optimizer),
    f1(r.peakMiB.activation),
    f1(r.devicePeakBytes / MiB),
    f1(r.predictedPeakBytes / MiB),
    r.commMiBPerStep.toFixed(2),
    r.valLoss === null ? '-' : r.valLoss.toFixed(4),
  ];
}
