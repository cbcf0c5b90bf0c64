// The main-thread side of the stage runs: spawn the thread ranks (stage-run.ts), then fold the ranks' results into
// one summary per stage, with the closed-form model-state bytes of src/estimate beside the measured ones.
import { spawnWorld } from '../../launch/spawn.js';
import { modelStatesBytes, modelStatesBytesPadded, type ModelStatesBytes } from '../../estimate/index.js';
import type { BucketedLayout } from '../../zero/partition.js';
import { MEMORY_CATEGORIES, type MemoryCategory } from '../../tensor/device.js';
import type { CollectiveOp } from '../../comm/types.js';
import type { PhaseSeconds, StageNumber, StageResult, StageRunSpec } from './stage-spec.js';
import { pairedRatio } from './stats.js';

export interface StageSummary {
  stage: StageNumber;
  precision: StageRunSpec['precision'];
  worldSize: number;
  /** Mean over ranks of each step's loss (= the global batch's loss: equal micro-batches). */
  losses: number[];
  finalLoss: number;
  valLoss: number | null;
  /** Global tokens per second: tokens per step / rank 0's median timed step. */
  tokensPerSecond: number;
  /** The same over rank 0's fastest timed step. */
  bestTokensPerSecond: number;
  /**
   * Speed relative to stage 0: the median over rounds of stage 0's step time / this stage's in the same round
   * ([Note: interleaved timing] in stage-run.ts); NaN without stage 0 or timed steps.
   */
  ratioToStage0: number;
  secondsPerStep: number;
  /** Rank 0's phases per timed step. */
  phases: PhaseSeconds;
  /** Per category, the largest peak of any rank (bytes above the idle device). */
  peak: Record<MemoryCategory, number>;
  peakTotal: number;
  firstStepPeakTotal: number;
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
  perRank: StageResult[];
}

/** Runs `spec` on `worldSize` thread ranks; one summary per stage, in spec.stages order. */
export async function runStages(spec: StageRunSpec, worldSize: number, timeoutMs = 900_000): Promise<StageSummary[]> {
  const perRank = await spawnWorld<StageResult[]>({
    worldSize,
    module: new URL('./stage-run.js', import.meta.url),
    fn: 'runStagesRank',
    args: spec,
    timeoutMs,
  });
  const out = spec.stages.map((stage, k) =>
    summarize(
      spec,
      perRank.map((r) => r[k]!),
      worldSize,
      stage,
    ),
  );
  const s0 = out.find((x) => x.stage === 0);
  for (const x of out)
    x.ratioToStage0 = s0 === undefined ? NaN : pairedRatio(s0.perRank[0]!.stepSeconds, x.perRank[0]!.stepSeconds);
  return out;
}

function maxOver(rs: StageResult[], f: (r: StageResult) => number): number {
  return Math.max(...rs.map(f));
}

export function summarize(spec: StageRunSpec, rs: StageResult[], worldSize: number, stage: StageNumber): StageSummary {
  const r0 = rs[0]!;
  const losses = r0.losses.map((_, s) => rs.reduce((a, r) => a + r.losses[s]!, 0) / rs.length);
  const valLoss = r0.valLoss === null ? null : rs.reduce((a, r) => a + r.valLoss!, 0) / rs.length;
  const states = (r: StageResult) => r.afterInit.param + r.afterInit.grad + r.afterInit.optimizer;
  const big = rs.reduce((a, r) => (states(r) > states(a) ? r : a), r0);
  const precision = spec.precision === 'fp32' ? 'fp32' : 'mixed';
  const layout = { padded: r0.layout.padded, shardNumel: r0.layout.shardNumel, worldSize } as BucketedLayout;
  return {
    stage,
    precision: spec.precision,
    worldSize,
    losses,
    finalLoss: losses[losses.length - 1] ?? NaN,
    valLoss,
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
    perRank: rs,
  };
}
