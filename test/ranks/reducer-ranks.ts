// Rank programs for grad-reducer.test.ts: feed deterministic gradient contributions through a reducer and return
// what the rank's optimizer would read.
import { Device } from '../../src/tensor/device.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { bucketedLayout } from '../../src/zero/partition.js';
import { makeGradientReducer } from '../../src/zero/grad-reducer.js';
import { PartitionedGradReducer } from '../../src/zero/grad-reducer-partitioned.js';
import { segment, type ZeroPlan } from '../../src/zero/plan.js';
import type { GradientReducerKind } from '../../src/config/policy.js';
import type { FlatDType } from '../../src/zero/flat-buffer.js';
import { halfToF32Array } from '../../src/tensor/dtype.js';
import type { FakeRankContext } from '../helpers/fake-world.js';
import type { ProcessGroup } from '../../src/comm/types.js';

export interface ReducerCase {
  kind: GradientReducerKind;
  dtype: FlatDType;
  /** communication_data_type (default: dtype) */
  commDtype?: FlatDType;
  shapes: number[][];
  bucketElements: number;
  microSteps: number;
  /** contributions per parameter per backward (2 = tied) */
  uses: number[];
  overlapComm: boolean;
}

/** The contribution k of parameter i on a rank in a micro-step: small exact binary fractions. */
export function contribution(rank: number, micro: number, i: number, k: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, e) => (((rank * 7 + micro * 5 + i * 3 + k * 11 + e) % 13) - 6) / 16);
}

export interface ReducerResult {
  segments: { start: number; values: number[] }[];
  stagingAfter: number;
  stagingBefore: number;
  gradInUse: number;
}

/** Every case on one device and group (worker start-up dominates otherwise). */
export async function reduceMany(ctx: FakeRankContext, cases: ReducerCase[]): Promise<ReducerResult[]> {
  const device = new Device({ capacityBytes: 8 << 20, kernels: 'js', name: `rank${ctx.rank}` });
  const group = await ctx.initProcessGroup(device.memory);
  return cases.map((c) => reduce(device, group, ctx, c));
}

function reduce(device: Device, group: ProcessGroup, ctx: FakeRankContext, c: ReducerCase): ReducerResult {
  const gradBase = device.memoryStats().byCategory.grad.inUse;
  const params = c.shapes.map((s, i) => ({ name: `p${i}`, numel: s.reduce((a, b) => a * b, 1) }));
  const plan: ZeroPlan = {
    device,
    group,
    dtype: c.dtype,
    ...(c.commDtype === undefined ? {} : { commDtype: c.commDtype }),
    partitioned: c.kind !== 'allreduce',
    layout: bucketedLayout(params, { worldSize: ctx.worldSize, bucketElements: c.bucketElements }),
    shapes: c.shapes,
    names: params.map((p) => p.name),
  };
  const reducer = makeGradientReducer(c.kind, plan, { overlapComm: c.overlapComm });
  let stagingAfter = 0;
  let stagingBefore = 0;
  for (let step = 0; step < 2; step++) {
    for (let micro = 0; micro < c.microSteps; micro++) {
      // backward visits parameters in reverse order, as a real backward does
      for (let i = params.length - 1; i >= 0; i--) {
        for (let k = 0; k < c.uses[i]; k++) {
          const g = Tensor.fromArray(device, contribution(ctx.rank, micro, i, k, params[i].numel), c.shapes[i], {
            category: 'workspace',
          });
          reducer.addGrad(i, g);
          g.dispose();
        }
        reducer.duringBackward?.paramReady(i);
      }
      // every parameter was ready: a reducer that reduces during backward has nothing staged any more (with
      // overlap_comm, at most the last bucket's reduction is still in flight)
      if (reducer instanceof PartitionedGradReducer) stagingBefore = Math.max(stagingBefore, reducer.stagingBytes());
      reducer.duringBackward?.afterBackward();
      if (reducer instanceof PartitionedGradReducer) stagingAfter = Math.max(stagingAfter, reducer.stagingBytes());
    }
    reducer.reduce();
    if (step === 0) reducer.zero(); // the second step checks that readiness learned in the first works
  }
  const segments = plan.layout.buckets.map((bk, b) => {
    const s = segment(plan, b);
    const { buf, offset } = reducer.segmentGrad(b);
    const raw = buf.comm(offset, s.end - s.start);
    const values = raw instanceof Float32Array ? [...raw] : [...halfToF32Array(raw, c.dtype as 'bf16')];
    return { start: bk.flatOffset + s.start, values };
  });
  const gradInUse = device.memoryStats().byCategory.grad.inUse - gradBase;
  reducer.dispose();
  return { segments, stagingAfter, stagingBefore, gradInUse };
}
