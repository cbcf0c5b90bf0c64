// The optimizer-state part of the engine, whatever its placement: on the device (optimizer-state.ts), or offloaded
// to host memory or NVMe (offload/offloaded-state.ts). The policy picks one once (make-optimizer-state.ts); the
// engine's step and consolidation see only this interface.
import type { PreparedUpdate, SegmentSource, SegmentTarget } from './optimizer-state.js';
import { segment, type ZeroPlan } from './plan.js';

export interface OptimizerStatePart {
  /** elements of this rank's optimizer partition */
  readonly numel: number;
  /** bytes of this rank's optimizer state (fp32 master included when separate) */
  readonly bytes: number;
  readonly stateKeys: readonly string[];
  /** Sum of squares of this rank's segment gradients per bucket (as stored: loss-scaled in fp16), in f64. */
  localSumSquaresByBucket(grads: SegmentSource): number[];
  /** Phase 1 of a step (writes nothing the step updates); apply() is phase 2. */
  prepare(grads: SegmentSource, target: SegmentTarget): PreparedUpdate;
  /** A copy of bucket b's segment: the fp32 master parameters ('param') or a state buffer. */
  readSegment(which: string, b: number, target: SegmentTarget): Float32Array;
  /** Checkpoint load: overwrites bucket b's segment of the master ('param') or of a state buffer. */
  writeSegment(which: string, b: number, target: SegmentTarget, data: Float32Array): void;
  /** Checkpoint load: the model's parameters (every segment) rewritten from the master. */
  writeParamsFromMaster(target: SegmentTarget): void;
  dispose(): void;
}

/** Where the state's bytes are, for memory accounting (device bytes are in the device's own stats). */
export interface OffloadAccounting {
  /** host bytes held for optimizer state (resident sub-groups, or nvme swap buffers) */
  readonly hostBytes: number;
  /** bytes in swap files */
  readonly diskBytes: number;
  readonly subGroups: number;
}

/** The per-bucket sum of squares every placement computes the same way (on the device, where the grads are). */
export function segmentSumSquares(plan: ZeroPlan, grads: SegmentSource): number[] {
  const k = plan.device.kernels;
  return plan.layout.buckets.map((_, b) => {
    const { buf, offset } = grads.segmentGrad(b);
    const n = segment(plan, b).end - segment(plan, b).start;
    const host = buf as Partial<{ sumSquares(offset: number, n: number): number }>;
    if (host.sumSquares !== undefined) return host.sumSquares(offset, n); // an offloaded shard, summed where it is
    return plan.dtype === 'f32' ? k.sumSquares(buf.at(offset), n) : k.sumSquares16(buf.at(offset), n, plan.dtype);
  });
}
