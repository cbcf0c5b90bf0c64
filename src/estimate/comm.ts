// Communication volume per rank per step (ZeRO paper, Rajbhandari et al. 2020, section 7). A ring collective
// over N ranks moves (N-1)/N of its payload per rank. Plain data parallelism all-reduces the gradients
// (reduce-scatter + all-gather: 2 Psi); stages 1 and 2 reduce-scatter the gradients and all-gather the updated
// parameters (2 Psi); stage 3 all-gathers the parameters in forward and again in backward and reduce-scatters the
// gradients (3 Psi). Scalars (the clipping norm, the fp16 overflow flag) are not included.
import type { BucketedLayout } from '../zero/partition.js';
import type { Stage } from './memory.js';

/** Full payloads (multiples of Psi) each step moves, by stage. */
export function payloadMultiple(stage: Stage): number {
  return stage === 3 ? 3 : 2;
}

/** Elements each rank sends (and receives) per step: multiple x Psi x (N-1)/N. */
export function commElementsPerRank(params: number, worldSize: number, stage: Stage): number {
  return (payloadMultiple(stage) * params * (worldSize - 1)) / worldSize;
}

/** Bytes per rank per step for an element size (2 for 16-bit communication, 4 for fp32). */
export function commBytesPerRank(params: number, worldSize: number, stage: Stage, elementBytes: number): number {
  return commElementsPerRank(params, worldSize, stage) * elementBytes;
}

/** The same over zerots's padded buckets: each bucket's collectives move (N-1)/N of its padded size. */
export function commBytesPerRankPadded(layout: BucketedLayout, stage: Stage, elementBytes: number): number {
  const n = layout.worldSize;
  return payloadMultiple(stage) * (layout.padded / n) * (n - 1) * elementBytes;
}
