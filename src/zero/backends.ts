// [native blas] Which backends run an engine: the device's kernels (wasm, or OpenBLAS for the matrix products and
// wasm for the rest) with the GEMM threads per rank, and the process group's transport. One line of it heads
// `zerots train`, the demo and the benchmarks; their JSON records carry the object. See [Note: native backends].
import { blasStatus } from '../kernels/blas/policy.js';
import type { KernelChoice } from '../kernels/types.js';

export interface EngineBackends {
  kernels: 'blas' | 'wasm' | 'js';
  /** Threads one rank's matrix products run on (OpenBLAS's pool; 1 for the wasm and js kernels). */
  gemmThreads: number;
  transport: 'threads' | 'tcp' | 'mpi';
}

/** The backends a device with `kernels` gets: OpenBLAS's threads when its matrix products go there. */
export function engineBackends(
  kernels: EngineBackends['kernels'],
  transport: EngineBackends['transport'],
): EngineBackends {
  const s = kernels === 'blas' ? blasStatus() : null;
  return { kernels, gemmThreads: s?.ok ? s.blas.threads() : 1, transport };
}

/** "engine: blas kernels (OpenBLAS 0.3.21 matrix products, 1 thread per rank) + wasm, mpi transport". */
export function engineLine(b: EngineBackends): string {
  const threads = `${b.gemmThreads} thread${b.gemmThreads === 1 ? '' : 's'} per rank`;
  let k: string;
  if (b.kernels === 'blas') {
    const s = blasStatus();
    const lib = s.ok ? s.blas.config.split(' ').slice(0, 2).join(' ') : 'native BLAS';
    k = `blas kernels (${lib} matrix products, ${threads}) + wasm`;
  } else {
    const s = b.kernels === 'wasm' ? blasStatus() : null;
    k = `${b.kernels} kernels (${threads}${s && !s.ok ? `; no native BLAS: ${s.reason}` : ''})`;
  }
  return `engine: ${k}, ${b.transport} transport`;
}

/**
 * What a device asked for `choice` will run, before any is made (headers printed before the ranks start);
 * `blasThreads`: the OpenBLAS threads the ranks will be given (src/launch/native-env.ts blasThreadsFor).
 */
export function plannedBackends(
  choice: KernelChoice,
  transport: EngineBackends['transport'],
  blasThreads: number,
): EngineBackends {
  const kernels = choice === 'auto' ? (blasStatus().ok ? 'blas' : 'wasm') : choice;
  return { kernels, gemmThreads: kernels === 'blas' ? blasThreads : 1, transport };
}
