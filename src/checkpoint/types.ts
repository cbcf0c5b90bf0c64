// What src/checkpoint needs from a training engine: its layout (zero/partition's BucketedLayout), this rank's
// segments of the fp32 master weights, optimizer state and 16-bit weights, and the scalars of the step. The ZeRO
// engine provides it (src/zero/checkpoint-state.ts); checkpoint never imports the engine.
import type { ProcessGroup } from '../comm/types.js';
import type { BucketedLayout } from '../zero/partition.js';

export type FlatType = 'f32' | 'bf16' | 'f16';

/** The scalar state of a run at an optimizer-step boundary. */
export interface RunScalars {
  globalSteps: number;
  optimizer: { type: string; step: number; lr: number; hyper: Record<string, number | boolean> };
  scheduler: { last_batch_iteration: number };
  scaler: {
    curScale: number;
    curIter: number;
    lastOverflowIter: number;
    curHysteresis: number;
    skippedSteps: number;
  } | null;
}

/** A device buffer the collectives can use (the threads transport needs the rank's device memory). */
export interface CommScratch {
  readonly f32: Float32Array;
  readonly u16: Uint16Array;
  free(): void;
}

export interface ShardedState {
  readonly group: ProcessGroup;
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly layout: BucketedLayout;
  /** true: this rank holds only chunk `rank` of every bucket (stages 1-3); false: every bucket whole (stage 0) */
  readonly partitioned: boolean;
  /** storage type of the model's parameters */
  readonly dtype: FlatType;
  /** optimizer state buffers ('m', 'v' or 'momentum') */
  readonly stateKeys: readonly string[];
  readonly stage: number;
  readonly trainBatchSize: number;
  /** the resolved config (JSON) and the model's dimensions, recorded in the manifest */
  readonly config: unknown;
  readonly modelConfig: unknown;
  /** micro-batches since the last optimizer step (a checkpoint is taken at a step boundary: 0) */
  readonly pendingMicroSteps: number;
  /** `bytes` of device memory for collectives (views of the same bytes as f32 and u16) */
  scratch(bytes: number): CommScratch;
  /** A copy of this rank's segment of bucket b: fp32 'master' or a state key, or the 16-bit 'param16'. */
  readSegment(kind: string, b: number): Float32Array | Uint16Array;
  /** Writes this rank's segment of bucket b (same kinds; 'param16' only when dtype is 16-bit). */
  writeSegment(kind: string, b: number, data: Float32Array | Uint16Array): void;
  /**
   * After every segment was written: the 16-bit (or offloaded) parameters from the master unless `param16Written`,
   * then the replicated parameters re-gathered (stages 1-2; collective).
   */
  finishLoad(param16Written: boolean): void;
  scalars(): RunScalars;
  loadScalars(s: RunScalars): void;
}

/** Where a run's data stream stands (see [Note: sampler equivalence]): samples consumed so far over all ranks. */
export interface DataPosition {
  epoch: number;
  /** global index of the next sample (window) in the epoch's order */
  sampleIndex: number;
}

export interface SaveOptions {
  /** folder name under dir (default `step-<globalSteps>`) */
  tag?: string;
  /** any JSON value; returned by loadCheckpoint */
  clientState?: unknown;
  /** default: epoch 0, sampleIndex = globalSteps x train_batch_size */
  data?: DataPosition;
  /** called on every rank as the save passes each phase (tests kill a process there) */
  onPhase?: (phase: 'shard-written' | 'manifest-written' | 'renamed') => void;
}

export interface LoadOptions {
  tag?: string;
  /** load weights and scalars but leave the optimizer's moments zero and its step 0 (fine-tuning from a run) */
  weightsOnly?: boolean;
}

export interface LoadReport {
  dir: string;
  tag: string;
  globalSteps: number;
  /** then (in the checkpoint) and now */
  worldSize: { saved: number; now: number };
  stage: { saved: number; now: number };
  precision: { saved: FlatType; now: FlatType };
  data: DataPosition;
  clientState: unknown;
  /** bytes this rank read from shard files */
  bytesRead: number;
}
