// The GradientReducer interface: how gradients get from backward to the optimizer's segment, averaged over the
// ranks. The engine routes every parameter's gradient to the reducer (bind), calls reduce() at the accumulation
// boundary, and the optimizer then reads segmentGrad(b). Reducers that reduce during backward (stages 2, 3) also
// offer a BackwardReduction: the engine then tracks gradient readiness from module boundaries (readiness.ts) and
// feeds it to them. The implementations: FullGradReducer (stages 0, 1; grad-reducer.ts) and PartitionedGradReducer
// (stages 2, 3; grad-reducer-partitioned.ts); makeGradientReducer (grad-reducer.ts) picks one by the policy's kind.
import type { GradientReducerKind } from '../config/policy.js';
import type { Parameter } from '../nn/parameter.js';
import type { Tensor } from '../tensor/tensor.js';
import type { FlatStorage } from './host-flat.js';

export interface GradientReducer {
  readonly kind: GradientReducerKind;
  /** Routes the parameters' gradients here (parameters in layout order); undone by dispose(). */
  bind(params: readonly Parameter[]): void;
  /** One gradient contribution (fp32, the parameter's shape) of parameter i (layout index). */
  addGrad(i: number, g: Tensor): void;
  /** At the accumulation boundary, before the optimizer step: completes the reduction. */
  reduce(): void;
  /** The averaged gradient over bucket b's optimizer segment: a flat buffer (the plan's dtype) and an element offset. */
  segmentGrad(b: number): { readonly buf: FlatStorage; readonly offset: number };
  /** After the step (or a skipped step): gradients back to zero. */
  zero(): void;
  dispose(): void;
  /** Present when the reducer works during backward: what it needs to know of each backward's progress. */
  readonly duringBackward: BackwardReduction | null;
}

/** What a reducer that reduces during backward needs from the engine. */
export interface BackwardReduction {
  /** A module using parameter i starts its backward: its gradient is coming. */
  prepare(i: number): void;
  /** Parameter i's gradient of this backward is complete (every module that used it finished its backward). */
  paramReady(i: number): void;
  /** After each backward (micro-step): reduces what is left, in bucket order. */
  afterBackward(): void;
  /** The order buckets were reduced in since the last zero() (compared across ranks in the norm's all-reduce). */
  signature(): number;
}
