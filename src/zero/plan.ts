// What every composed part of the engine shares: the bucketed layout, this rank, and the segment of each bucket
// the rank's optimizer updates (the whole bucket when optimizer state is replicated, stage 0; the rank's chunk
// otherwise). See [Note: one flat buffer per bucket] in partition.ts.
import type { ProcessGroup } from '../comm/types.js';
import type { Device } from '../tensor/device.js';
import { rangeSlices, type BucketedLayout, type Range, type ShardSlice } from './partition.js';
import type { FlatDType } from './flat-buffer.js';

export interface ZeroPlan {
  readonly device: Device;
  readonly group: ProcessGroup;
  readonly layout: BucketedLayout;
  /** storage type of 16-bit-or-fp32 parameters and gradients ('f32' in fp32 training) */
  readonly dtype: FlatDType;
  /**
   * The dtype gradients are reduced in (communication_data_type); absent or equal to dtype: in place. Otherwise each
   * bucket is cast into a 'comm' buffer of this dtype, reduced there and cast back (comm-cast.ts).
   */
  readonly commDtype?: FlatDType;
  /** names and shapes of the parameters, in layout index order */
  readonly shapes: readonly (readonly number[])[];
  readonly names: readonly string[];
  /** true when each rank updates only its chunk of every bucket (stages 1-3) */
  readonly partitioned: boolean;
}

/** The range of bucket b (in the bucket's own flat coordinates) that this rank's optimizer updates. */
export function segment(plan: ZeroPlan, b: number): Range {
  const L = plan.layout.buckets[b].layout;
  if (!plan.partitioned) return { start: 0, end: L.padded };
  return { start: plan.group.rank * L.chunk, end: (plan.group.rank + 1) * L.chunk };
}

/** Total elements of all segments (the optimizer state's length). */
export function segmentsNumel(plan: ZeroPlan): number {
  return plan.partitioned ? plan.layout.shardNumel : plan.layout.padded;
}

/** Where bucket b's segment starts in the concatenation of all segments. */
export function segmentOffset(plan: ZeroPlan, b: number): number {
  const bk = plan.layout.buckets[b];
  return plan.partitioned ? bk.shardOffset : bk.flatOffset;
}

/** The parameter slices inside bucket b's segment. */
export function segmentSlices(plan: ZeroPlan, b: number): ShardSlice[] {
  const s = segment(plan, b);
  return rangeSlices(plan.layout.buckets[b].layout, s.start, s.end);
}
