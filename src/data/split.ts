// Train/validation split: the last `valFraction` of the token stream is held out (contiguous, so no window of the
// validation set overlaps the training text).
import { ConfigError } from '../errors.js';

export const DEFAULT_VAL_FRACTION = 0.075;

export interface Split<T> {
  train: T;
  val: T;
}

export function trainValSplit<T extends Uint8Array | Int32Array>(
  tokens: T,
  valFraction: number = DEFAULT_VAL_FRACTION,
): Split<T> {
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new ConfigError(`valFraction = ${valFraction} is not allowed; use a number in [0, 1)`, 'data.val_fraction');
  }
  const cut = tokens.length - Math.floor(tokens.length * valFraction);
  return { train: tokens.subarray(0, cut) as T, val: tokens.subarray(cut) as T };
}
