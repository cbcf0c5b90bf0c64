// Rank functions of the TCP fault tests (tcp-faults.test.ts). Survivors catch their error and return what it
// said, so the test can check every rank, not just the root cause.
import { connect } from 'node:net';
import type { RankContext } from '../../src/launch/spawn.js';
import type { ProcessGroup } from '../../src/comm/types.js';
import { encodeHeader, encodeJsonFrame, FrameKind } from '../../src/comm/tcp/frame.js';
import { testDevice } from '../helpers/test-device.js';

export interface Seen {
  rank: number;
  name: string;
  lostRank?: number;
  op?: string;
  seq?: number;
  errRank?: number;
  ms: number;
  message: string;
  sum?: number[];
}

function caught(rank: number, e: unknown, t0: number): Seen {
  const x = e as Error & { lostRank?: number; op?: string; seq?: number; rank?: number };
  return {
    rank,
    name: x.name,
    lostRank: x.lostRank,
    op: x.op,
    seq: x.seq,
    errRank: x.rank,
    ms: Math.round(performance.now() - t0),
    message: x.message,
  };
}

async function setup(
  ctx: RankContext,
  timeoutMs = 30_000,
): Promise<{ pg: ProcessGroup; buf: Float32Array; pids: number[] }> {
  const dev = testDevice(1 << 20);
  const pg = await ctx.initProcessGroup(dev.memory, { timeoutMs });
  const all = dev.f32(ctx.worldSize);
  const mine = dev.f32(1);
  mine[0] = process.pid; // pids < 2^24 are exact in f32
  pg.allGather(all, mine);
  const buf = dev.f32(1000);
  buf.fill(ctx.rank + 1);
  return { pg, buf, pids: Array.from(all) };
}

/** rank 1 misbehaves per `mode`; the others all-reduce and report what they caught. */
export async function fault(ctx: RankContext, mode: 'kill' | 'throw' | 'timeout' | 'mismatch' | 'stop'): Promise<Seen> {
  const { pg, buf, pids } = await setup(ctx, mode === 'timeout' ? 800 : 30_000);
  if (ctx.rank === 1) {
    if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
    if (mode === 'throw') throw new Error('boom from rank 1');
    if (mode === 'stop') process.kill(process.pid, 'SIGSTOP');
    if (mode === 'timeout') await new Promise((r) => setTimeout(r, 2500));
  }
  const t0 = performance.now();
  try {
    if (mode === 'mismatch' && ctx.rank === 1) pg.allReduce(buf, 'max');
    else pg.allReduce(buf);
  } catch (e) {
    if (mode === 'stop' && ctx.rank === 0) process.kill(pids[1]!, 'SIGKILL');
    return caught(ctx.rank, e, t0);
  }
  return { rank: ctx.rank, name: 'none', ms: Math.round(performance.now() - t0), message: '' };
}

function raw(port: number, bytes: Buffer | null): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      if (bytes) s.write(bytes);
      else s.end();
    });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

/** While the job runs, strangers hit rank 0's store (garbage, oversized, forged); the job must not notice. */
export async function intruders(ctx: RankContext & { masterPort?: number }): Promise<Seen> {
  const { pg, buf } = await setup(ctx);
  if (ctx.rank === 0) {
    const port = ctx.masterPort!;
    await raw(port, Buffer.from('\x00\x01garbage that is not a frame, longer than one header'));
    await raw(port, encodeHeader({ kind: FrameKind.Hello, op: 0, dtype: 0, seq: 0, length: 0x7fffffff, offset: 0 }));
    await raw(
      port,
      encodeJsonFrame(FrameKind.Hello, {
        role: 'store',
        group: 0,
        rank: 1,
        worldSize: ctx.worldSize,
        mac: 'ab'.repeat(32),
      }),
    );
    await raw(
      port,
      encodeJsonFrame(FrameKind.Hello, { role: 'peer', group: 0, rank: 1, worldSize: ctx.worldSize, mac: '' }),
    );
  }
  pg.barrier();
  const t0 = performance.now();
  pg.allReduce(buf);
  const out: Seen = {
    rank: ctx.rank,
    name: 'none',
    ms: Math.round(performance.now() - t0),
    message: '',
    sum: [buf[0]!, buf[999]!],
  };
  pg.destroy();
  return out;
}
