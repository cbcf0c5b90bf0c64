// Writing a parameter's initial values (or a materialised model's current values) into flat storage, one range at a
// time, so that a stage-3 rank computes only its own shard (deterministic counter-based init: the same values the
// single-process model gets, see src/nn/init.ts).
import type { Parameter } from '../nn/parameter.js';
import { f32ToHalfArray } from '../tensor/dtype.js';
import type { FlatStorage } from './host-flat.js';
import type { ZeroPlan } from './plan.js';

/** Elements [start, start + length) of p's value -> buf at element `at`. */
export function writeInitial(
  plan: ZeroPlan,
  p: Parameter,
  buf: FlatStorage,
  at: number,
  start: number,
  length: number,
): void {
  if (length === 0) return;
  let values: Float32Array;
  if (p.data !== null) {
    // A materialised model: take its current values (then the caller releases the full tensor).
    values = p.data.toFloat32().subarray(start, start + length);
  } else {
    values = new Float32Array(length);
    p.initInto(values, start);
  }
  const out = buf.comm(at, length);
  if (out instanceof Float32Array) out.set(values);
  else f32ToHalfArray(values, plan.dtype as 'bf16' | 'f16', out);
}
