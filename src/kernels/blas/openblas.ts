// OpenBLAS (or any CBLAS with OpenBLAS's thread calls) through koffi: cblas_sgemm on raw addresses inside a
// rank's device memory, so the matrix products run in place with no copies. Loaded at most once per thread; the
// library's thread pool is per process (openblas_set_num_threads affects every thread).
import { type Loaded, openLibrary } from '../../native/ffi.js';

/** Where to look by default (Debian/Ubuntu: libopenblas0-pthread; Fedora; macOS Homebrew). */
export const DEFAULT_BLAS_CANDIDATES = [
  'libopenblas.so.0',
  'libopenblas.so',
  'libopenblasp.so.0',
  '/opt/homebrew/opt/openblas/lib/libopenblas.dylib',
  '/usr/local/opt/openblas/lib/libopenblas.dylib',
];

export interface OpenBlas {
  /** The file that loaded. */
  readonly path: string;
  /** openblas_get_config(), e.g. "OpenBLAS 0.3.21 ... Zen MAX_THREADS=64", or the path for another CBLAS. */
  readonly config: string;
  /** Row-major cblas_sgemm on absolute addresses: C = alpha op(A) op(B) + beta C. */
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: number,
    lda: number,
    B: number,
    ldb: number,
    beta: number,
    C: number,
    ldc: number,
  ): void;
  /** Process-wide; no-op for a CBLAS without openblas_set_num_threads. */
  setThreads(n: number): void;
  threads(): number;
}

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

const cache = new Map<string, Loaded<OpenBlas>>();

/** Loads `path` (or the default candidates); the result is cached per thread. */
export function loadOpenBlas(path?: string): Loaded<OpenBlas> {
  const key = path ?? '';
  const hit = cache.get(key);
  if (hit) return hit;
  const result = open(path);
  cache.set(key, result);
  return result;
}

function open(path: string | undefined): Loaded<OpenBlas> {
  const opened = openLibrary(path ? [path] : DEFAULT_BLAS_CANDIDATES);
  if (!opened.ok) return opened;
  const { lib } = opened.value;
  let gemm: (...a: number[]) => unknown;
  try {
    gemm = lib.func(
      'void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, intptr_t A, int lda, ' +
        'intptr_t B, int ldb, float beta, intptr_t C, int ldc)',
    ) as (...a: number[]) => unknown;
  } catch (e) {
    return { ok: false, reason: `${opened.value.path} has no cblas_sgemm (${(e as Error).message})` };
  }
  const optional = (sig: string): ((...a: number[]) => unknown) | null => {
    try {
      return lib.func(sig) as (...a: number[]) => unknown;
    } catch {
      return null;
    }
  };
  const getConfig = optional('const char *openblas_get_config()');
  const setN = optional('void openblas_set_num_threads(int n)');
  const getN = optional('int openblas_get_num_threads()');
  const blas: OpenBlas = {
    path: opened.value.path,
    config: getConfig ? String(getConfig()) : opened.value.path,
    sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
      gemm(ROW_MAJOR, tA ? TRANS : NO_TRANS, tB ? TRANS : NO_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    },
    setThreads(n) {
      if (setN) setN(Math.max(1, Math.floor(n)));
    },
    threads: () => (getN ? Number(getN()) : 1),
  };
  return { ok: true, value: blas };
}
