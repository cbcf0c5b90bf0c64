// Loss scaling for fp16 training with DeepSpeed's semantics (deepspeed/runtime/fp16/loss_scaler.py).
//
// The loss is multiplied by `scale` before backward; the engine checks the (reduced) gradients for Inf/NaN and calls
// update(overflow) once per optimizer step. On overflow the step is skipped and counted. Dynamic scaling:
//   - overflow: if hysteresis is exhausted (it is 1, or the configured hysteresis is 1), scale = max(scale / 2,
//     min_loss_scale); otherwise hysteresis -= 1 and the scale stays. The overflow's iteration is remembered.
//   - no overflow: with consecutive_hysteresis the hysteresis is restored at once; when (iteration - last overflow
//     iteration) is a multiple of loss_scale_window, the scale doubles (and, without consecutive_hysteresis, the
//     hysteresis is restored).
//   - the iteration counter advances on every call.
// A static scale (loss_scale > 0) never changes; overflowing steps are still skipped.
// When an overflow arrives while the scale already sits at min_loss_scale, nothing more can be done by scaling:
// DeepSpeed raises ("loss scale already at minimum"). We warn once (clearly) and go on skipping, because a short
// burst of overflows at the minimum can pass; but loss_scale_window consecutive overflows at the minimum (no good
// step in a whole window) mean the run has diverged, and that is a NumericsError: a job must not skip every step
// to the end and exit 0. raiseAtMinScale raises at the first overflow at the minimum, as DeepSpeed does.
import { ConfigError, NumericsError } from '../errors.js';

export interface LossScalerOptions {
  /** loss_scale: > 0 is a static scale; 0 (default) means dynamic. */
  lossScale?: number;
  initialScalePower?: number; // initial_scale_power, default 16
  lossScaleWindow?: number; // loss_scale_window, default 1000
  hysteresis?: number; // hysteresis, default 2
  consecutiveHysteresis?: boolean; // consecutive_hysteresis, default false
  minLossScale?: number; // min_loss_scale, default 1
  /** Factor of each change (DeepSpeed: 2). */
  scaleFactor?: number;
  /** Throw NumericsError instead of warning when an overflow hits the minimum scale (default false). */
  raiseAtMinScale?: boolean;
  /** Where the one warning goes (default console.warn). */
  warn?: (message: string) => void;
}

export interface LossScalerState {
  curScale: number;
  curIter: number;
  lastOverflowIter: number;
  curHysteresis: number;
  skippedSteps: number;
  /** consecutive overflows while at min_loss_scale (absent in states saved before it existed). */
  overflowsAtMin?: number;
}

function check(ok: boolean, key: string, value: unknown, allowed: string): void {
  if (!ok) throw new ConfigError(`fp16.${key} = ${JSON.stringify(value)} is not allowed; ${allowed}`, `fp16.${key}`);
}

export class DynamicLossScaler {
  readonly dynamic: boolean;
  readonly scaleWindow: number;
  readonly minScale: number;
  readonly delayedShift: number;
  readonly consecutiveHysteresis: boolean;
  readonly scaleFactor: number;
  private readonly raiseAtMinScale: boolean;
  private readonly warn: (message: string) => void;
  private curScale: number;
  private curIter = 0;
  private lastOverflowIter = -1;
  private curHysteresis: number;
  private skipped = 0;
  private warnedAtMin = false;
  private overflowsAtMin = 0;

  constructor(opts: LossScalerOptions = {}) {
    const lossScale = opts.lossScale ?? 0;
    const power = opts.initialScalePower ?? 16;
    this.scaleWindow = opts.lossScaleWindow ?? 1000;
    this.delayedShift = opts.hysteresis ?? 2;
    this.minScale = opts.minLossScale ?? 1;
    this.consecutiveHysteresis = opts.consecutiveHysteresis ?? false;
    this.scaleFactor = opts.scaleFactor ?? 2;
    check(
      Number.isFinite(lossScale) && lossScale >= 0,
      'loss_scale',
      lossScale,
      'use 0 (dynamic) or a positive static scale',
    );
    check(
      Number.isInteger(power) && power >= 0 && power <= 64,
      'initial_scale_power',
      power,
      'use an integer in 0..64 (initial scale 2^power)',
    );
    check(
      Number.isSafeInteger(this.scaleWindow) && this.scaleWindow >= 1,
      'loss_scale_window',
      this.scaleWindow,
      'use a positive integer',
    );
    check(
      Number.isSafeInteger(this.delayedShift) && this.delayedShift >= 1,
      'hysteresis',
      this.delayedShift,
      'use a positive integer',
    );
    check(
      this.minScale > 0 && Number.isFinite(this.minScale),
      'min_loss_scale',
      this.minScale,
      'use a positive number',
    );
    check(this.scaleFactor > 1, 'scale_factor', this.scaleFactor, 'use a number > 1');
    this.dynamic = lossScale === 0;
    this.curScale = this.dynamic ? 2 ** power : lossScale;
    this.curHysteresis = this.delayedShift;
    this.raiseAtMinScale = opts.raiseAtMinScale ?? false;
    this.warn = opts.warn ?? ((m) => console.warn(m));
  }

