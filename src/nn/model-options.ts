// Options shared by the models, and the helper that allocates and initialises their parameters.
import { ConfigError } from '../errors.js';
import type { Module } from './module.js';
import type { ParamDType } from './parameter.js';

export interface ModelOptions {
  /** Allocate and initialise parameter data now (default true). false: shapes and names only (ZeRO shards). */
  materialize?: boolean;
  /** Storage type of parameter data (default 'f32'); compute is fp32 either way. */
  dtype?: ParamDType;
}

export function materializeAll(m: Module, opts: ModelOptions): void {
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'bf16' && dtype !== 'f16')
    throw new ConfigError(`dtype = ${JSON.stringify(dtype)} is not allowed; use 'f32', 'bf16' or 'f16'`, 'dtype');
  if (opts.materialize === false) return;
  for (const p of m.parameters()) p.materialize(dtype);
}

/** Positive integer check with a message naming the key. */
export function checkPositiveInt(where: string, key: string, v: number): void {
  if (!(Number.isSafeInteger(v) && v > 0))
    throw new ConfigError(`${where}: ${key} = ${String(v)} must be a positive integer`, key);
}
