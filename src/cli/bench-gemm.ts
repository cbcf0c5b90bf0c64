// `zerots bench gemm`: fp32 GEMM GFLOP/s of the wasm kernels at n = 256..2048, against OpenBLAS through numpy
// measured in the same run (the reference is null when numpy is missing or does not use OpenBLAS).
// Rounds alternate ours and the reference, and each keeps its best time, so machine load hits both alike. With one
// thread both sides are timed in process CPU time (on an idle machine the same as wall time; on a shared one it
// leaves out the time other processes held the core); with two threads both use wall time.
// Ends with one JSON line for n = 1024 (or the largest n asked for when 1024 is not).
import { spawnSync } from 'node:child_process';
import { ConfigError } from '../errors.js';
import { blasStatus, kernelScratchBytes, relaxedSimdEnabled } from '../kernels/index.js';
import { createBlasKernels } from '../kernels/blas/blas-kernels.js'; // [native blas]
import { CTRL_BYTES, ParallelGemm } from '../kernels/parallel-gemm.js';
import { wasmApi } from '../kernels/wasm-api.js';

const ROUNDS = 3;
const NUMPY = `
import json, sys, time
try:
    import numpy as np
except Exception:
    print(json.dumps({"blas": None, "gflops": {}})); sys.exit(0)
sizes = json.loads(sys.argv[1]); budget = float(sys.argv[2])
clock = time.process_time if sys.argv[3] == 'cpu' else time.perf_counter
out = {}
for n in sizes:
    a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best = 1e9; t0 = time.perf_counter(); reps = 0
    while reps < 2 or (time.perf_counter() - t0 < budget and reps < 50):
        t = clock(); a @ b; best = min(best, clock() - t); reps += 1
    out[str(n)] = 2 * n ** 3 / best / 1e9
libs = [l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower() and '.so' in l]
blas = next((l for l in libs if 'libopenblas' in l), libs[0] if libs else None)
print(json.dumps({"blas": blas, "gflops": out}))
`;

interface Reference {
  blas: string | null;
  gflops: Record<string, number>;
}

function measureNumpy(sizes: number[], threads: number): Reference | null {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
  };
  // Tuning variables that this machine's environment may set and that slow OpenBLAS down: the child only.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', ['-c', NUMPY, JSON.stringify(sizes), '0.4', threads === 1 ? 'cpu' : 'wall'], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0 || !r.stdout) return null;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Reference;
}

export async function benchGemm(opts: { sizes?: number[]; threads?: 1 | 2 } = {}): Promise<void> {
  const sizes = opts.sizes ?? [256, 512, 1024, 2048];
  const threads = opts.threads ?? 1;
  if (threads !== 1 && threads !== 2)
    throw new ConfigError(`bench gemm: threads must be 1 or 2, got ${String(threads)}`, 'threads');
  for (const n of sizes)
    if (!Number.isInteger(n) || n < 1 || n > 4096)
      throw new ConfigError(`bench gemm: size ${n} must be an integer in [1, 4096]`, 'sizes');
  const nmax = Math.max(...sizes);
  const scratchBytes = Math.ceil(kernelScratchBytes() / 64) * 64;
  const bytes = 65536 + threads * scratchBytes + CTRL_BYTES * threads + 3 * nmax * nmax * 4 + 3 * 64;
  const pages = Math.ceil(bytes / 65536);
  const memory = new wasmApi.Memory({ initial: pages, maximum: pages, shared: true });
  const scratch = Array.from({ length: threads }, (_, t) => 65536 + t * scratchBytes);
  const ctrl = 65536 + threads * scratchBytes;
  const A = Math.ceil((ctrl + CTRL_BYTES * threads) / 64) * 64,
    B = A + nmax * nmax * 4 + 64,
    C = B + nmax * nmax * 4 + 64;
  const f32 = new Float32Array(memory.buffer);
  for (let i = 0; i < nmax * nmax; i++) {
    f32[(A >>> 2) + i] = Math.random() - 0.5;
    f32[(B >>> 2) + i] = Math.random() - 0.5;
  }
  // [native blas] OpenBLAS on the same memory when it loads (ZEROTS_BLAS=off or --kernels wasm: the wasm GEMM).
  const native = blasStatus();
  const backend = native.ok ? 'blas' : 'wasm';
  if (native.ok) native.blas.setThreads(threads);
  else console.log(`kernels: wasm (no native BLAS: ${native.reason})`);
  const gemm = native.ok
    ? { ...createBlasKernels(memory, scratch[0]!, native.blas), close: async (): Promise<void> => {} }
    : await ParallelGemm.start(memory, scratch, ctrl);
  const clock = threads === 1 ? cpuMs : (): number => performance.now();
  const ours = new Map<number, number>(),
    ref = new Map<number, number>();
  let blas: string | null = null;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of sizes) {
        gemm.matmul(C, A, B, n, n, n, false, false, false); // warm-up (tier-up, caches)
        let best = Infinity,
          reps = 0;
        const t0 = performance.now();
        while (reps < 2 || (performance.now() - t0 < 400 && reps < 50)) {
          const t = clock();
          gemm.matmul(C, A, B, n, n, n, false, false, false);
          best = Math.min(best, clock() - t);
          reps++;
        }
        ours.set(n, Math.max(ours.get(n) ?? 0, (2 * n ** 3) / best / 1e6));
      }
      const r = measureNumpy(sizes, threads);
      if (r?.blas && /openblas/i.test(r.blas)) {
        blas = r.blas;
        for (const n of sizes) ref.set(n, Math.max(ref.get(n) ?? 0, r.gflops[String(n)] ?? 0));
      } else if (round === 0) {
        console.log(
          r
            ? `numpy uses ${r.blas ?? 'an unknown BLAS'}, not OpenBLAS: no reference (apt-get install libopenblas0-pthread)`
            : 'numpy not available: no reference',
        );
      }
    }
  } finally {
    await gemm.close();
  }
  const what = native.ok
    ? `blas GEMM (${native.blas.config.split(' ').slice(0, 2).join(' ')} through koffi)`
    : 'wasm GEMM';
  console.log(
    `${what}, ${threads} thread(s), relaxed-SIMD FMA ${relaxedSimdEnabled() ? 'on' : 'off'}, ` +
      `${threads === 1 ? 'CPU' : 'wall'} time, best of ${ROUNDS} rounds; reference ${blas ?? 'none'}`,
  );
  console.log(`     n   ${backend} GFLOP/s   numpy OpenBLAS GFLOP/s   ratio`);
  const line = (n: number): { gflops: number; reference_gflops: number | null; ratio: number | null } => {
    const g = ours.get(n)!,
      r = ref.get(n) ?? null;
    return {
      gflops: round1(g),
      reference_gflops: r === null ? null : round1(r),
      ratio: r === null ? null : Math.round((g / r) * 1000) / 1000,
    };
  };
  for (const n of sizes) {
    const l = line(n);
    console.log(
      `${String(n).padStart(6)} ${String(l.gflops).padStart(14)} ${String(l.reference_gflops ?? '-').padStart(18)} ` +
        `${String(l.ratio ?? '-').padStart(7)}`,
    );
  }
  const last = sizes.includes(1024) ? 1024 : nmax;
  console.log(JSON.stringify({ bench: 'gemm', backend, threads, n: last, ...line(last) }));
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
