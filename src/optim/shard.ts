// What an optimizer updates: a flat fp32 shard (this rank's slice of the parameters) with its gradient and state
// buffers, all in ONE memory that has kernels instantiated on it (a Device, or a host arena for offload). The
// optimizer never allocates: the caller (the ZeRO engine) places the buffers where its policy says (device, host)
// and zeroes the state buffers before the first step, which is what checkpoint loading overwrites.
import type { Half, Kernels, Ptr } from '../kernels/types.js';

/** Names of the fp32 state buffers an optimizer keeps per element (exp_avg, exp_avg_sq, momentum_buffer). */
export type StateKey = 'm' | 'v' | 'momentum';

/** The memory the shard's pointers point into. A Device satisfies it; so does a host arena's view. */
export interface ShardMemory {
  readonly kernels: Kernels;
  f32(ptr: number, length: number): Float32Array;
}

export interface ParamShard {
  /** For messages (e.g. "rank 1 flat shard" or a parameter name). */
  readonly name?: string;
  readonly memory: ShardMemory;
  /** Elements in the shard. */
  readonly n: number;
  /** fp32 master parameters [n] (updated in place). */
  readonly param: Ptr;
  /** fp32 gradients [n] (read only; scaled by StepOptions.gradScale). */
  readonly grad: Ptr;
  /** fp32 state buffers [n] for the optimizer's stateKeys. */
  readonly state: Readonly<Partial<Record<StateKey, Ptr>>>;
  /** When set, the updated parameters are also written rounded to 16 bits here (the model's bf16/f16 copy). */
  readonly out16?: { readonly ptr: Ptr; readonly type: Half } | null;
  /** Overrides the optimizer's weight decay for this shard (e.g. 0 for biases and LayerNorm gains). */
  readonly weightDecay?: number;
}

export interface StepOptions {
  /**
   * Factor applied to the gradients before the update (default 1): 1 / lossScale for fp16 loss scaling, times the
   * clipping coefficient (see clip.ts), times 1 / accumulation count if the gradients are sums.
   */
  gradScale?: number;
}
