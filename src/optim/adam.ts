// Adam and AdamW over flat fp32 shards, through the kernels' fused `adamw` (one pass over p, g, m, v).
// Semantics are PyTorch's (torch.optim.Adam / AdamW), which DeepSpeed's FusedAdam and CPUAdam reproduce:
//   g = grad * gradScale                      (AdamW)        | g = grad * gradScale + wd * p        (Adam: L2)
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p = p - lr * wd * p                       (AdamW only: decoupled decay, Loshchilov & Hutter)
//   p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// With biasCorrection false the two (1 - b^t) factors are 1 (DeepSpeed's bias_correction option).
import type { ParamShard, StateKey, StepOptions } from './shard.js';
import { OptimizerBase, checkHyper } from './optimizer.js';
import type { OptimizerType } from './optimizer.js';

export interface AdamOptions {
  lr?: number; // default 1e-3
  betas?: readonly [number, number]; // default [0.9, 0.999]
  eps?: number; // default 1e-8
  weightDecay?: number; // default 0 (Adam) / 0.01 (AdamW, PyTorch's default)
  biasCorrection?: boolean; // default true
}

/** What Kernels.adamw takes besides the buffers, for one step. */
export interface AdamKernelArgs {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  readonly bc1: number;
  readonly bc2: number;
}

/** The kernel scalars of an Adam or AdamW optimizer at step t; null for any other optimizer. */
export function adamKernelArgs(o: unknown, t: number): AdamKernelArgs | null {
  return o instanceof AdamBase ? o.kernelArgs(t) : null;
}

abstract class AdamBase extends OptimizerBase {
  readonly stateKeys: readonly StateKey[] = ['m', 'v'];
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly biasCorrection: boolean;
  protected abstract readonly decoupled: boolean;

  constructor(opts: AdamOptions, defaultWeightDecay: number) {
    super(opts.lr ?? 1e-3);
    const [b1, b2] = opts.betas ?? [0.9, 0.999];
    this.beta1 = b1;
    this.beta2 = b2;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? defaultWeightDecay;
    this.biasCorrection = opts.biasCorrection ?? true;
    checkHyper(this.lr >= 0 && Number.isFinite(this.lr), 'lr', this.lr, 'use a finite number >= 0');
    checkHyper(b1 >= 0 && b1 < 1, 'betas[0]', b1, 'use a number in [0, 1)');
    checkHyper(b2 >= 0 && b2 < 1, 'betas[1]', b2, 'use a number in [0, 1)');
    checkHyper(this.eps >= 0, 'eps', this.eps, 'use a number >= 0');
    checkHyper(this.weightDecay >= 0, 'weight_decay', this.weightDecay, 'use a number >= 0');
  }

  /** The fused kernel's scalars for step t (an offloaded step runs the same kernel on its own threads). */
  kernelArgs(t: number): AdamKernelArgs {
    return {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      decoupled: this.decoupled,
      bc1: this.biasCorrection ? 1 - this.beta1 ** t : 1,
      bc2: this.biasCorrection ? 1 - this.beta2 ** t : 1,
    };
  }

  updateShard(s: ParamShard, t: number, opts: StepOptions = {}): void {
    this.checkShard(s);
    const { bc1, bc2 } = this.kernelArgs(t);
    s.memory.kernels.adamw(
      s.param,
      s.grad,
      s.state.m!,
      s.state.v!,
      s.n,
      this.lr,
      this.beta1,
      this.beta2,
      this.eps,
      s.weightDecay ?? this.weightDecay,
      this.decoupled,
      bc1,
      bc2,
      opts.gradScale ?? 1,
      s.out16?.ptr ?? 0,
      s.out16?.type ?? 'bf16',
    );
  }

  protected hyper(): Record<string, number | boolean> {
    return {
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
      biasCorrection: this.biasCorrection,
    };
  }
}

/** AdamW: decoupled weight decay. */
export class AdamW extends AdamBase {
  readonly type: OptimizerType = 'AdamW';
  protected readonly decoupled = true;
  constructor(opts: AdamOptions = {}) {
    super(opts, 0.01);
  }
}

/** Adam: weight decay as an L2 term added to the gradient (torch.optim.Adam). */
export class Adam extends AdamBase {
  readonly type: OptimizerType = 'Adam';
  protected readonly decoupled = false;
  constructor(opts: AdamOptions = {}) {
    super(opts, 0);
  }
}
