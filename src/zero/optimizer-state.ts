// The device placement of the optimizer state (one OptimizerStatePart; the offloaded ones are in offload/): the
// fp32 master parameters and the optimizer's state buffers (Adam m, v; SGD momentum) for this rank's segments in
// device memory. The update itself is src/optim's; this part lays out its ParamShards (one per parameter slice, so
// weight decay can be per parameter) and computes the local sum of squares for the global norm.
//
// fp32: the master IS the model's parameter storage and the gradient is read where the reducer left it (no
// copies). 16-bit: a separate fp32 master; gradients are decoded into a bucket-sized fp32 workspace piece by piece
// during the step, and the optimizer writes the rounded parameters back (out16).
import type { Optimizer, ParamShard, ShardMemory } from '../optim/index.js';
import type { Allocation } from '../tensor/device.js';
import { f32ToHalfArray, halfToF32Array } from '../tensor/dtype.js';
import { CheckpointError, ShapeError, StateError } from '../errors.js';
import { readView, type FlatStorage } from './host-flat.js';
import { segmentSumSquares, type OptimizerStatePart } from './optimizer-part.js';
import { segment, segmentOffset, segmentSlices, segmentsNumel, type ZeroPlan } from './plan.js';

export interface SegmentSource {
  segmentGrad(b: number): { readonly buf: FlatStorage; readonly offset: number };
}
export interface SegmentTarget {
  segmentParam(b: number): { readonly buf: FlatStorage; readonly offset: number };
}

/** A step laid out and checked, not yet applied (see OptimizerState.prepare). */
export interface PreparedUpdate {
  /** Phase 2: the optimizer update (the only write to parameters, master weights and state). */
  apply(gradScale: number): void;
  /** Frees the step's workspace (idempotent). */
  release(): void;
}

/** The most fp32 gradient elements a 16-bit step decodes at once (1 MiB): [Note: bucket-sized step workspace]. */
export const STEP_CHUNK_ELEMENTS = 1 << 18;

/** Elements of a 16-bit step's fp32 workspace for segments of these lengths (`total` together). */
export function stepWorkspaceElements(total: number, segmentLengths: readonly number[]): number {
  return Math.min(total, Math.max(1, ...segmentLengths), STEP_CHUNK_ELEMENTS);
}

export interface OptimizerStateOptions {
  /** Parameters (by name and shape) that get no weight decay; default none (DeepSpeed's single param group). */
  noDecay?: (name: string, shape: readonly number[]) => boolean;
}

export class OptimizerState implements OptimizerStatePart {
  readonly numel: number;
  private readonly keys: readonly string[];
  private readonly memory: ShardMemory;
  private readonly base: number; // byte address of the first buffer in `memory`
  private readonly own: Allocation;
  /** separate fp32 master (false: fp32 training on the device, the model's storage is the master) */
  private readonly separateMaster: boolean;

  constructor(
    private readonly plan: ZeroPlan,
    private readonly optimizer: Optimizer,
    target: SegmentTarget,
    private readonly o: OptimizerStateOptions,
  ) {
    this.numel = segmentsNumel(plan);
    this.keys = optimizer.stateKeys;
    this.separateMaster = plan.dtype !== 'f32';
    // [master? | state...] (the fp32 gradient workspace of a 16-bit step is transient)
    const buffers = (this.separateMaster ? 1 : 0) + this.keys.length;
    const bytes = Math.max(4, buffers * this.numel * 4);
    this.own = plan.device.alloc(bytes, 'optimizer', 'optimizer state');
    this.memory = plan.device;
    this.base = this.own.ptr;
    this.memory.f32(this.base, bytes / 4).fill(0);
    if (this.separateMaster) {
      // The master starts as the model's (possibly 16-bit) values, as DeepSpeed's fp32 copy of the half model.
      const master = this.memory.f32(this.base, this.numel);
      plan.layout.buckets.forEach((_, b) => {
        const { buf, offset } = target.segmentParam(b);
        const n = segment(plan, b).end - segment(plan, b).start;
        const src = readView(buf, offset, n);
        master.set(
          src instanceof Float32Array ? src : halfToF32Array(src, plan.dtype as 'bf16'),
          segmentOffset(plan, b),
        );
      });
    }
  }

