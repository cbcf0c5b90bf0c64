// Offloaded optimizer state (ZeRO-Offload "cpu", ZeRO-Infinity "nvme"): the fp32 master and the optimizer's state
// for this rank's partition, in sub-groups held by a SubGroupStore (resident in host arenas, or swapped to files),
// stepped on the host by all the threads of HostThreads. The device keeps only the 16-bit (or fp32) parameters and
// gradients; each sub-group's step reads its gradients from the device and writes the updated parameters back in
// the same pass ([Note: blocked offload step] in adam-job.ts), so results equal the device step's bit for bit.
import { CheckpointError, ShapeError } from '../../errors.js';
import { adamKernelArgs, type Optimizer, type ParamShard } from '../../optim/index.js';
import { f32ToHalfArray as f32ToHalf, halfToF32Array } from '../../tensor/dtype.js';
import { BLOCK, HEADER_WORDS, H, R, ROW_WORDS, TYPE_CODE } from './adam-job.js';
import { copyBackPieces } from './copy-back-pieces.js';
import { HostThreads } from './host-threads.js';
import type { SubGroup } from './sub-groups.js';
import type { SubGroupSlot, SubGroupStore } from './sub-group-store.js';
import type { PreparedUpdate, SegmentSource, SegmentTarget } from '../optimizer-state.js';
import { segmentSumSquares, type OffloadAccounting, type OptimizerStatePart } from '../optimizer-part.js';
import { segment, segmentOffset, segmentsNumel, type ZeroPlan } from '../plan.js';
import { readView } from '../host-flat.js';

export interface OffloadedStateOptions {
  /** threads of the host step (the caller's included) */
  threads: number;
  noDecay?: (name: string, shape: readonly number[]) => boolean;
}

export class OffloadedOptimizerState implements OptimizerStatePart, OffloadAccounting {
  readonly numel: number;
  readonly stateKeys: readonly string[];
  private readonly pool: HostThreads;

  constructor(
    private readonly plan: ZeroPlan,
    private readonly optimizer: Optimizer,
    target: SegmentTarget,
    private readonly store: SubGroupStore,
    private readonly o: OffloadedStateOptions,
  ) {
    this.numel = segmentsNumel(plan);
    this.stateKeys = optimizer.stateKeys;
    const backend = store.groups.length > 0 ? store.acquire(0).view.kernels.backend : 'wasm';
    this.pool = new HostThreads(o.threads, backend === 'js' ? 'js' : 'wasm');
    try {
      // the master starts as the model's (possibly 16-bit) values, the state as zeros (a fresh store's)
      for (const g of store.groups) {
        const s = store.acquire(g.index);
        const master = s.view.f32(s.base, g.end - g.start);
        this.overlaps(g, (b, segFrom, sgFrom, len) => {
          const { buf, offset } = target.segmentParam(b);
          const src = readView(buf, offset + segFrom, len);
          master.set(src instanceof Float32Array ? src : halfToF32Array(src, plan.dtype as 'bf16'), sgFrom);
        });
        store.release(g.index, true);
      }
      store.finish();
    } catch (e) {
      this.pool.close();
      throw e;
    }
  }

  get bytes(): number {
    return (1 + this.stateKeys.length) * this.numel * 4;
  }

  get hostBytes(): number {
    return this.store.hostBytes;
  }

  get diskBytes(): number {
    return this.store.diskBytes;
  }

  get subGroups(): number {
    return this.store.groups.length;
  }

  get threads(): number {
    return this.pool.threads;
  }

  localSumSquaresByBucket(grads: SegmentSource): number[] {
    return segmentSumSquares(this.plan, grads);
  }

  prepare(grads: SegmentSource, target: SegmentTarget): PreparedUpdate {
    let applied = false;
    return {
      apply: (gradScale: number) => {
        if (applied) throw new Error('PreparedUpdate.apply called twice');
        applied = true;
        const t = this.optimizer.advance();
        for (const g of this.store.groups) {
          const s = this.store.acquire(g.index);
          // a streamed parameter shard (offload_param nvme) takes the sub-group's 16-bit copy-back piece by piece
          for (const piece of copyBackPieces(g, target)) {
            piece.open();
            this.stepGroup(piece.group, s, grads, target, t, gradScale);
            piece.close();
          }
          this.store.release(g.index, true);
        }
        this.store.finish();
      },
      release: () => {},
    };
  }

  readSegment(which: string, b: number, target: SegmentTarget): Float32Array {
    void target;
    const out = new Float32Array(segment(this.plan, b).end - segment(this.plan, b).start);
    this.walkSegment(which, b, false, (view, at) => out.set(view, at));
    return out;
  }

  writeSegment(which: string, b: number, target: SegmentTarget, data: Float32Array): void {
    void target;
    const len = segment(this.plan, b).end - segment(this.plan, b).start;
    if (data.length !== len)
      throw new ShapeError(`writeSegment: ${data.length} values for bucket ${b}'s segment of ${len} elements`);
    this.walkSegment(which, b, true, (view, at) => view.set(data.subarray(at, at + view.length)));
  }

  writeParamsFromMaster(target: SegmentTarget): void {
    for (const g of this.store.groups) {
      const s = this.store.acquire(g.index);
      this.overlaps(g, (b, segFrom, sgFrom, len) => {
        const { buf, offset } = target.segmentParam(b);
        const dst = buf.comm(offset + segFrom, len);
        const src = s.view.f32(s.base + sgFrom * 4, len);
        if (dst instanceof Float32Array) dst.set(src);
        else f32ToHalf(src, this.plan.dtype as 'bf16', dst);
      });
      this.store.release(g.index, false);
    }
  }

