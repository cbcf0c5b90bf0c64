// RunReport: one run of the training rank program folded over its ranks (the mean loss at every step, the largest
// rank's memory and traffic, rank 0's clock), with the closed-form model-state bytes of src/estimate beside the
// measured ones. `zerots train` prints one; the demo and `bench zero` tabulate one per stage.
import { modelStatesBytes, modelStatesBytesPadded, type ModelStatesBytes } from '../estimate/index.js';
import type { BucketedLayout } from '../zero/partition.js';
import { MEMORY_CATEGORIES, type MemoryCategory } from '../tensor/device.js';
import type { CollectiveOp } from '../comm/types.js';
import type { StageNumber } from './configs.js';
import type { PhaseSeconds, RankResult } from './spec.js';

export interface RunReport {
  label: string;
  stage: StageNumber;
  precision: RankResult['precision'];
  worldSize: number;
  steps: number;
  /** Tokens per optimizer step over all ranks. */
  tokensPerStep: number;
  /** Mean over ranks of each step's loss (= the global batch's loss: equal micro-batches). */
  losses: number[];
  initialLoss: number;
  finalLoss: number;
  /** Held-out loss, the mean over ranks of each rank's share (null: not evaluated). */
  valLoss: number | null;
  lastLr: number;
  lastGradNorm: number;
  skippedSteps: number;
  /** Rank 0's seconds over all training steps (evaluation excluded). */
  trainSeconds: number;
  /** Global tokens per second: tokens per step / rank 0's median timed step. */
  tokensPerSecond: number;
  /** The same over rank 0's fastest timed step. */
  bestTokensPerSecond: number;
  /**
   * Speed relative to the stage-0 run: the median over rounds of its step time / this run's in the same round
   * ([Note: interleaved timing] in rank.ts); NaN without a stage-0 run or timed steps.
   */
  ratioToStage0: number;
  secondsPerStep: number;
  /** Rank 0's phases per timed step. */
  phases: PhaseSeconds;
  /** Per category, the largest peak of any rank (bytes above the device before the run's engine). */
  peak: Record<MemoryCategory, number>;
  peakTotal: number;
  firstStepPeakTotal: number;
  /** Each rank's device peak over the whole run, everything counted. */
  devicePeakBytes: number[];
  /** Measured model states per rank right after initialize() (largest rank). */
  modelStates: { param: number; grad: number; optimizer: number; total: number };
  /** src/estimate: the paper's formula on Psi, and the same on the engine's padded layout. */
  formula: ModelStatesBytes;
  formulaPadded: ModelStatesBytes;
  /** Bytes sent per step (largest rank), total and by op. */
  commBytesPerStep: number;
  commBytesByOp: Record<CollectiveOp, number>;
  /** Collective calls per step on rank 0 (all ranks make the same calls). */
  commCallsPerStep: number;
  params: number;
  /** [native blas] Rank 0's kernels, GEMM threads and transport. */
  engine: RankResult['engine'];
  perRank: RankResult[];
}

function maxOver(rs: readonly RankResult[], f: (r: RankResult) => number): number {
  return Math.max(...rs.map(f));
}

/** One run's report from every rank's result for it (rank order). */
export function summarize(rs: readonly RankResult[], steps: number): RunReport {
  const r0 = rs[0]!;
  const worldSize = rs.length;
  const losses = r0.losses.map((_, s) => rs.reduce((a, r) => a + r.losses[s]!, 0) / rs.length);
  const valLoss = r0.valLoss === null ? null : rs.reduce((a, r) => a + r.valLoss!, 0) / rs.length;
  const states = (r: RankResult) => r.afterInit.param + r.afterInit.grad + r.afterInit.optimizer;
  const big = rs.reduce((a, r) => (states(r) > states(a) ? r : a), r0);
  const precision = r0.precision === 'fp32' ? 'fp32' : 'mixed';
  const stage = r0.stage as StageNumber;
  const layout = { padded: r0.layout.padded, shardNumel: r0.layout.shardNumel, worldSize } as BucketedLayout;
  return {
    label: r0.label,
    stage,
    precision: r0.precision,
    worldSize,
    steps,
    tokensPerStep: r0.tokensPerStep,
    losses,
    initialLoss: losses[0] ?? NaN,
    finalLoss: losses[losses.length - 1] ?? NaN,
    valLoss,
    lastLr: r0.lastLr,
    lastGradNorm: r0.lastGradNorm,
    skippedSteps: r0.skippedSteps,
    trainSeconds: r0.trainSeconds,
    tokensPerSecond: r0.tokensPerStep / r0.secondsPerStep,
    bestTokensPerSecond: r0.tokensPerStep / r0.minSecondsPerStep,
    ratioToStage0: NaN,
    secondsPerStep: r0.secondsPerStep,
    phases: r0.phases,
    peak: Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, maxOver(rs, (r) => r.peak[c])])) as Record<
      MemoryCategory,
      number
    >,
    peakTotal: maxOver(rs, (r) => r.peakTotal),
    firstStepPeakTotal: maxOver(rs, (r) => r.firstStepPeakTotal),
    devicePeakBytes: rs.map((r) => r.devicePeakBytes),
    modelStates: {
      param: big.afterInit.param,
      grad: big.afterInit.grad,
      optimizer: big.afterInit.optimizer,
      total: states(big),
    },
    formula: modelStatesBytes(r0.params, worldSize, stage, precision),
    formulaPadded: modelStatesBytesPadded(layout, stage, precision),
    commBytesPerStep: maxOver(rs, (r) => r.commBytesPerStep),
    commBytesByOp: rs.reduce((a, r) => (r.commBytesPerStep > a.commBytesPerStep ? r : a), r0).commBytesByOp,
    commCallsPerStep: Object.values(r0.commCallsByOp).reduce((a, b) => a + b, 0),
    params: r0.params,
    engine: r0.engine,
    perRank: [...rs],
  };
}
