// Bucket sizes from the model (issue 9, item 5): a config that leaves reduce_bucket_size,
// stage3_prefetch_bucket_size or stage3_param_persistence_threshold unset (or "auto", through fillAuto) gets them
// from the model's hidden size h as the Hugging Face Trainer fills its "auto" placeholders: h^2, 0.9 h^2 (rounded
// down) and 10 h elements. DeepSpeed's defaults (5e8, 5e7, 1e5) are sized for billions of parameters: on a model of
// a few million one reduce bucket holds every gradient and one gather unit every parameter, so stages 2 and 3 would
// save nothing. Without a hidden size (a model that does not tell it) DeepSpeed's defaults stay.
import type { FilledValue } from './auto.js';

/** The sized keys (canonical names after normalize(), then the name printed), with Hugging Face's rule. */
export const MODEL_SIZED_KEYS = [
  { key: 'reduce_bucket_size', path: 'zero_optimization.reduce_bucket_size', rule: 'h^2', size: (h: number) => h * h },
  {
    key: 'prefetch_bucket_size',
    path: 'zero_optimization.stage3_prefetch_bucket_size',
    rule: '0.9 h^2',
    size: (h: number) => Math.floor(0.9 * h * h),
  },
  {
    key: 'param_persistence_threshold',
    path: 'zero_optimization.stage3_param_persistence_threshold',
    rule: '10 h',
    size: (h: number) => 10 * h,
  },
] as const;

export const HIDDEN_SIZE_FROM = 'hidden size ';

/**
 * The values for the keys `z` (a normalized zero_optimization block) leaves unset, from hidden size `h`; the stage-3
 * keys only under stage 3 (elsewhere they are read by nothing). Listed as filled values, said by describeFilled.
 */
export function modelSizedDefaults(z: Record<string, unknown>, h: number | undefined, stage: number): FilledValue[] {
  if (h === undefined || !(Number.isInteger(h) && h >= 1)) return [];
  return MODEL_SIZED_KEYS.filter((k) => z[k.key] === undefined && (k.key === 'reduce_bucket_size' || stage === 3)).map(
    (k) => ({ path: k.path, value: k.size(h), from: `${HIDDEN_SIZE_FROM}${h}: ${k.rule}` }),
  );
}

/** One line for every value sized from the hidden size (filled "auto" or unset), or none. */
export function describeModelSized(filled: readonly FilledValue[]): string[] {
  const sized = filled.filter((f) => f.from.startsWith(HIDDEN_SIZE_FROM));
  if (sized.length === 0) return [];
  const h = sized[0]!.from.slice(HIDDEN_SIZE_FROM.length).split(':')[0];
  const parts = sized.map((f) => `${f.path} = ${JSON.stringify(f.value)} (${f.from.split(': ')[1]})`);
  return [`config: bucket sizes from the model's hidden size ${h} (Hugging Face's rule): ${parts.join(', ')}`];
}
