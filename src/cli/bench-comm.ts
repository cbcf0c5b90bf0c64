// `zerots bench comm`: bandwidth of all-reduce, reduce-scatter and all-gather at 1, 16 and 128 MiB, the
// single-thread memcpy ceiling measured in the same run, and the latency of a tiny all-reduce.
// algbw = payload bytes / time; busbw (nccl-tests convention) = algbw * 2(N-1)/N for all-reduce and
// algbw * (N-1)/N for reduce-scatter and all-gather (payload = the full N-chunk buffer).
// Last line: one JSON record (see BenchCommRecord). Run directly: node dist/src/cli/bench-comm.js [threads|tcp] [N]
import { pathToFileURL } from 'node:url';
import type { ProcessGroup } from '../comm/types.js';
import { spawnWorld, type RankContext } from '../launch/spawn.js';

const MiB = 1 << 20;
const DEFAULT_SIZES = [1 * MiB, 16 * MiB, 128 * MiB];
/** Reserved wasm statics (64 KiB), then the threads transport's staging scratch, then the buffers. */
const SCRATCH = { ptr: 65536, bytes: 256 * 1024 };
const DATA = SCRATCH.ptr + SCRATCH.bytes;

export interface BenchCommOptions {
  transport?: 'threads' | 'tcp';
  worldSize?: number;
  /** Printer for the human-readable lines and the JSON record (default console.log). */
  print?: (line: string) => void;
  /** Payload sizes in bytes (default 1, 16, 128 MiB); the JSON record reports the largest. */
  sizes?: number[];
  /** Timed tiny all-reduces (default 20000, after a tenth as many warm-up calls). */
  tinyIterations?: number;
}

export interface BenchCommRecord {
  bench: 'comm';
  transport: 'threads' | 'tcp';
  world_size: number;
  op: 'all_reduce';
  bytes: number;
  algbw_gbps: number;
  memcpy_gbps: number;
  ratio: number;
  tiny_latency_us: number;
}

interface RankTimes {
  /** [op][size index] seconds per call, rank 0's clock. */
  seconds: Record<'all_reduce' | 'reduce_scatter' | 'all_gather', number[]>;
  tinyUs: number;
  /** GB/s of a 64 MiB Float32Array.set on this rank while every rank copies at once (the box's shared ceiling). */
  concurrentMemcpyGbps: number;
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Calls before the timed ones. The first two or three all-reduces over a fresh 128 MiB buffer run 1.5-2.5x slower
 * than the rest on this VM, whatever ran before them (50 warm-up calls of 1 MiB do not remove it, so not only the
 * JIT); a training loop reuses its buffers, so the steady state is what we report (nccl-tests also warms up).
 */
const WARMUP_CALLS = 3;

/** Seconds per call of `f` (median of `reps` timed runs after WARMUP_CALLS untimed ones; a barrier before each). */
function time(pg: ProcessGroup, reps: number, f: () => void): number {
  for (let i = 0; i < WARMUP_CALLS; i++) f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    pg.barrier();
    const t0 = performance.now();
    f();
    t.push((performance.now() - t0) / 1000);
  }
  return medianOf(t);
}

/** The rank side (exported for spawnWorld). */
export async function benchCommRank(
  ctx: RankContext,
  args: { sizes: number[]; tinyIterations: number },
): Promise<RankTimes> {
  const N = ctx.worldSize;
  const SIZES = args.sizes;
  const maxBytes = Math.max(...SIZES);
  const pages = Math.ceil((DATA + maxBytes + N * 64) / 65536);
  const WA = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => { buffer: SharedArrayBuffer } } })
    .WebAssembly;
  const memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
  const pg = await ctx.initProcessGroup(memory, { scratch: SCRATCH, timeoutMs: 600_000 });
  const seconds: RankTimes['seconds'] = { all_reduce: [], reduce_scatter: [], all_gather: [] };
  pg.barrier();
  const concurrentMemcpyGbps = memcpyGbps();
  for (const bytes of SIZES) {
    const n = Math.floor(bytes / 4 / N) * N; // divisible by N for the chunked ops
    const full = new Float32Array(memory.buffer, DATA, n);
    full.fill(ctx.rank + 1);
    const chunk = full.subarray(ctx.rank * (n / N), (ctx.rank + 1) * (n / N));
    const reps = bytes >= 64 * MiB ? 5 : bytes >= 16 * MiB ? 9 : 31;
    seconds.all_reduce.push(time(pg, reps, () => pg.allReduce(full)));
    seconds.reduce_scatter.push(time(pg, reps, () => pg.reduceScatter(chunk, full)));
    seconds.all_gather.push(time(pg, reps, () => pg.allGather(full, chunk)));
  }
  const tiny = new Float32Array(memory.buffer, DATA, 1);
  const iters = args.tinyIterations;
  for (let i = 0; i < iters / 10; i++) pg.allReduce(tiny);
  pg.barrier();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) pg.allReduce(tiny);
  const tinyUs = ((performance.now() - t0) * 1000) / iters;
  pg.destroy();
  return { seconds, tinyUs, concurrentMemcpyGbps };
}

