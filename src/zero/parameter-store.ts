// The ParameterStore interface: where the model's parameters live between steps and how the optimizer's update
// reaches them. ReplicatedParams (stages 0-2, replicated-params.ts): every rank holds every parameter in one flat
// buffer. ParamFetcher (stage 3, param-fetcher.ts): each rank holds its shard; module hooks gather what
// a module needs around its forward and backward.
import type { ParameterFetcherKind } from '../config/policy.js';
import type { FlatStorage } from './host-flat.js';

export interface ParameterStore {
  readonly kind: ParameterFetcherKind;
  /** The model-dtype storage of bucket b's optimizer segment, where updated parameters are written. */
  segmentParam(b: number): { readonly buf: FlatStorage; readonly offset: number };
  /**
   * After the optimizer has written every segment: the updated parameters become whole where the ranks need them
   * (stage 0: nothing to do; stages 1, 2: all-gather every bucket; stage 3: the stale gathered copies are dropped,
   * the next forward gathers the new values).
   */
  gatherUpdated(): void;
  /** End of a forward or backward pass (stage 3 releases what it fetched on demand); absent: nothing to do. */
  endPass?(): void;
  dispose(): void;
}