  /** The factor to multiply the loss by. */
  get scale(): number {
    return this.curScale;
  }

  /** Steps skipped for overflow so far. */
  get skippedSteps(): number {
    return this.skipped;
  }

  /**
   * Records one optimizer step's overflow check and adapts the scale. Returns true when the step must be skipped
   * (the gradients overflowed).
   */
  update(overflow: boolean): boolean {
    if (overflow) this.skipped += 1;
    if (!this.dynamic) {
      this.curIter += 1;
      return overflow;
    }
    if (overflow && this.curScale <= this.minScale) this.overflowAtMinimum();
    else this.overflowsAtMin = 0;
    if (overflow) {
      if (this.delayedShift === 1 || this.curHysteresis === 1) {
        if (this.curScale <= this.minScale) this.atMinimum();
        this.curScale = Math.max(this.curScale / this.scaleFactor, this.minScale);
      } else {
        this.curHysteresis -= 1;
      }
      this.lastOverflowIter = this.curIter;
    } else {
      if (this.consecutiveHysteresis) this.curHysteresis = this.delayedShift;
      if ((this.curIter - this.lastOverflowIter) % this.scaleWindow === 0) {
        if (!this.consecutiveHysteresis) this.curHysteresis = this.delayedShift;
        this.curScale *= this.scaleFactor;
      }
    }
    this.curIter += 1;
    return overflow;
  }

  /** One more overflow with the scale already at the minimum; a whole window of them ends the run. */
  private overflowAtMinimum(): void {
    this.overflowsAtMin += 1;
    if (this.overflowsAtMin < this.scaleWindow) return;
    throw new NumericsError(
      `fp16 loss scale already at minimum (min_loss_scale = ${this.minScale}) and the gradients overflowed in ` +
        `${this.overflowsAtMin} consecutive steps (loss_scale_window = ${this.scaleWindow}; iteration ${this.curIter}, ` +
        `${this.skipped} steps skipped in all): the model has diverged and every step is skipped. Lower the ` +
        'learning rate, enable gradient_clipping, use bf16, or lower min_loss_scale.',
    );
  }

  private atMinimum(): void {
    const msg =
      `fp16 loss scale is at its minimum (min_loss_scale = ${this.minScale}) and the gradients still overflow ` +
      `(iteration ${this.curIter}, ${this.skipped} steps skipped so far): every such step is skipped. The model has ` +
      `probably diverged: lower the learning rate, enable gradient_clipping, use bf16, or lower min_loss_scale.`;
    if (this.raiseAtMinScale) throw new NumericsError(msg);
    if (!this.warnedAtMin) {
      this.warnedAtMin = true;
      this.warn(msg);
    }
  }

  stateDict(): LossScalerState {
    return {
      curScale: this.curScale,
      curIter: this.curIter,
      lastOverflowIter: this.lastOverflowIter,
      curHysteresis: this.curHysteresis,
      skippedSteps: this.skipped,
      // only while a run of overflows at the minimum is going on (a healthy run's state keeps its old shape)
      ...(this.overflowsAtMin > 0 ? { overflowsAtMin: this.overflowsAtMin } : {}),
    };
  }

  loadStateDict(s: LossScalerState): void {
    this.curScale = s.curScale;
    this.curIter = s.curIter;
    this.lastOverflowIter = s.lastOverflowIter;
    this.curHysteresis = s.curHysteresis;
    this.skipped = s.skippedSteps;
    this.overflowsAtMin = s.overflowsAtMin ?? 0;
  }
}
