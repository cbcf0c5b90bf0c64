// Partition math, pure and in one place: where each parameter sits in a flat buffer, which part of the flat buffer
// each rank owns, and how parameters are grouped into buckets. Everything else in zero/ (and estimate/) asks here.
//
// [Note: padding of the last partition]
// A flat buffer of `used` elements is padded with zeros to `padded`, the next multiple of worldSize x alignment, so
// that every rank owns the same `chunk = padded / worldSize` elements (the comm layer's partition contract: equal
// chunks, rank r owns [r*chunk, (r+1)*chunk)). The padding sits at the end, hence inside the last rank's (or last
// ranks') partition; its gradient is zero by construction and its optimizer state stays zero, so it never changes
// the model. It costs at most worldSize x alignment - 1 elements per flat buffer.
//
// [Note: one flat buffer per bucket]
// zerots pads and partitions each bucket (a run of consecutive parameters) on its own, rather than the whole model
// once as DeepSpeed's stage 1/2 do: then a bucket's reduce-scatter or all-gather is exactly one equal-chunk collective
// (no per-rank intersections of unequal size), and a rank's shard is the concatenation of its chunk of every bucket.
// The price is the padding per bucket instead of once per model.
import { ShapeError } from '../errors.js';

export interface ParamShape {
  readonly name: string;
  /** number of elements */
  readonly numel: number;
}

export interface LayoutOptions {
  readonly worldSize: number;
  /** Element alignment of every parameter's offset and of the chunk (1 = packed). */
  readonly alignment?: number;
}

export interface FlatEntry {
  readonly name: string;
  /** position in the list the layout was built from */
  readonly index: number;
  readonly numel: number;
  /** first element in the flat buffer (a multiple of alignment) */
  readonly offset: number;
}

export interface FlatLayout {
  readonly entries: readonly FlatEntry[];
  readonly worldSize: number;
  readonly alignment: number;
  /** end of the last parameter (including alignment gaps between parameters) */
  readonly used: number;
  /** used rounded up to a multiple of worldSize x alignment; see [Note: padding of the last partition] */
  readonly padded: number;
  /** padded / worldSize: the elements each rank owns */
  readonly chunk: number;
}

export interface Range {
  readonly start: number;
  /** exclusive */
  readonly end: number;
}

/** The part of one parameter that lies in one rank's partition. */
export interface ShardSlice {
  /** index of the entry in layout.entries */
  readonly entry: number;
  readonly name: string;
  /** first element of the slice within the parameter */
  readonly paramStart: number;
  readonly length: number;
  /** first element of the slice in the flat buffer */
  readonly flatStart: number;
  /** first element of the slice within the rank's chunk */
  readonly shardStart: number;
}

function checkWorld(worldSize: number, alignment: number): void {
  if (!Number.isInteger(worldSize) || worldSize < 1)
    throw new ShapeError(`partition: worldSize must be a whole number >= 1, got ${worldSize}`);
  if (!Number.isInteger(alignment) || alignment < 1)
    throw new ShapeError(`partition: alignment must be a whole number >= 1, got ${alignment}`);
}

export function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Lays `params` out one after another, each offset aligned, the total padded for worldSize equal chunks. */
export function flatLayout(params: readonly ParamShape[], opts: LayoutOptions): FlatLayout {
  const alignment = opts.alignment ?? 1;
  checkWorld(opts.worldSize, alignment);
  const entries: FlatEntry[] = [];
  let at = 0;
  params.forEach((p, index) => {
    if (!Number.isInteger(p.numel) || p.numel < 0)
      throw new ShapeError(`partition: parameter ${p.name} has numel ${p.numel}; expected a whole number >= 0`);
    at = roundUp(at, alignment);
    entries.push(Object.freeze({ name: p.name, index, numel: p.numel, offset: at }));
    at += p.numel;
  });
  const padded = roundUp(at, opts.worldSize * alignment);
  return Object.freeze({
    entries: Object.freeze(entries),
    worldSize: opts.worldSize,
    alignment,
    used: at,
    padded,
    chunk: padded / opts.worldSize,
  });
}

/** Rank r's partition of the flat buffer: [r*chunk, (r+1)*chunk). */
export function rankRange(layout: FlatLayout, rank: number): Range {
  if (!Number.isInteger(rank) || rank < 0 || rank >= layout.worldSize)
    throw new ShapeError(`partition: rank ${rank} outside [0, ${layout.worldSize})`);
  return { start: rank * layout.chunk, end: (rank + 1) * layout.chunk };
}