  /** Bytes of this rank's optimizer state (master copy included when separate). */
  get bytes(): number {
    return ((this.separateMaster ? 1 : 0) + this.keys.length) * this.numel * 4;
  }

  /**
   * Sum of squares of this rank's segment gradients (as stored: loss-scaled in fp16), in f64, per bucket (so a
   * message can say which bucket held a non-finite value).
   */
  localSumSquaresByBucket(grads: SegmentSource): number[] {
    return segmentSumSquares(this.plan, grads);
  }

  /**
   * Phase 1 of a step: allocates the fp32 gradient workspace (16-bit on the device) and lays out the shards. Writes
   * no parameter, master weight or state buffer, so whatever throws here (an allocation) leaves the optimizer as it
   * was. Call release() in all cases, apply() at most once.
   * [Note: bucket-sized step workspace] a 16-bit step decodes the gradients into fp32 one piece at a time, each
   * piece at most one bucket's segment and at most STEP_CHUNK_ELEMENTS, right before the update of that piece
   * (advance once, then updateShard per piece): the workspace is min(segments, largest segment, STEP_CHUNK) fp32
   * elements, not the rank's whole partition (4 Psi under DDP), so the device holds the paper's 16 Psi plus a
   * bucket. The update is elementwise, so the pieces change no bit.
   */
  prepare(grads: SegmentSource, target: SegmentTarget): PreparedUpdate {
    const { plan } = this;
    const dev = plan.device;
    const n = this.numel;
    const masterAt = this.base;
    const stateAt = (k: number) => this.base + ((this.separateMaster ? 1 : 0) + k) * n * 4;
    const half = plan.dtype !== 'f32';
    const segLens = plan.layout.buckets.map((_, b) => segment(plan, b).end - segment(plan, b).start);
    const wsElems = stepWorkspaceElements(n, segLens);
    // fp32 gradients for the step: the reducer's buffer itself (fp32) or a transient piece-sized workspace (16-bit)
    let ws: Allocation | null = half
      ? dev.alloc(Math.max(4, 4 * wsElems), 'workspace', 'fp32 gradients for the step')
      : null;
    const release = () => {
      if (ws !== null) dev.free(ws);
      ws = null;
    };
    try {
      // pieces: [bucket, start, length) within the bucket's segment; each with its shards (grads in the workspace)
      const pieces: { b: number; start: number; len: number; shards: ParamShard[] }[] = [];
      plan.layout.buckets.forEach((bk, b) => {
        const len = segLens[b]!;
        const so = segmentOffset(plan, b);
        const g = grads.segmentGrad(b);
        const p = target.segmentParam(b);
        const step = half ? wsElems : Math.max(1, len);
        const slices = segmentSlices(plan, b);
        for (let start = 0; start < len; start += step) {
          const end = Math.min(len, start + step);
          const gradBase = half ? ws!.ptr - start * 4 : g.buf.at(g.offset);
          const shards: ParamShard[] = [];
          for (const s of slices) {
            const lo = Math.max(start, s.shardStart);
            const hi = Math.min(end, s.shardStart + s.length);
            if (hi <= lo) continue;
            const i = bk.layout.entries[s.entry].index;
            const decay = this.o.noDecay?.(plan.names[i], plan.shapes[i]) ? { weightDecay: 0 } : {};
            const from = s.paramStart + (lo - s.shardStart);
            shards.push({
              name: `${plan.names[i]}[${from}:${from + hi - lo}]`,
              memory: this.memory,
              n: hi - lo,
              param: this.separateMaster ? masterAt + (so + lo) * 4 : p.buf.at(p.offset + lo),
              grad: gradBase + lo * 4,
              state: Object.fromEntries(this.keys.map((k, q) => [k, stateAt(q) + (so + lo) * 4])),
              out16: half ? { ptr: p.buf.at(p.offset + lo), type: plan.dtype as 'bf16' } : null,
              ...decay,
            });
          }
          if (shards.length > 0) pieces.push({ b, start, len: end - start, shards });
        }
      });
      let applied = false;
      return {
        apply: (gradScale: number) => {
          if (applied) throw new StateError('PreparedUpdate.apply called twice: prepare() a new update for each step');
          applied = true;
          if (ws === null) {
            this.optimizer.step(
              pieces.flatMap((x) => x.shards),
              { gradScale },
            );
            return;
          }
          const t = this.optimizer.advance();
          for (const x of pieces) {
            const g = grads.segmentGrad(x.b);
            dev.kernels.castFromHalf(ws.ptr, g.buf.at(g.offset + x.start), x.len, plan.dtype as 'bf16', false);
            for (const s of x.shards) this.optimizer.updateShard(s, t, { gradScale });
          }
        },
        release,
      };
    } catch (e) {
      release();
      throw e;
    }
  }

