// Argument checks shared by both backends (the wasm kernels cannot raise named errors themselves).
import { ShapeError } from '../errors.js';

/** Throws ShapeError when a target is >= V (negative targets mean "ignore" and are allowed). */
export function checkTargets(ix: Int32Array, t0: number, N: number, V: number, where: string): void {
  for (let i = 0; i < N; i++) {
    const t = ix[t0 + i]!;
    if (t >= V)
      throw new ShapeError(`${where}: targets[${i}] = ${t} is out of range; allowed are -1 (ignore) and 0..${V - 1}`);
  }
}

/** Throws ShapeError when an index is outside 0..rows-1. */
export function checkIndices(ix: Int32Array, i0: number, n: number, rows: number, where: string): void {
  for (let i = 0; i < n; i++) {
    const t = ix[i0 + i]!;
    if (t < 0 || t >= rows) throw new ShapeError(`${where}: idx[${i}] = ${t} is out of range 0..${rows - 1}`);
  }
}

/** Throws ShapeError when C is not divisible by nh. */
export function checkHeads(C: number, nh: number, where: string): void {
  if (nh <= 0 || C % nh !== 0) throw new ShapeError(`${where}: C = ${C} must be a positive multiple of nh = ${nh}`);
}
