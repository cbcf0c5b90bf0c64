// The autograd layer: a synchronous tape and the ops GPT needs. See README.md for the call convention.
export {
  Tape,
  type RegionHooks,
  type TapeState,
  type TapeOptions,
  type ActivationDType,
  type BackwardFn,
} from './tape.js';
export { checkpoint, checkpointHost, type CheckpointFn } from './checkpoint.js';
export type { ParamRef } from './param-ref.js';
export { paramF32, addParamGrad, type ParamValue } from './param-value.js';
export * from './ops/index.js';
