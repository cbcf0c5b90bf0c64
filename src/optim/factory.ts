// Builds optimizers and schedulers from DeepSpeed-style config objects (the resolved, camelCase form of
// src/config/types.ts; typed structurally here so optim depends on nothing above tensor).
import { ConfigError } from '../errors.js';
import { Adam, AdamW } from './adam.js';
import type { Optimizer } from './optimizer.js';
import { SGD } from './sgd.js';
import type { SgdOptions } from './sgd.js';
import { ConstantLR, LRScheduler, WarmupCosineLR, WarmupDecayLR, WarmupLR } from './schedules.js';
import type { WarmupCosineLRParams, WarmupDecayLRParams, WarmupLRParams } from './schedules.js';

export interface AdamConfigParams {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  /** DeepSpeed's adam_w_mode: for type "Adam", true (DeepSpeed's default) means decoupled decay (AdamW). */
  adamWMode?: boolean;
  biasCorrection?: boolean;
}

export type OptimizerConfigLike =
  | { readonly type: 'Adam' | 'AdamW'; readonly params: AdamConfigParams }
  | { readonly type: 'SGD'; readonly params: SgdOptions & { lr: number } };

export function createOptimizer(cfg: OptimizerConfigLike): Optimizer {
  switch (cfg.type) {
    case 'AdamW':
    case 'Adam': {
      const p = cfg.params;
      const opts = {
        lr: p.lr,
        betas: p.betas,
        eps: p.eps,
        weightDecay: p.weightDecay,
        biasCorrection: p.biasCorrection ?? true,
      };
      const decoupled = cfg.type === 'AdamW' || (p.adamWMode ?? true);
      return decoupled ? new AdamW(opts) : new Adam(opts);
    }
    case 'SGD':
      return new SGD(cfg.params);
    default:
      throw new ConfigError(
        `optimizer.type = ${JSON.stringify((cfg as { type: unknown }).type)} is not supported; use Adam, AdamW or SGD`,
        'optimizer.type',
      );
  }
}

export type SchedulerConfigLike =
  | { readonly type: 'WarmupLR'; readonly params: WarmupLRParams }
  | { readonly type: 'WarmupDecayLR'; readonly params: WarmupDecayLRParams }
  | { readonly type: 'WarmupCosineLR'; readonly params: WarmupCosineLRParams };

/** A scheduler for the config (a constant one at `baseLr` when none is configured). */
export function createScheduler(cfg: SchedulerConfigLike | null, baseLr: number): LRScheduler {
  if (cfg === null) return new LRScheduler(new ConstantLR(baseLr));
  switch (cfg.type) {
    case 'WarmupLR':
      return new LRScheduler(new WarmupLR(cfg.params));
    case 'WarmupDecayLR':
      return new LRScheduler(new WarmupDecayLR(cfg.params));
    case 'WarmupCosineLR':
      return new LRScheduler(new WarmupCosineLR(cfg.params, baseLr));
    default:
      throw new ConfigError(
        `scheduler.type = ${JSON.stringify((cfg as { type: unknown }).type)} is not supported; use WarmupLR, ` +
          `WarmupDecayLR or WarmupCosineLR`,
        'scheduler.type',
      );
  }
}
