// The autograd layer: a synchronous tape and the ops GPT needs. See README.md for the call convention.
export { Tape, type RegionHooks, type TapeState } from './tape.js';
export type { ParamRef } from './param-ref.js';
export { paramF32, addParamGrad, type ParamValue } from './param-value.js';
export * from './ops/index.js';
