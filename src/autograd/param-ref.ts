// What an op needs from a parameter. src/nn's Parameter implements it; autograd never imports nn (the arrow goes
// nn -> autograd). Ops hold ParamRefs, never their data, so stage 3 can release the data between forward and
// backward and the op fetches it again (see [Note: parameters are handles] in tape.ts).
import type { Tensor } from '../tensor/tensor.js';

export interface ParamRef {
  /** GPT-2 style name, e.g. `h.0.attn.c_attn.weight`, for messages. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly numel: number;
  /** The parameter's data (f32, bf16 or f16), fetched through the owner's hook when it was released. */
  value(): Tensor;
  /** Hands over a gradient contribution (fp32, same shape); the callee copies what it needs before returning. */
  accumulateGrad(g: Tensor): void;
  /**
   * An fp32 tensor the op may accumulate into directly (the default gradient handling), or null when a hook
   * consumes gradients: then the op computes its contribution in a workspace and calls accumulateGrad.
   */
  gradTarget(): Tensor | null;
}
