// `zerots bench comm --transport mpi`: the comm benchmark's rank side (bench-comm.ts) on the MPI transport, inside
// one mpirun job, next to Open MPI's own MPI_Allreduce timed from C in the same job on the same kind of buffer
// (tools/mpi-allreduce-ref.c, built with mpicc into a temporary shared library and loaded through koffi).
// Started by hand (`mpirun -np 2 zerots bench comm --transport mpi`) every rank runs it; started without mpirun it
// starts mpirun itself with --world-size ranks. Rank 0 prints; the last line is one JSON record.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLibMpi } from '../comm/mpi/libmpi.js';
import { initFromEnv, startedByMpiLauncher } from '../launch/index.js';
import { loadKoffi, openLibrary } from '../native/ffi.js';
import { benchCommRank, memcpyGbps } from './bench-comm.js';
import { runUnderMpirun } from './mpirun.js';

const MiB = 1 << 20;
const SIZES = [1 * MiB, 16 * MiB, 128 * MiB];
const REF_SOURCE = fileURLToPath(new URL('../../../tools/mpi-allreduce-ref.c', import.meta.url));

/** Builds the C reference with mpicc; null with the reason printed when mpicc or the source is missing. */
function buildReference(): string | null {
  if (!existsSync(REF_SOURCE)) return null;
  const out = join(mkdtempSync(join(tmpdir(), 'zerots-mpiref-')), 'libzerots-mpiref.so');
  const r = spawnSync('mpicc', ['-O2', '-shared', '-fPIC', '-o', out, REF_SOURCE], { encoding: 'utf8' });
  return r.status === 0 ? out : null;
}

export async function benchCommMpi(o: { worldSize: number; tinyIterations?: number }): Promise<void> {
  if (!startedByMpiLauncher()) {
    // Not under mpirun: start the job (same command, every rank), as `zerots launch` would.
    const ref = buildReference();
    try {
      runUnderMpirun('bench comm', o.worldSize, ['bench', 'comm', '--transport', 'mpi'], { ZEROTS_MPI_REF: ref ?? '' });
    } finally {
      // the job has ended (mpirun runs synchronously): the built reference is scratch
      if (ref !== null) rmSync(dirname(ref), { recursive: true, force: true });
    }
    return;
  }
  process.env.ZEROTS_TRANSPORT ??= 'mpi';
  const ctx = initFromEnv();
  const N = ctx.worldSize;
  const print = (l: string): void => {
    if (ctx.rank === 0) console.log(l);
  };
  const memcpy = memcpyGbps();
  const ours = await benchCommRank(ctx, { sizes: SIZES, tinyIterations: o.tinyIterations ?? 20000 });
  // The C reference, in the same job on a wasm memory of the same size.
  const refPath = process.env.ZEROTS_MPI_REF || buildReference(); // started by hand: each rank builds its own
  let ref: { seconds: number; tinyUs: number } | null = null;
  const lib = refPath ? openLibrary([refPath]) : null;
  if (lib?.ok && loadKoffi().ok) {
    const big = Math.floor(SIZES[SIZES.length - 1]! / 4 / N) * N;
    const WA = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => { buffer: SharedArrayBuffer } } })
      .WebAssembly;
    const pages = Math.ceil((big * 4 + 65536) / 65536);
    const mem = new WA.Memory({ initial: pages, maximum: pages, shared: true });
    const buf = new Float32Array(mem.buffer, 65536, big).fill(ctx.rank + 1);
    const allreduce = lib.value.lib.func('double zerots_ref_allreduce(float *buf, int count, int reps)');
    const tiny = lib.value.lib.func('double zerots_ref_tiny(float *buf, int iters)');
    ref = { seconds: Number(allreduce(buf, big, 5)), tinyUs: Number(tiny(buf, o.tinyIterations ?? 20000)) };
  } else print('no C reference: mpicc (apt-get install libopenmpi-dev) or tools/mpi-allreduce-ref.c is missing');
  const mpi = loadLibMpi();
  const version = mpi.ok ? mpi.value.version : 'unknown';
  const i = SIZES.length - 1;
  const payload = (b: number): number => Math.floor(b / 4 / N) * N * 4;
  print(`comm bench: transport mpi (${version}), world size ${N}, memcpy ${memcpy.toFixed(2)} GB/s`);
  for (const op of ['all_reduce', 'reduce_scatter', 'all_gather'] as const)
    SIZES.forEach((b, k) => {
      const s = ours.seconds[op][k]!;
      print(
        `${op.padEnd(15)} ${`${b / MiB} MiB`.padStart(8)}  ${(s * 1e3).toFixed(2).padStart(8)} ms  ` +
          `algbw ${(payload(b) / s / 1e9).toFixed(2)} GB/s`,
      );
    });
  const algbw = payload(SIZES[i]!) / ours.seconds.all_reduce[i]! / 1e9;
  const refAlg = ref ? payload(SIZES[i]!) / ref.seconds / 1e9 : null;
  print(
    `all_reduce 128 MiB: zerots ${algbw.toFixed(2)} GB/s, Open MPI from C ${refAlg?.toFixed(2) ?? '-'} GB/s; ` +
      `1 float: zerots ${ours.tinyUs.toFixed(2)} us, C ${ref?.tinyUs.toFixed(2) ?? '-'} us`,
  );
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  print(
    JSON.stringify({
      bench: 'comm',
      transport: 'mpi',
      backend: version,
      world_size: N,
      op: 'all_reduce',
      bytes: SIZES[i],
      algbw_gbps: r3(algbw),
      memcpy_gbps: r3(memcpy),
      ratio: r3(algbw / memcpy),
      tiny_latency_us: r3(ours.tinyUs),
      mpi_c_algbw_gbps: refAlg === null ? null : r3(refAlg),
      ratio_vs_mpi_c: refAlg === null ? null : r3(algbw / refAlg),
      mpi_c_tiny_latency_us: ref ? r3(ref.tinyUs) : null,
    }),
  );
}
