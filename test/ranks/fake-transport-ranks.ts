// Rank programs for test/comm/fake-transport.test.ts (run on worker threads by fakeWorld).
import { Device } from '../../src/tensor/device.js';
import { f32ToBf16Array, bf16ToF32Array } from '../../src/tensor/dtype.js';
import type { FakeRankContext } from '../helpers/fake-world.js';

export async function collectives(ctx: FakeRankContext): Promise<Record<string, number[]>> {
  const device = new Device({ capacityBytes: 4 << 20, kernels: 'js', name: `rank${ctx.rank}` });
  const g = await ctx.initProcessGroup(device.memory);
  const N = ctx.worldSize;
  const a = device.alloc(4 * 4 * N, 'comm');
  const x = device.f32(a.ptr, 2 * N);
  for (let i = 0; i < x.length; i++) x[i] = (ctx.rank + 1) * 10 + i;
  g.allReduce(x, 'sum');
  const allReduce = [...x];
  for (let i = 0; i < x.length; i++) x[i] = (ctx.rank + 1) * 10 + i;
  const out = device.f32(a.ptr + 8 * N * 4 - 8, 2);
  g.reduceScatter(out, x, 'avg');
  const reduceScatter = [...out];
  const mine = device.f32(a.ptr + ctx.rank * 8, 2); // in-place all-gather: input is chunk r of output
  mine[0] = ctx.rank;
  mine[1] = -ctx.rank;
  g.allGather(device.f32(a.ptr, 2 * N), mine);
  const allGather = [...device.f32(a.ptr, 2 * N)];
  const h = device.alloc(2 * N, 'comm');
  const u = device.u16(h.ptr, N);
  f32ToBf16Array(
    Float32Array.from({ length: N }, (_, i) => 1 + ctx.rank / 256 + i),
    u,
  );
  g.allReduce(u, 'sum', 'bf16');
  const bf16 = [...bf16ToF32Array(u)];
  g.barrier();
  return { allReduce, reduceScatter, allGather, bf16, bytes: [g.log.totalBytesSent()] };
}

export async function mismatch(ctx: FakeRankContext): Promise<void> {
  const device = new Device({ capacityBytes: 4 << 20, kernels: 'js' });
  const g = await ctx.initProcessGroup(device.memory);
  const a = device.alloc(64, 'comm');
  if (ctx.rank === 0) g.allReduce(device.f32(a.ptr, 4));
  else g.allReduce(device.f32(a.ptr, 8));
}
