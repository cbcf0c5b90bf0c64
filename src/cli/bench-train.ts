// `zerots bench train`: tokens/s of one rank training GPT (6 layers, d 384, 6 heads, context 256, batch 8,
// vocab 256; forward + backward + AdamW, wasm kernels) against PyTorch (/usr/bin/python3) on the same model and
// batch in the same run. Each side runs with 1 and with 2 threads and reports its faster. Like bench gemm:
// 1-thread runs are timed in process CPU time (on a shared machine that leaves out time other processes held the
// core), 2-thread runs in wall time; each configuration keeps its best step. Our 2-thread run splits every GEMM
// over two threads (kernels/parallel-gemm); the other kernels stay on the rank's thread.
// Prints a per-kernel profile of our fastest configuration, then the JSON line
// {"bench":"train","tokens_per_s":..,"torch_tokens_per_s":..,"ratio":..}.
import { type EngineBackends, engineLine } from '../zero/backends.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Device } from '../tensor/device.js';
import { GPT, gptNoDecay, type GPTConfig } from '../nn/gpt.js';
import { localProcessGroup } from '../comm/local.js';
import { initialize } from '../zero/engine.js';
import { KernelProfile, overrideKernels } from '../train/kernel-profile.js';
import { TORCH_TRAIN_BENCH } from '../train/torch-reference.js';
import { blasStatus, kernelScratchBytes } from '../kernels/index.js';
import { CTRL_BYTES, ParallelGemm } from '../kernels/parallel-gemm.js';
import { loadCorpus } from '../data/corpus.js';
import { ConfigError } from '../errors.js';
import { savedAttentionKernels } from './saved-attention.js';

export interface BenchTrainOptions {
  /** Timed steps per configuration (default 2; one untimed warm-up step comes first). */
  steps?: number;
  /** Thread counts to try (default [1, 2]). */
  threads?: (1 | 2)[];
  /** Model and batch (default the benchmark's GPT). */
  model?: Omit<GPTConfig, 'seed'>;
  batchSize?: number;
  /** Skip the PyTorch side. */
  noTorch?: boolean;
  /**
   * A directory holding OpenBLAS's libblas.so.3 for the PyTorch child (prepended to LD_LIBRARY_PATH). Default: the
   * Debian OpenBLAS directories when present. [Note: PyTorch's BLAS] Debian's torch links libblas.so.3, which is
   * the slow netlib reference unless an optimised BLAS is installed; the reference must be PyTorch at its fastest,
   * so the child gets OpenBLAS when it can, and the JSON says which BLAS it used.
   */
  torchBlasDir?: string;
  /**
   * Also time our side with the attention kernel that saved the T x T probabilities (saved-attention.ts), in the
   * same run, and report fused / saved tokens per second.
   */
  attentionReference?: boolean;
  log?: (line: string) => void;
}

export const BENCH_MODEL: Omit<GPTConfig, 'seed'> = { vocabSize: 256, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 };
export const BENCH_BATCH = 8;

interface SideResult {
  threads: number;
  stepS: number;
  tokensPerS: number;
  blas?: string | null;
}

const OPENBLAS_DIRS = [
  '/usr/lib/x86_64-linux-gnu/openblas-pthread',
  '/usr/lib/x86_64-linux-gnu/openblas-openmp',
  '/usr/lib/aarch64-linux-gnu/openblas-pthread',
];

function findBlasDir(given: string | undefined): string | null {
  if (given !== undefined) {
    if (!existsSync(join(given, 'libblas.so.3')))
      throw new ConfigError(`bench train: ${given} has no libblas.so.3`, 'torchBlasDir');
    return given;
  }
  return OPENBLAS_DIRS.find((d) => existsSync(join(d, 'libblas.so.3'))) ?? null;
}

