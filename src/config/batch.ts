// The batch-size triple: train_batch_size = train_micro_batch_size_per_gpu x gradient_accumulation_steps x world size.
// Any two determine the third (DeepSpeed's rules); we demand exact division where DeepSpeed would floor, because a
// floored batch silently trains a different batch than the one written down.
import { ConfigError } from '../errors.js';

export interface BatchTriple {
  trainBatchSize: number;
  micro: number;
  accumulation: number;
}

export function resolveBatch(
  train: number | undefined,
  micro: number | undefined,
  accumulation: number | undefined,
  worldSize: number,
): BatchTriple {
  const show = () =>
    `train_batch_size=${train ?? '(unset)'}, train_micro_batch_size_per_gpu=${micro ?? '(unset)'}, ` +
    `gradient_accumulation_steps=${accumulation ?? '(unset)'}, world size=${worldSize}`;
  const divide = (num: number, den: number, what: string): number => {
    if (num % den !== 0) {
      throw new ConfigError(
        `batch sizes do not divide: ${show()}; ${what} would be ${num}/${den}, not a whole number. ` +
          `train_batch_size must equal train_micro_batch_size_per_gpu x gradient_accumulation_steps x world size.`,
        'train_batch_size',
      );
    }
    return num / den;
  };
  let t: number, m: number, a: number;
  if (train !== undefined && micro !== undefined && accumulation !== undefined) {
    [t, m, a] = [train, micro, accumulation];
    if (t !== m * a * worldSize) {
      throw new ConfigError(
        `batch sizes disagree: ${show()}; train_batch_size must equal ${m} x ${a} x ${worldSize} = ${m * a * worldSize}.`,
        'train_batch_size',
      );
    }
  } else if (train !== undefined && micro !== undefined) {
    [t, m] = [train, micro];
    a = divide(t, m * worldSize, 'gradient_accumulation_steps');
  } else if (train !== undefined && accumulation !== undefined) {
    [t, a] = [train, accumulation];
    m = divide(t, a * worldSize, 'train_micro_batch_size_per_gpu');
  } else if (micro !== undefined) {
    [m, a] = [micro, accumulation ?? 1];
    t = m * a * worldSize;
  } else if (train !== undefined) {
    [t, a] = [train, 1];
    m = divide(t, worldSize, 'train_micro_batch_size_per_gpu');
  } else {
    throw new ConfigError(
      `no batch size: set train_batch_size or train_micro_batch_size_per_gpu (or both, with gradient_accumulation_steps); got ${show()}.`,
      'train_batch_size',
    );
  }
  return { trainBatchSize: t, micro: m, accumulation: a };
}
