// The optimizer interface and what every optimizer shares: the step counter, the learning rate the scheduler sets,
// checking shards, and state export/import for checkpoints.
import { CheckpointError, ConfigError, StateError } from '../errors.js';
import type { ParamShard, StateKey, StepOptions } from './shard.js';

export type OptimizerType = 'Adam' | 'AdamW' | 'SGD';

/** Scalars of an optimizer's state (the per-element buffers are read with readState). */
export interface OptimizerStateDict {
  type: OptimizerType;
  /** Completed steps (Adam's t for bias correction). */
  step: number;
  lr: number;
  hyper: Record<string, number | boolean>;
}

export interface Optimizer {
  readonly type: OptimizerType;
  /** State buffers each shard must provide (zeroed before the first step). */
  readonly stateKeys: readonly StateKey[];
  /** Learning rate of the next step (a scheduler sets it). */
  lr: number;
  readonly stepCount: number;
  /** One optimizer step over all shards: advances the step count once, then updates every shard. */
  step(shards: readonly ParamShard[], opts?: StepOptions): void;
  /** Advances the step count and returns the new step t (for updates split into sub-groups, see updateShard). */
  advance(): number;
  /** Updates one shard as step t (no counting): lets an engine run one step in several calls (sub-groups). */
  updateShard(shard: ParamShard, t: number, opts?: StepOptions): void;
  stateDict(): OptimizerStateDict;
  loadStateDict(s: OptimizerStateDict): void;
  /** Copies of a shard's state buffers. */
  readState(shard: ParamShard): Record<string, Float32Array>;
  /** Writes state buffers into a shard (checkpoint load); every state key must be given with n elements. */
  writeState(shard: ParamShard, state: Readonly<Record<string, ArrayLike<number>>>): void;
}

export abstract class OptimizerBase implements Optimizer {
  abstract readonly type: OptimizerType;
  abstract readonly stateKeys: readonly StateKey[];
  lr: number;
  private steps = 0;

  constructor(lr: number) {
    this.lr = lr;
  }

  get stepCount(): number {
    return this.steps;
  }

  step(shards: readonly ParamShard[], opts: StepOptions = {}): void {
    for (const s of shards) this.checkShard(s);
    const t = this.advance();
    for (const s of shards) this.updateShard(s, t, opts);
  }

  advance(): number {
    this.steps += 1;
    return this.steps;
  }

  abstract updateShard(shard: ParamShard, t: number, opts?: StepOptions): void;
  protected abstract hyper(): Record<string, number | boolean>;

  stateDict(): OptimizerStateDict {
    return { type: this.type, step: this.steps, lr: this.lr, hyper: this.hyper() };
  }

  loadStateDict(s: OptimizerStateDict): void {
    if (s.type !== this.type) {
      throw new CheckpointError(
        `optimizer state is for ${s.type}, this optimizer is ${this.type}; load it into a ${s.type} optimizer or start the optimizer fresh`,
      );
    }
    if (!Number.isSafeInteger(s.step) || s.step < 0)
      throw new CheckpointError(`optimizer state step = ${s.step}; it must be a non-negative integer`);
    this.steps = s.step;
    this.lr = s.lr;
  }

  readState(shard: ParamShard): Record<string, Float32Array> {
    this.checkShard(shard);
    const out: Record<string, Float32Array> = {};
    for (const k of this.stateKeys) out[k] = shard.memory.f32(shard.state[k]!, shard.n).slice();
    return out;
  }

  writeState(shard: ParamShard, state: Readonly<Record<string, ArrayLike<number>>>): void {
    this.checkShard(shard);
    for (const k of this.stateKeys) {
      const src = state[k];
      if (src === undefined || src.length !== shard.n) {
        throw new CheckpointError(
          `${this.type} state "${k}" for ${shard.name ?? 'shard'}: got ` +
            `${src === undefined ? 'nothing' : `${src.length} values`}, need ${shard.n}`,
        );
      }
      shard.memory.f32(shard.state[k]!, shard.n).set(src);
    }
  }

  protected checkShard(s: ParamShard): void {
    for (const k of this.stateKeys) {
      if (s.state[k] === undefined) {
        throw new StateError(
          `${this.type}: ${s.name ?? 'shard'} has no "${k}" state buffer; ${this.type} needs ` +
            `${this.stateKeys.join(', ')} (fp32, ${s.n} elements, zeroed)`,
        );
      }
    }
  }
}

export function checkHyper(ok: boolean, key: string, value: unknown, allowed: string): void {
  if (!ok)
    throw new ConfigError(
      `optimizer.params.${key} = ${JSON.stringify(value)} is not allowed; ${allowed}`,
      `optimizer.params.${key}`,
    );
}
