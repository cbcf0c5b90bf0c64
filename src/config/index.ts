// The config layer's public surface.
export { isResolvedConfig, resolveConfig, type ResolveOptions } from './resolve.js';
export { policyFromConfig } from './policy.js';
export { fillAuto, describeFilled, type AutoValues, type FilledValue, type Completed } from './auto.js';
export { configNotices } from './notices.js';
export type { ZeroPolicy, Precision, Placement, GradientReducerKind, ParameterFetcherKind } from './policy.js';
export type * from './types.js';