async function measureOurs(
  threads: 1 | 2,
  model: Omit<GPTConfig, 'seed'>,
  B: number,
  steps: number,
  profile: boolean,
  savedAttention = false,
): Promise<SideResult & { profile: ReturnType<KernelProfile['report']>; backend: string; engine: EngineBackends }> {
  const T = model.blockSize;
  const device = new Device({ capacityBytes: 2 ** 31, name: 'bench' });
  const gpt = new GPT(device, { ...model, seed: 1 }, { materialize: false });
  // One rank trains as every rank does: the engine at stage 0 over the local group (no clipping, a constant lr).
  const engine = initialize({
    model: gpt,
    config: {
      train_micro_batch_size_per_gpu: B,
      optimizer: { type: 'AdamW', params: { lr: 1e-4, betas: [0.9, 0.95], eps: 1e-8, weight_decay: 0.1 } },
      zero_optimization: { stage: 0 },
    },
    group: localProcessGroup(device.memory),
    device,
    noDecay: gptNoDecay,
  });
  const corpus = loadCorpus();
  const data = Int32Array.from(corpus.subarray(0, B * (T + 1)));
  const idx = { B, T, data: data.filter((_, i) => i % (T + 1) !== T) };
  const tgt = { B, T, data: data.filter((_, i) => i % (T + 1) !== 0) };
  const saved = savedAttention ? savedAttentionKernels(device, device.kernels) : null;
  const unsave = saved === null ? () => {} : overrideKernels(device, saved.kernels);
  let restore = (): void => {};
  let pg: ParallelGemm | null = null;
  const native = device.kernels.backend === 'blas' ? blasStatus() : null; // [native blas]
  if (native?.ok)
    native.blas.setThreads(threads); // OpenBLAS splits the products itself
  else if (threads === 2) {
    const scratch = device.alloc(kernelScratchBytes(), 'workspace', 'gemm thread 1 scratch');
    const ctrl = device.alloc(CTRL_BYTES, 'workspace', 'gemm control');
    pg = await ParallelGemm.start(device.memory, [device.kernelScratch.ptr, scratch.ptr], ctrl.ptr);
    const inner = device.kernels;
    const gemm = pg;
    restore = overrideKernels(
      device,
      new Proxy(inner, {
        get: (t, prop) =>
          prop === 'matmul'
            ? gemm.matmul.bind(gemm)
            : ((v) => (typeof v === 'function' ? v.bind(t) : v))(Reflect.get(t, prop)),
      }),
    );
  }
  const step = (): void => {
    engine.forward(idx, tgt);
    engine.backward();
    engine.step();
  };
  const clock =
    threads === 1
      ? () => {
          const u = process.cpuUsage();
          return (u.user + u.system) / 1e6;
        }
      : () => performance.now() / 1000;
  step();
  const prof = profile ? new KernelProfile(device, threads === 1 ? 'cpu' : 'wall') : null;
  let best = Infinity;
  for (let s = 0; s < steps; s++) {
    prof?.reset();
    const t0 = clock();
    step();
    best = Math.min(best, clock() - t0);
  }
  // [native blas] the wasm products over 2 threads are ParallelGemm's, which the engine does not know of
  const backends = { ...engine.backends, gemmThreads: pg === null ? engine.backends.gemmThreads : 2 };
  const report = prof?.report() ?? [];
  prof?.uninstall();
  restore();
  await pg?.close();
  unsave();
  saved?.dispose();
  engine.dispose();
  const backend = device.kernels.backend;
  return { threads, stepS: best, tokensPerS: (B * T) / best, profile: report, backend, engine: backends };
}

function measureTorch(
  threads: 1 | 2,
  model: Omit<GPTConfig, 'seed'>,
  B: number,
  steps: number,
  blasDir: string | null,
): SideResult | null {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
  };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (blasDir !== null) env.LD_LIBRARY_PATH = [blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const r = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      TORCH_TRAIN_BENCH,
      JSON.stringify({ ...model, B }),
      String(steps),
      String(threads),
      threads === 1 ? 'cpu' : 'wall',
    ],
    { env, encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0 || !r.stdout) return null;
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    torch: string | null;
    step_s: number;
    tokens_per_s: number;
    blas: string | null;
  };
  return j.torch === null ? null : { threads, stepS: j.step_s, tokensPerS: j.tokens_per_s, blas: j.blas };
}

