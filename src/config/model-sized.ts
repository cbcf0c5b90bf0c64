// Bucket sizes from the model (issue 9, item 5): a config that leaves reduce_bucket_size,
// stage3_prefetch_bucket_size or stage3_param_persistence_threshold unset (or "auto", through fillAuto) gets them
// from the model's hidden size h as the Hugging Face Trainer fills its "auto" placeholders: h^2, 0.9 h^2 (rounded
// down) and 10 h elements. DeepSpeed's defaults (5e8, 5e7, 1e5) are sized for billions of parameters: on a model of
// a few million one reduce bucket holds every gradient and one gather unit every parameter, so stages 2 and 3 would
// save nothing. Without a hidden size (a model that does not tell it) DeepSpeed's defaults stay.
// [Note: a model-sized reuse distance] stage3_max_reuse_distance, which Hugging Face leaves at DeepSpeed's 1e9
// elements, is sized here too (0.9 h^2, the prefetch size; unset only, as it has no "auto"): on a model below 1e9
// elements 1e9 keeps every group gathered from its forward to its backward (the fetch order is known from the second
// step on), so stage 3 would hold the whole 16-bit model beside its shard, more than stage 2's replicated copy
// (measured, GPT 4 x 384 on 2 ranks: 20.66 MiB of parameters at backward's start against stage 2's 13.77). A
// distance of one prefetch keeps what is used again at once (a checkpointed block's last module between recompute
// and backward) and releases the rest, so backward gathers again: the paper's 3 Psi of stage-3 communication.
import type { FilledValue } from './auto.js';

/** The sized keys (canonical names after normalize(), then the name printed), with Hugging Face's rule (zerots' for the last). */
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
  {
    key: 'max_reuse_distance',
    path: 'zero_optimization.stage3_max_reuse_distance',
    rule: '0.9 h^2',
    size: (h: number) => Math.floor(0.9 * h * h),
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
  const whose = sized.some((f) => f.path.endsWith('max_reuse_distance'))
    ? "Hugging Face's rule; the reuse distance as the prefetch"
    : "Hugging Face's rule";
  return [`config: bucket sizes from the model's hidden size ${h} (${whose}): ${parts.join(', ')}`];
}