/** Single-thread memcpy bandwidth: Float32Array.set of 64 MiB (median of 7), GB/s. */
export function memcpyGbps(): number {
  const n = (64 * MiB) / 4;
  const a = new Float32Array(n).fill(1),
    b = new Float32Array(n);
  b.set(a);
  const t: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    b.set(a);
    t.push((performance.now() - t0) / 1000);
  }
  return (64 * MiB) / medianOf(t) / 1e9;
}

export async function benchComm(opts: BenchCommOptions = {}): Promise<BenchCommRecord> {
  const transport = opts.transport ?? 'threads';
  const N = opts.worldSize ?? 2;
  const print = opts.print ?? ((l: string) => console.log(l));
  const SIZES = [...(opts.sizes ?? DEFAULT_SIZES)].sort((a, b) => a - b);
  const before = memcpyGbps();
  const results = await spawnWorld<RankTimes>({
    worldSize: N,
    transport,
    module: new URL(import.meta.url),
    fn: 'benchCommRank',
    args: { sizes: SIZES, tinyIterations: opts.tinyIterations ?? 20000 },
  });
  // the ceiling: the better of a measurement before and one after the world ran (a shared machine is noisy)
  const memcpy = Math.max(before, memcpyGbps());
  // a collective ends on every rank at about the same time; take the slowest rank's median
  const secs = (op: keyof RankTimes['seconds'], i: number): number =>
    Math.max(...results.map((r) => r.seconds[op][i]!));
  print(
    `comm bench: transport ${transport}, world size ${N}, memcpy (Float32Array.set 64 MiB, 1 thread) ${memcpy.toFixed(2)} GB/s; ` +
      `with all ${N} ranks copying at once ${medianOf(results.map((r) => r.concurrentMemcpyGbps)).toFixed(2)} GB/s per rank`,
  );
  const factor = { all_reduce: (2 * (N - 1)) / N, reduce_scatter: (N - 1) / N, all_gather: (N - 1) / N };
  for (const op of ['all_reduce', 'reduce_scatter', 'all_gather'] as const) {
    SIZES.forEach((bytes, i) => {
      const payload = Math.floor(bytes / 4 / N) * N * 4;
      const alg = payload / secs(op, i) / 1e9;
      const size = bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / 1024} KiB`;
      print(
        `${op.padEnd(15)} ${size.padStart(8)}  ${(secs(op, i) * 1e3).toFixed(2).padStart(8)} ms  ` +
          `algbw ${alg.toFixed(2)} GB/s  busbw ${(alg * factor[op]).toFixed(2)} GB/s`,
      );
    });
  }
  const tiny = Math.max(...results.map((r) => r.tinyUs));
  print(`all_reduce of 1 float: ${tiny.toFixed(2)} us`);
  const big = SIZES.length - 1;
  const algbw = (Math.floor(SIZES[big]! / 4 / N) * N * 4) / secs('all_reduce', big) / 1e9;
  const rec: BenchCommRecord = {
    bench: 'comm',
    transport,
    world_size: N,
    op: 'all_reduce',
    bytes: SIZES[big]!,
    algbw_gbps: round(algbw),
    memcpy_gbps: round(memcpy),
    ratio: round(algbw / memcpy),
    tiny_latency_us: round(tiny),
  };
  print(JSON.stringify(rec));
  return rec;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const t = process.argv[2] === 'tcp' ? 'tcp' : 'threads';
  await benchComm({ transport: t, worldSize: process.argv[3] ? Number(process.argv[3]) : 2 });
}
