// [Note: sub-groups] Sub-groups of an offloaded step (DeepSpeed's sub_group_size): the rank's optimizer partition, seen as the
// concatenation of its bucket segments, cut into consecutive ranges of at most `elements` elements, each stepped
// (and, under nvme, swapped) as a unit. A sub-group's buffers (fp32 master and every state) are one host allocation,
// so its size is also capped by what one arena can hold: the per-rank ceiling is host RAM (or disk), not 4 GiB.
// Pure: no memory is touched here.
import { ConfigError } from '../../errors.js';
import { segment, segmentOffset, segmentSlices, segmentsNumel, type ZeroPlan } from '../plan.js';

/** A run of one parameter slice inside one sub-group. */
export interface SubGroupRun {
  /** bucket whose segment holds the run, and the run's start inside that segment (elements) */
  readonly bucket: number;
  readonly segmentStart: number;
  /** start inside the sub-group (elements) */
  readonly offset: number;
  readonly length: number;
  /** layout index of the parameter (for weight decay and names) */
  readonly param: number;
  /** element of the parameter where the run starts */
  readonly paramStart: number;
}

export interface SubGroup {
  readonly index: number;
  /** range in the concatenation of the rank's segments */
  readonly start: number;
  readonly end: number;
  readonly runs: readonly SubGroupRun[];
}

/** Elements per sub-group: at most `requested` (0: no limit) and at most what `maxElements` allows, 16-aligned. */
export function subGroupElements(requested: number, maxElements: number): number {
  if (!(Number.isSafeInteger(requested) && requested >= 0))
    throw new ConfigError(
      `zero_optimization.sub_group_size = ${requested}: use a whole number of elements >= 0`,
      'zero_optimization.sub_group_size',
    );
  const cap = Math.floor(maxElements / 16) * 16;
  if (cap < 16) throw new ConfigError(`an arena holds ${maxElements} elements of a sub-group; it needs 16 at least`);
  const want = requested === 0 ? cap : Math.max(16, Math.ceil(requested / 16) * 16);
  return Math.min(want, cap);
}

/** Cuts this rank's segments into sub-groups of at most `elements` elements. */
export function planSubGroups(plan: ZeroPlan, elements: number): SubGroup[] {
  const total = segmentsNumel(plan);
  const out: { index: number; start: number; end: number; runs: SubGroupRun[] }[] = [];
  for (let start = 0, k = 0; start < total || (total === 0 && k === 0); start += elements, k++) {
    out.push({ index: k, start, end: Math.min(total, start + elements), runs: [] });
    if (total === 0) break;
  }
  plan.layout.buckets.forEach((bk, b) => {
    const so = segmentOffset(plan, b);
    const segLen = segment(plan, b).end - segment(plan, b).start;
    if (segLen === 0) return;
    for (const s of segmentSlices(plan, b)) {
      const param = bk.layout.entries[s.entry].index;
      // the slice covers [so + s.shardStart, + s.length) of the concatenation; split it at sub-group boundaries
      let at = so + s.shardStart;
      const end = at + s.length;
      while (at < end) {
        const k = Math.floor(at / elements);
        const sg = out[k]!;
        const stop = Math.min(end, sg.end);
        sg.runs.push({
          bucket: b,
          segmentStart: at - so,
          offset: at - sg.start,
          length: stop - at,
          param,
          paramStart: s.paramStart + (at - so - s.shardStart),
        });
        at = stop;
      }
    }
  });
  return out;
}
