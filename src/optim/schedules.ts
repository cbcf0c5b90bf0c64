// Learning-rate schedules with DeepSpeed's semantics and parameter names (deepspeed/runtime/lr_schedules.py).
//
// [Note: schedule iteration] A DeepSpeed scheduler holds `last_batch_iteration`, -1 at construction; the engine
// calls scheduler.step() after every optimizer step that was applied (not after steps skipped for fp16 overflow),
// and the optimizer's next step uses get_lr() at the new iteration. So optimizer step k (0-based, counting applied
// steps) runs with lrAt(k - 1): the first step with the value at iteration -1, which is warmup_min_lr for WarmupLR
// and WarmupDecayLR and 0 for WarmupCosineLR (DeepSpeed initialises the optimizer's lr that way).
//
// warmup (both):  log: gamma = ln(it + 1) / ln(W);  linear: gamma = it / W;  for it < W, with W = max(2, warmup_num_steps)
// WarmupLR:       lr = min + (max - min) * gamma, gamma = 1 after warmup
// WarmupDecayLR:  after warmup gamma = max(0, (total - it) / max(1, total - W))
// WarmupCosineLR: ratio = warmup_min_ratio + (1 - warmup_min_ratio) * gamma during warmup; after it
//                 ratio = max(0, cos_min_ratio + (1 - cos_min_ratio) * (1 + cos(pi * (it - W + 1) / max(1, total - W))) / 2);
//                 lr = base_lr * ratio, base_lr being the optimizer's configured lr.
// Past total_num_steps WarmupCosineLR's cosine rises again, exactly as DeepSpeed's does (configure total_num_steps
// to cover the run).
import { ConfigError } from '../errors.js';

export type WarmupType = 'log' | 'linear';

export interface WarmupLRParams {
  warmupMinLr?: number; // warmup_min_lr, default 0
  warmupMaxLr?: number; // warmup_max_lr, default 1e-3
  warmupNumSteps?: number; // warmup_num_steps, default 1000
  warmupType?: WarmupType; // warmup_type, default 'log'
}
export interface WarmupDecayLRParams extends WarmupLRParams {
  totalNumSteps: number; // total_num_steps (required)
}
export interface WarmupCosineLRParams {
  totalNumSteps: number; // total_num_steps (required)
  warmupMinRatio?: number; // warmup_min_ratio, default 0
  warmupNumSteps?: number; // warmup_num_steps, default 1000
  cosMinRatio?: number; // cos_min_ratio, default 1e-4
  warmupType?: WarmupType; // warmup_type, default 'log'
}

/** A schedule is a pure function of the iteration; LRScheduler adds DeepSpeed's step() state around it. */
export interface LRSchedule {
  readonly type: string;
  lrAt(iteration: number): number;
}

function check(ok: boolean, type: string, key: string, value: unknown, allowed: string): void {
  if (!ok)
    throw new ConfigError(
      `scheduler ${type}: params.${key} = ${JSON.stringify(value)} is not allowed; ${allowed}`,
      `scheduler.params.${key}`,
    );
}

function warmupGamma(it: number, W: number, type: WarmupType): number {
  return type === 'log' ? Math.log(it + 1) / Math.log(W) : it / W;
}

function warmupCommon(
  type: string,
  p: { warmupNumSteps?: number; warmupType?: WarmupType },
): { W: number; wtype: WarmupType } {
  const n = p.warmupNumSteps ?? 1000;
  check(Number.isSafeInteger(n) && n >= 0, type, 'warmup_num_steps', n, 'use an integer >= 0');
  const wtype = p.warmupType ?? 'log';
  check(wtype === 'log' || wtype === 'linear', type, 'warmup_type', wtype, "use 'log' or 'linear'");
  return { W: Math.max(2, n), wtype };
}

export class WarmupLR implements LRSchedule {
  readonly type: string = 'WarmupLR';
  readonly minLr: number;
  readonly maxLr: number;
  readonly warmupNumSteps: number;
  readonly warmupType: WarmupType;

  constructor(p: WarmupLRParams = {}) {
    this.minLr = p.warmupMinLr ?? 0;
    this.maxLr = p.warmupMaxLr ?? 1e-3;
    check(
      Number.isFinite(this.minLr) && this.minLr >= 0,
      this.type,
      'warmup_min_lr',
      this.minLr,
      'use a finite number >= 0',
    );
    check(
      Number.isFinite(this.maxLr) && this.maxLr >= 0,
      this.type,
      'warmup_max_lr',
      this.maxLr,
      'use a finite number >= 0',
    );
    const { W, wtype } = warmupCommon(this.type, p);
    this.warmupNumSteps = W;
    this.warmupType = wtype;
  }

