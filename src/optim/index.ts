// Public surface of the optim layer (imports tensor/kernels types only; never comm/).
export type { ParamShard, ShardMemory, StateKey, StepOptions } from './shard.js';
export type { Optimizer, OptimizerStateDict, OptimizerType } from './optimizer.js';
export { OptimizerBase } from './optimizer.js';
export { Adam, AdamW, adamKernelArgs } from './adam.js';
export type { AdamKernelArgs, AdamOptions } from './adam.js';
export { SGD } from './sgd.js';
export type { SgdOptions } from './sgd.js';
export { ConstantLR, LRScheduler, WarmupCosineLR, WarmupDecayLR, WarmupLR } from './schedules.js';
export type { LRSchedule, WarmupCosineLRParams, WarmupDecayLRParams, WarmupLRParams, WarmupType } from './schedules.js';
export { DynamicLossScaler } from './loss-scaler.js';
export type { LossScalerOptions, LossScalerState } from './loss-scaler.js';
export { CLIP_EPS, clipCoefficient, globalNorm, unscaleAndClip } from './clip.js';
export { createOptimizer, createScheduler } from './factory.js';
export type { OptimizerConfigLike, SchedulerConfigLike } from './factory.js';