/** The intersection of every parameter with rank r's partition, in flat order (empty intersections omitted). */
export function shardSlices(layout: FlatLayout, rank: number): ShardSlice[] {
  const { start, end } = rankRange(layout, rank);
  return rangeSlices(layout, start, end);
}

/** The ranks whose partitions hold part of entry i (a contiguous run, empty for an empty parameter). */
export function ownerRanks(layout: FlatLayout, entry: number): number[] {
  const e = layout.entries[entry];
  if (e.numel === 0) return [];
  const first = Math.floor(e.offset / layout.chunk);
  const last = Math.floor((e.offset + e.numel - 1) / layout.chunk);
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

/**
 * Groups consecutive parameters into buckets of at most `bucketElements` elements (reduce_bucket_size); a parameter
 * larger than that gets a bucket of its own. Returns each bucket's parameter indices, in order.
 */
export function bucketize(params: readonly ParamShape[], bucketElements: number): number[][] {
  if (!(bucketElements >= 1))
    throw new ShapeError(`partition: bucket size must be >= 1 element, got ${bucketElements}`);
  const buckets: number[][] = [];
  let cur: number[] = [];
  let size = 0;
  params.forEach((p, i) => {
    if (cur.length > 0 && size + p.numel > bucketElements) {
      buckets.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(i);
    size += p.numel;
  });
  if (cur.length > 0) buckets.push(cur);
  return buckets;
}

/** Buckets laid out back to back; see [Note: one flat buffer per bucket]. */
export interface BucketedLayout {
  readonly worldSize: number;
  readonly buckets: readonly {
    /** the layout of this bucket's parameters; entry.index is the parameter's index in the full list */
    readonly layout: FlatLayout;
    /** where the bucket's padded flat buffer starts in the full (replicated) flat buffer */
    readonly flatOffset: number;
    /** where the bucket's chunk starts in each rank's shard */
    readonly shardOffset: number;
  }[];
  /** total elements of the full flat buffer (sum of padded bucket sizes) */
  readonly padded: number;
  /** elements of each rank's shard (padded / worldSize) */
  readonly shardNumel: number;
  /** for parameter i: [bucket index, entry index within that bucket] */
  readonly locate: readonly (readonly [number, number])[];
}

export function bucketedLayout(
  params: readonly ParamShape[],
  opts: LayoutOptions & { bucketElements: number },
): BucketedLayout {
  return groupedLayout(params, bucketize(params, opts.bucketElements), opts);
}

/**
 * Like bucketedLayout, with the groups given (e.g. one per module for stage 3). Every parameter must be in exactly
 * one group; groups keep their order, parameters their order within a group.
 */
export function groupedLayout(
  params: readonly ParamShape[],
  groups: readonly (readonly number[])[],
  opts: LayoutOptions,
): BucketedLayout {
  const locate: [number, number][] = new Array(params.length);
  let flatOffset = 0;
  let shardOffset = 0;
  const buckets = groups.map((g, b) => {
    const inner = flatLayout(
      g.map((i) => {
        if (!(i >= 0 && i < params.length))
          throw new ShapeError(`partition: group ${b} names parameter ${i}, outside [0, ${params.length})`);
        return params[i];
      }),
      opts,
    );
    const layout: FlatLayout = Object.freeze({
      ...inner,
      entries: Object.freeze(
        inner.entries.map((e, j) => {
          if (locate[g[j]] !== undefined)
            throw new ShapeError(`partition: parameter ${params[g[j]].name} is in two groups`);
          locate[g[j]] = [b, j];
          return Object.freeze({ ...e, index: g[j] });
        }),
      ),
    });
    const out = Object.freeze({ layout, flatOffset, shardOffset });
    flatOffset += layout.padded;
    shardOffset += layout.chunk;
    return out;
  });
  for (let i = 0; i < params.length; i++) {
    if (locate[i] === undefined) throw new ShapeError(`partition: parameter ${params[i].name} is in no group`);
  }
  return Object.freeze({
    worldSize: opts.worldSize,
    buckets: Object.freeze(buckets),
    padded: flatOffset,
    shardNumel: shardOffset,
    locate: Object.freeze(locate),
  });
}

/** The intersection of every parameter with the flat range [start, end) (as shardSlices, shardStart relative to start). */
export function rangeSlices(layout: FlatLayout, start: number, end: number): ShardSlice[] {
  const out: ShardSlice[] = [];
  layout.entries.forEach((e, entry) => {
    const s = Math.max(start, e.offset);
    const t = Math.min(end, e.offset + e.numel);
    if (s < t)
      out.push({ entry, name: e.name, paramStart: s - e.offset, length: t - s, flatStart: s, shardStart: s - start });
  });
  return out;
}