export async function benchTrain(
  opts: BenchTrainOptions = {},
): Promise<{ tokens_per_s: number; torch_tokens_per_s: number | null; ratio: number | null }> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const steps = opts.steps ?? 2;
  if (!(Number.isSafeInteger(steps) && steps >= 1))
    throw new ConfigError(`bench train: steps = ${steps} must be a positive integer`, 'steps');
  const threadList = opts.threads ?? [1, 2];
  const model = opts.model ?? BENCH_MODEL;
  const B = opts.batchSize ?? BENCH_BATCH;
  log(
    `bench train: GPT ${model.nLayer} layers, d ${model.nEmbd}, ${model.nHead} heads, context ${model.blockSize}, ` +
      `batch ${B}, vocab ${model.vocabSize}; ` +
      'forward + backward + AdamW (the ZeRO engine at stage 0, one rank); ' +
      `best of ${steps} timed steps; 1 thread in CPU time, 2 threads in wall time`,
  );
  const blasDir = opts.noTorch ? null : findBlasDir(opts.torchBlasDir);
  const ours: Awaited<ReturnType<typeof measureOurs>>[] = [];
  const torch: SideResult[] = [];
  for (const th of threadList) {
    const o = await measureOurs(th, model, B, steps, true);
    ours.push(o);
    log(
      `zerots  ${th} thread(s), ${o.stepS.toFixed(2)} s/step, ${Math.round(o.tokensPerS)} tokens/s; ${engineLine(o.engine)}`,
    );
    if (!opts.noTorch) {
      const t = measureTorch(th, model, B, steps, blasDir);
      if (t !== null) torch.push(t);
      log(
        t === null
          ? 'pytorch: not available (/usr/bin/python3 -c "import torch" failed)'
          : `pytorch ${th} thread(s): ${t.stepS.toFixed(2)} s/step, ${Math.round(t.tokensPerS)} tokens/s (BLAS ${t.blas ?? 'unknown'})`,
      );
      if (t !== null && !/openblas|mkl/i.test(t.blas ?? ''))
        log(
          '  warning: PyTorch runs on a slow reference BLAS here (install libopenblas0-pthread or pass ' +
            'torchBlasDir); its figure understates PyTorch',
        );
    }
  }
  // the fused attention against the one that saved T x T probabilities, both on our side in this run: each thread
  // count alternates fused, saved, fused, saved and keeps each one's best
  let attention: { fused: number; saved: number; ratio: number } | null = null;
  if (opts.attentionReference) {
    let fused = 0;
    let savedBest = 0;
    for (let round = 0; round < 2; round++)
      for (const th of threadList) {
        fused = Math.max(fused, (await measureOurs(th, model, B, steps, false)).tokensPerS);
        savedBest = Math.max(savedBest, (await measureOurs(th, model, B, steps, false, true)).tokensPerS);
      }
    fused = Math.max(fused, ...ours.map((o) => o.tokensPerS));
    attention = {
      fused: Math.round(fused),
      saved: Math.round(savedBest),
      ratio: Number((fused / savedBest).toFixed(3)),
    };
    log(
      `attention: fused ${attention.fused} tokens/s, the kernel that saved T x T probabilities ${attention.saved} ` +
        `tokens/s (fused / saved ${attention.ratio})`,
    );
  }
  const bestOurs = ours.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a));
  const bestTorch = torch.length === 0 ? null : torch.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a));
  const total = bestOurs.profile.reduce((s, e) => s + e.ms, 0);
  log(
    `where our time goes (${bestOurs.threads} thread(s), last timed step, kernels ${total.toFixed(0)} ms ` +
      `${bestOurs.threads === 1 ? 'CPU' : 'wall'}):`,
  );
  for (const e of bestOurs.profile.slice(0, 16)) {
    log(
      `  ${e.key.padEnd(30)} ${String(e.calls).padStart(4)} calls ${e.ms.toFixed(0).padStart(7)} ms ` +
        `${((100 * e.ms) / total).toFixed(1).padStart(5)}%${e.gflops ? `  ${e.gflops.toFixed(1)} GFLOP/s` : ''}`,
    );
  }
  const result = {
    bench: 'train',
    backend: bestOurs.backend,
    engine: bestOurs.engine,
    tokens_per_s: Math.round(bestOurs.tokensPerS),
    torch_tokens_per_s: bestTorch === null ? null : Math.round(bestTorch.tokensPerS),
    ratio: bestTorch === null ? null : Number((bestOurs.tokensPerS / bestTorch.tokensPerS).toFixed(3)),
    threads: bestOurs.threads,
    torch_threads: bestTorch?.threads ?? null,
    torch_blas: bestTorch?.blas ?? null,
    ...(attention === null
      ? {}
      : {
          attention_fused_tokens_per_s: attention.fused,
          attention_saved_tokens_per_s: attention.saved,
          attention_ratio: attention.ratio,
        }),
  };
  log(JSON.stringify(result));
  return result;
}