  /** Bucket b's segment of buffer `which`, sub-group by sub-group: fn(view in host memory, offset in the segment). */
  private walkSegment(which: string, b: number, dirty: boolean, fn: (view: Float32Array, at: number) => void): void {
    const q = which === 'param' ? 0 : this.stateKeys.indexOf(which) + 1;
    if (q <= 0 && which !== 'param')
      throw new CheckpointError(
        `the ${this.optimizer.type} optimizer has no state "${which}": it keeps ${['param', ...this.stateKeys].join(', ')}`,
      );
    const len = segment(this.plan, b).end - segment(this.plan, b).start;
    const so = segmentOffset(this.plan, b);
    for (const g of this.store.groups) {
      const from = Math.max(so, g.start);
      const to = Math.min(so + len, g.end);
      if (from >= to) continue;
      const s = this.store.acquire(g.index);
      fn(s.view.f32(s.base + (q * s.stride + from - g.start) * 4, to - from), from - so);
      this.store.release(g.index, dirty);
    }
    if (dirty) this.store.finish();
  }

  dispose(): void {
    this.pool.close();
    this.store.dispose();
  }

  /** Bucket segments overlapping sub-group g: fn(bucket, start in segment, start in sub-group, length). */
  private overlaps(g: SubGroup, fn: (b: number, segFrom: number, sgFrom: number, len: number) => void): void {
    this.plan.layout.buckets.forEach((_, b) => {
      const so = segmentOffset(this.plan, b);
      const len = segment(this.plan, b).end - segment(this.plan, b).start;
      const from = Math.max(so, g.start);
      const to = Math.min(so + len, g.end);
      if (from < to) fn(b, from - so, from - g.start, to - from);
    });
  }

  private decay(param: number): number | undefined {
    return this.o.noDecay?.(this.plan.names[param]!, this.plan.shapes[param]!) ? 0 : undefined;
  }

  private stepGroup(g: SubGroup, s: SubGroupSlot, grads: SegmentSource, target: SegmentTarget, t: number, gs: number) {
    const adam = adamKernelArgs(this.optimizer, t);
    if (adam === null) return this.stepGeneric(g, s, grads, target, t, gs);
    const pool = this.pool;
    const job = pool.jobBuffer(g.runs.length);
    const arena = pool.register(s.view.memory.buffer as SharedArrayBuffer, s.view.memory);
    job.set([0, arena, s.base, s.stride, s.tmp, g.runs.length, adam.lr, adam.beta1, adam.beta2, adam.eps], 0);
    job.set([adam.decoupled ? 1 : 0, adam.bc1, adam.bc2, gs], H.Decoupled);
    let total = 0;
    const type = TYPE_CODE[this.plan.dtype];
    g.runs.forEach((r, i) => {
      const gv = grads.segmentGrad(r.bucket);
      const pv = target.segmentParam(r.bucket);
      const gView = gv.buf.comm(gv.offset + r.segmentStart, r.length);
      const pView = pv.buf.comm(pv.offset + r.segmentStart, r.length);
      const row = HEADER_WORDS + i * ROW_WORDS;
      job[row + R.N] = r.length;
      job[row + R.Offset] = r.offset;
      job[row + R.Grad] = pool.register(gView.buffer as SharedArrayBuffer);
      job[row + R.GradOff] = gView.byteOffset;
      job[row + R.GradType] = type;
      job[row + R.Out] = pool.register(pView.buffer as SharedArrayBuffer);
      job[row + R.OutOff] = pView.byteOffset;
      job[row + R.OutType] = type;
      job[row + R.Wd] = this.decay(r.param) ?? adam.weightDecay;
      total += r.length;
    });
    job[H.Total] = total;
    pool.run();
  }

  /** Any other optimizer (SGD): its own updateShard on the calling thread, block by block. */
  private stepGeneric(
    g: SubGroup,
    s: SubGroupSlot,
    grads: SegmentSource,
    target: SegmentTarget,
    t: number,
    gs: number,
  ) {
    const tmp = s.view.f32(s.tmp, BLOCK);
    for (const r of g.runs) {
      const gv = grads.segmentGrad(r.bucket);
      const pv = target.segmentParam(r.bucket);
      for (let j = 0; j < r.length; j += BLOCK) {
        const len = Math.min(BLOCK, r.length - j);
        const src = gv.buf.comm(gv.offset + r.segmentStart + j, len);
        tmp.set(src instanceof Float32Array ? src : halfToF32Array(src, this.plan.dtype as 'bf16'));
        const p = s.base + (r.offset + j) * 4;
        const shard: ParamShard = {
          name: `${this.plan.names[r.param]}[${r.paramStart + j}:${r.paramStart + j + len}]`,
          memory: s.view,
          n: len,
          param: p,
          grad: s.tmp,
          state: Object.fromEntries(this.stateKeys.map((k, q) => [k, p + (q + 1) * s.stride * 4])),
          ...(this.decay(r.param) === 0 ? { weightDecay: 0 } : {}),
        };
        this.optimizer.updateShard(shard, t, { gradScale: gs });
        const dst = pv.buf.comm(pv.offset + r.segmentStart + j, len);
        const master = s.view.f32(p, len);
        if (dst instanceof Float32Array) dst.set(master);
        else f32ToHalf(master, this.plan.dtype as 'bf16', dst);
      }
    }
  }
}
