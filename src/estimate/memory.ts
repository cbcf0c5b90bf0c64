// Closed-form memory of model states per rank (ZeRO paper, Rajbhandari et al. 2020, section 5). Psi parameters,
// N data-parallel ranks. Mixed precision keeps a 16-bit weight (2 B), a 16-bit gradient (2 B) and K = 12 B of fp32
// optimizer state (master weight, Adam m, Adam v); pure fp32 keeps a 4 B weight (the master copy), a 4 B gradient
// and 8 B of Adam state. Stage s partitions: 1 the optimizer state, 2 also gradients, 3 also parameters.
import { ShapeError } from '../errors.js';
import type { BucketedLayout } from '../zero/partition.js';

export type Stage = 0 | 1 | 2 | 3;
/** 'mixed': 16-bit weights and gradients with fp32 Adam state (bf16 or fp16); 'fp32': everything fp32. */
export type StatePrecision = 'mixed' | 'fp32';

export interface BytesPerElement {
  readonly param: number;
  readonly grad: number;
  readonly optimizer: number;
}

export const BYTES: Readonly<Record<StatePrecision, BytesPerElement>> = Object.freeze({
  mixed: Object.freeze({ param: 2, grad: 2, optimizer: 12 }),
  fp32: Object.freeze({ param: 4, grad: 4, optimizer: 8 }),
});

export interface ModelStatesBytes {
  readonly param: number;
  readonly grad: number;
  readonly optimizer: number;
  readonly total: number;
}

function check(params: number, worldSize: number, stage: number): void {
  if (!(params >= 0) || !Number.isFinite(params))
    throw new ShapeError(`estimate: params must be a finite number >= 0, got ${params}`);
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new ShapeError(`estimate: worldSize must be a whole number >= 1, got ${worldSize}`);
  if (![0, 1, 2, 3].includes(stage)) throw new ShapeError(`estimate: stage must be 0, 1, 2 or 3, got ${stage}`);
}

function states(
  replicatedElems: number,
  shardElems: number,
  stage: Stage,
  precision: StatePrecision,
): ModelStatesBytes {
  const b = BYTES[precision];
  const param = b.param * (stage >= 3 ? shardElems : replicatedElems);
  const grad = b.grad * (stage >= 2 ? shardElems : replicatedElems);
  const optimizer = b.optimizer * (stage >= 1 ? shardElems : replicatedElems);
  return Object.freeze({ param, grad, optimizer, total: param + grad + optimizer });
}

/**
 * The paper's formula, exact arithmetic on Psi / N (no padding):
 * mixed (2+2+12) Psi, 4 Psi + 12 Psi/N, 2 Psi + 14 Psi/N, 16 Psi/N; fp32 (4+4+8) analogues.
 */
export function modelStatesBytes(
  params: number,
  worldSize: number,
  stage: Stage,
  precision: StatePrecision = 'mixed',
): ModelStatesBytes {
  check(params, worldSize, stage);
  return states(params, params / worldSize, stage, precision);
}

/**
 * The same, exactly as zerots allocates it: replicated buffers are the full padded flat buffer, partitioned ones are
 * the rank's shard (its chunk of every bucket). See [Note: padding of the last partition] in zero/partition.ts.
 */
export function modelStatesBytesPadded(
  layout: BucketedLayout,
  stage: Stage,
  precision: StatePrecision = 'mixed',
): ModelStatesBytes {
  check(layout.padded, layout.worldSize, stage);
  return states(layout.padded, layout.shardNumel, stage, precision);
}
