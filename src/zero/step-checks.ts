// Phase 1 of the step's diagnostics: when the agreed global gradient norm is not finite, say where this rank's first
// non-finite gradient value is (bucket, parameter, element), cheaply: only the first bucket whose partial sum of
// squares is not finite is scanned. The norm's all-reduce already made the failure itself agreed by every rank.
import { NumericsError } from '../errors.js';
import type { SegmentSource } from './optimizer-state.js';
import { segment, segmentSlices, type ZeroPlan } from './plan.js';

/** Whether a stored gradient element is Inf/NaN: fp32 by value, 16-bit by an all-ones exponent. */
function nonFinite(x: number, dtype: ZeroPlan['dtype']): boolean {
  if (dtype === 'f32') return !Number.isFinite(x);
  return dtype === 'bf16' ? (x & 0x7f80) === 0x7f80 : (x & 0x7c00) === 0x7c00;
}

/** Where this rank's first non-finite gradient is, as words for a message ('' when this rank's shard is finite). */
export function locateNonFinite(plan: ZeroPlan, grads: SegmentSource, bucketSums: readonly number[]): string {
  const b = bucketSums.findIndex((s) => !Number.isFinite(s));
  if (b < 0)
    return `rank ${plan.group.rank}'s own gradient shard is finite (another rank's is not, or another rank failed to prepare this step)`;
  const seg = segment(plan, b);
  const { buf, offset } = grads.segmentGrad(b);
  const vals = buf.comm(offset, seg.end - seg.start);
  let at = -1;
  for (let i = 0; i < vals.length; i++)
    if (nonFinite(vals[i], plan.dtype)) {
      at = i;
      break;
    }
  const slice =
    at < 0 ? undefined : segmentSlices(plan, b).find((s) => at >= s.shardStart && at < s.shardStart + s.length);
  const where =
    slice === undefined ? '' : `, first at ${slice.name}[${slice.paramStart + at - slice.shardStart}] (flat element)`;
  return `on rank ${plan.group.rank} the first non-finite gradient is in bucket ${b}${where}`;
}

/** The error a non-finite global norm raises without a loss scaler (fp32, bf16): nothing has been changed. */
export function nonFiniteNormError(step: number, sumSq: number, where: string): NumericsError {
  return new NumericsError(
    `step ${step}: the global gradient norm is not finite (sum of squares over all ranks ${sumSq}); ${where}. ` +
      'Parameters, master weights, optimizer state, step counters and the scheduler are unchanged and the gradients ' +
      'are zeroed, so the next forward/backward/step can proceed; lower the learning rate, enable gradient_clipping, ' +
      'or check the inputs for Inf/NaN.',
  );
}