  protected gamma(it: number): number {
    return it < this.warmupNumSteps ? warmupGamma(it, this.warmupNumSteps, this.warmupType) : 1;
  }

  lrAt(it: number): number {
    if (it < 0) return this.minLr;
    return this.minLr + (this.maxLr - this.minLr) * this.gamma(it);
  }
}

export class WarmupDecayLR extends WarmupLR {
  override readonly type: string = 'WarmupDecayLR';
  readonly totalNumSteps: number;

  constructor(p: WarmupDecayLRParams) {
    super(p);
    this.totalNumSteps = p.totalNumSteps;
    check(
      Number.isSafeInteger(p.totalNumSteps) && p.totalNumSteps > 0,
      this.type,
      'total_num_steps',
      p.totalNumSteps,
      'use a positive integer (the number of optimizer steps of the run)',
    );
  }

  protected override gamma(it: number): number {
    if (it < this.warmupNumSteps) return warmupGamma(it, this.warmupNumSteps, this.warmupType);
    return Math.max(0, (this.totalNumSteps - it) / Math.max(1, this.totalNumSteps - this.warmupNumSteps));
  }
}

export class WarmupCosineLR implements LRSchedule {
  readonly type = 'WarmupCosineLR';
  readonly totalNumSteps: number;
  readonly warmupMinRatio: number;
  readonly cosMinRatio: number;
  readonly warmupNumSteps: number;
  readonly warmupType: WarmupType;

  /** @param baseLr the optimizer's configured lr (DeepSpeed's org_lrs) */
  constructor(
    p: WarmupCosineLRParams,
    readonly baseLr: number,
  ) {
    this.totalNumSteps = p.totalNumSteps;
    this.warmupMinRatio = p.warmupMinRatio ?? 0;
    this.cosMinRatio = p.cosMinRatio ?? 1e-4;
    check(
      Number.isSafeInteger(p.totalNumSteps) && p.totalNumSteps > 0,
      this.type,
      'total_num_steps',
      p.totalNumSteps,
      'use a positive integer (the number of optimizer steps of the run)',
    );
    check(
      this.warmupMinRatio >= 0 && this.warmupMinRatio <= 1,
      this.type,
      'warmup_min_ratio',
      this.warmupMinRatio,
      'use a number in [0, 1]',
    );
    check(
      this.cosMinRatio >= 0 && this.cosMinRatio <= 1,
      this.type,
      'cos_min_ratio',
      this.cosMinRatio,
      'use a number in [0, 1]',
    );
    check(
      Number.isFinite(baseLr) && baseLr >= 0,
      this.type,
      'lr',
      baseLr,
      "use the optimizer's lr, a finite number >= 0",
    );
    const { W, wtype } = warmupCommon(this.type, p);
    this.warmupNumSteps = W;
    this.warmupType = wtype;
  }

  ratioAt(it: number): number {
    if (it < 0) return 0;
    const W = this.warmupNumSteps;
    if (it < W) return this.warmupMinRatio + (1 - this.warmupMinRatio) * warmupGamma(it, W, this.warmupType);
    const s = it - W + 1;
    const total = Math.max(1, this.totalNumSteps - W);
    return Math.max(0, this.cosMinRatio + ((1 - this.cosMinRatio) * (1 + Math.cos((Math.PI * s) / total))) / 2);
  }

  lrAt(it: number): number {
    return this.baseLr * this.ratioAt(it);
  }
}

/** A constant learning rate (no scheduler configured). */
export class ConstantLR implements LRSchedule {
  readonly type = 'Constant';
  constructor(readonly lr: number) {}
  lrAt(): number {
    return this.lr;
  }
}

/**
 * DeepSpeed's scheduler protocol over a schedule: lastBatchIteration starts at -1; step() after each applied
 * optimizer step; `lr` is what the next optimizer step uses. See [Note: schedule iteration].
 */
export class LRScheduler {
  lastBatchIteration: number;

  constructor(
    readonly schedule: LRSchedule,
    lastBatchIteration: number = -1,
  ) {
    this.lastBatchIteration = lastBatchIteration;
  }

  get lr(): number {
    return this.schedule.lrAt(this.lastBatchIteration);
  }

  /** Advances one iteration (or jumps to `iteration`) and returns the new lr. */
  step(iteration?: number): number {
    this.lastBatchIteration = iteration ?? this.lastBatchIteration + 1;
    return this.lr;
  }

  stateDict(): { last_batch_iteration: number } {
    return { last_batch_iteration: this.lastBatchIteration };
  }

  loadStateDict(s: { last_batch_iteration: number }): void {
    this.lastBatchIteration = s.last_batch_iteration;
  }
}
