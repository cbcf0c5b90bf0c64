// The zero layer's public surface: the engine, and the composed parts for those who assemble their own.
export { initialize, ZeroEngine, type InitializeOptions, type StepInfo, type TrainableModule } from './engine.js';
export type { Consolidated } from './consolidate.js';
export * from './partition.js';
export { FlatBuffer, type FlatDType } from './flat-buffer.js';
export { makeGradientReducer } from './grad-reducer.js';
export type { BackwardReduction, GradientReducer } from './gradient-reducer.js';
export type { ParameterStore } from './parameter-store.js';
export { ParamFetcher, type FetcherOptions } from './param-fetcher.js';
export { ParamGroup } from './param-group.js';
export { FetchSchedule, type ScheduleOptions } from './fetch-schedule.js';
export { ModuleHookState } from './module-hooks.js';
export { ReplicatedParams } from './replicated-params.js';
export { Lifecycle, type GroupState } from './param-lifecycle.js';
export { OptimizerState, type OptimizerStateOptions } from './optimizer-state.js';
export { buildPlan } from './build-plan.js';
export type { ZeroPlan } from './plan.js';
export {
  commOptionsFor,
  DEFAULT_COMM_SCRATCH_BYTES,
  type CommOptions,
  type CommOptionsRequest,
} from './comm-options.js';
