// AdamW over a model's parameters, one kernel call per parameter (the single-rank trainer's optimizer; the ZeRO
// engine uses src/optim over flat shards). PyTorch's torch.optim.AdamW semantics, decoupled weight decay applied
// only to parameters with >= 2 dimensions (GPT-2 practice: no decay on biases and LayerNorm gains).
import { Tensor } from '../tensor/tensor.js';
import type { Parameter } from '../nn/parameter.js';
import { ConfigError, StateError } from '../errors.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

interface Slot {
  p: Parameter;
  m: Tensor;
  v: Tensor;
  /** fp32 master copy when the parameter is stored in 16 bits (the update runs on it, then rounds into data). */
  master: Tensor | null;
  decay: boolean;
}

export class AdamW {
  private readonly slots: Slot[];
  private t = 0;
  readonly b1: number;
  readonly b2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(
    params: readonly Parameter[],
    readonly opts: AdamWOptions,
  ) {
    [this.b1, this.b2] = opts.betas ?? [0.9, 0.95];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.1;
    if (!(opts.lr >= 0)) throw new ConfigError(`AdamW: lr = ${opts.lr} must be >= 0`, 'lr');
    this.slots = params.map((p) => {
      const d = p.value();
      const mk = (what: string): Tensor =>
        Tensor.zeros(p.device, p.shape, { dtype: 'f32', category: 'optimizer', label: `${p.name}.${what}` });
      let master: Tensor | null = null;
      if (d.dtype !== 'f32') {
        master = Tensor.fromArray(p.device, d.toFloat32(), p.shape, {
          dtype: 'f32',
          category: 'optimizer',
          label: `${p.name}.master`,
        });
      }
      return { p, m: mk('exp_avg'), v: mk('exp_avg_sq'), master, decay: p.shape.length >= 2 };
    });
  }

  /** Number of steps taken. */
  get steps(): number {
    return this.t;
  }

  /**
   * One update with learning rate `lr` (default the constructor's), from each parameter's default gradient
   * multiplied by `gradScale` (gradient clipping, loss-scale removal).
   */
  step(lr: number = this.opts.lr, gradScale = 1): void {
    this.t++;
    const bc1 = 1 - this.b1 ** this.t;
    const bc2 = 1 - this.b2 ** this.t;
    for (const s of this.slots) {
      const k = s.p.device.kernels;
      if (s.p.grad === null)
        throw new StateError(`AdamW.step: parameter ${s.p.name} has no gradient; run backward first`);
      const data = s.p.value();
      const target = s.master ?? data;
      const out16 = s.master === null ? 0 : data.ptr;
      const type = data.dtype === 'f16' ? 'f16' : 'bf16';
      k.adamw(
        target.ptr,
        s.p.grad.ptr,
        s.m.ptr,
        s.v.ptr,
        s.p.numel,
        lr,
        this.b1,
        this.b2,
        this.eps,
        s.decay ? this.weightDecay : 0,
        true,
        bc1,
        bc2,
        gradScale,
        out16,
        type,
      );
    }
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
      s.master?.dispose();
    }
  }
}

/** sqrt(sum of squares) over the parameters' default gradients (f64 accumulation). */
export function globalGradNorm(params: readonly Parameter[]): number {
  let s = 0;
  for (const p of params) if (p.grad !== null) s += p.device.kernels.sumSquares(p.grad.ptr, p.numel);
  return Math.sqrt(s);
}