  /** State keys of the optimizer ('m', 'v' or 'momentum'). */
  get stateKeys(): readonly string[] {
    return this.keys;
  }

  /** A copy of bucket b's segment: the fp32 master parameters ('param') or a state buffer. */
  readSegment(which: string, b: number, target: SegmentTarget): Float32Array {
    const seg = segment(this.plan, b);
    const len = seg.end - seg.start;
    const so = segmentOffset(this.plan, b);
    if (which === 'param') {
      if (!this.separateMaster) {
        const { buf, offset } = target.segmentParam(b);
        return (readView(buf, offset, len) as Float32Array).slice();
      }
      return this.memory.f32(this.base + so * 4, len).slice();
    }
    const q = this.keys.indexOf(which);
    if (q < 0)
      throw new CheckpointError(
        `the ${this.optimizer.type} optimizer has no state "${which}": it keeps ${['param', ...this.keys].join(', ')}`,
      );
    return this.memory.f32(this.base + ((this.separateMaster ? 1 : 0) + q) * this.numel * 4 + so * 4, len).slice();
  }

  // --- checkpoint load (issue 8): the inverse of readSegment, and the parameters rewritten from the master ---

  /** Overwrites bucket b's segment of the fp32 master ('param') or of a state buffer with `data`. */
  writeSegment(which: string, b: number, target: SegmentTarget, data: Float32Array): void {
    const seg = segment(this.plan, b);
    const len = seg.end - seg.start;
    if (data.length !== len)
      throw new ShapeError(`writeSegment: ${data.length} values for bucket ${b}'s segment of ${len} elements`);
    const so = segmentOffset(this.plan, b);
    if (which === 'param') {
      if (!this.separateMaster) {
        const { buf, offset } = target.segmentParam(b);
        (buf.comm(offset, len) as Float32Array).set(data);
      } else this.memory.f32(this.base + so * 4, len).set(data);
      return;
    }
    const q = this.keys.indexOf(which);
    if (q < 0)
      throw new CheckpointError(
        `the ${this.optimizer.type} optimizer has no state "${which}": it keeps ${['param', ...this.keys].join(', ')}`,
      );
    this.memory.f32(this.base + ((this.separateMaster ? 1 : 0) + q) * this.numel * 4 + so * 4, len).set(data);
  }

  /** The model's parameters (every segment) rewritten from the master, rounded to 16 bits where they are. */
  writeParamsFromMaster(target: SegmentTarget): void {
    if (this.separateMaster) this.copyBack(target);
  }

  dispose(): void {
    this.plan.device.free(this.own);
  }

  private copyBack(target: SegmentTarget): void {
    const master = this.memory.f32(this.base, this.numel);
    this.plan.layout.buckets.forEach((_, b) => {
      const seg = segment(this.plan, b);
      const len = seg.end - seg.start;
      const so = segmentOffset(this.plan, b);
      const { buf, offset } = target.segmentParam(b);
      const dst = buf.comm(offset, len);
      const src = master.subarray(so, so + len);
      if (dst instanceof Float32Array) dst.set(src);
      else f32ToHalfArray(src, this.plan.dtype as 'bf16', dst);
    });
  }
}
