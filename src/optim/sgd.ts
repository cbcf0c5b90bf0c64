// SGD with momentum, dampening, Nesterov and L2 weight decay: torch.optim.SGD's semantics.
//   g = grad * gradScale + wd * p
//   buf = g (first step) | momentum * buf + (1 - dampening) * g
//   g = nesterov ? g + momentum * buf : buf          (only when momentum != 0)
//   p = p - lr * g
// There is no fused kernel for it (SGD is not what ZeRO is about); a plain loop over views of the shard's memory,
// in float64 with fp32 stores, is fast enough. The 16-bit copy goes through the kernels' castToHalf.
import type { ParamShard, StateKey, StepOptions } from './shard.js';
import { OptimizerBase, checkHyper } from './optimizer.js';
import type { OptimizerType } from './optimizer.js';

export interface SgdOptions {
  lr?: number; // default 1e-3
  momentum?: number; // default 0
  dampening?: number; // default 0
  weightDecay?: number; // default 0
  nesterov?: boolean; // default false
}

export class SGD extends OptimizerBase {
  readonly type: OptimizerType = 'SGD';
  readonly stateKeys: readonly StateKey[];
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(opts: SgdOptions = {}) {
    super(opts.lr ?? 1e-3);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    checkHyper(this.lr >= 0 && Number.isFinite(this.lr), 'lr', this.lr, 'use a finite number >= 0');
    checkHyper(this.momentum >= 0, 'momentum', this.momentum, 'use a number >= 0');
    checkHyper(this.weightDecay >= 0, 'weight_decay', this.weightDecay, 'use a number >= 0');
    checkHyper(
      !this.nesterov || (this.momentum > 0 && this.dampening === 0),
      'nesterov',
      this.nesterov,
      'Nesterov momentum needs momentum > 0 and dampening 0',
    );
    this.stateKeys = this.momentum !== 0 ? ['momentum'] : [];
  }

  updateShard(s: ParamShard, t: number, opts: StepOptions = {}): void {
    this.checkShard(s);
    const p = s.memory.f32(s.param, s.n);
    const g = s.memory.f32(s.grad, s.n);
    const buf = this.momentum !== 0 ? s.memory.f32(s.state.momentum!, s.n) : null;
    const scale = opts.gradScale ?? 1;
    const wd = s.weightDecay ?? this.weightDecay;
    const mu = this.momentum;
    const damp = 1 - this.dampening;
    const lr = this.lr;
    const first = t === 1;
    for (let i = 0; i < s.n; i++) {
      let d = g[i]! * scale + wd * p[i]!;
      if (buf !== null) {
        buf[i] = first ? d : mu * buf[i]! + damp * d;
        const b = buf[i]!; // the stored (fp32) buffer, as PyTorch uses it
        d = this.nesterov ? d + mu * b : b;
      }
      p[i] = p[i]! - lr * d;
    }
    if (s.out16) s.memory.kernels.castToHalf(s.out16.ptr, s.param, s.n, s.out16.type);
  }

  protected hyper(): Record<string, number | boolean> {
    return {
      momentum: this.momentum,
      dampening: this.dampening,
      weightDecay: this.weightDecay,
      nesterov: this.nesterov,
    };
  }
}
