// Which GEMM backend a thread uses when the caller asks for 'auto': OpenBLAS when it loads, else wasm, with the
// reason kept for a one-line message. The setting comes from the launch layer (ZEROTS_BLAS, ZEROTS_BLAS_THREADS are
// read in src/launch/native-env.ts: kernels never read the environment) or from a CLI flag.
import { type OpenBlas, loadOpenBlas } from './openblas.js';

/** 'auto' (default): use OpenBLAS when it loads; 'off': never; any other string: the library file to load. */
export type BlasSetting = 'auto' | 'off' | (string & {});

let setting: BlasSetting = 'auto';
let threadsWanted: number | undefined;

export function setBlasSetting(s: BlasSetting, threads?: number): void {
  setting = s;
  if (threads !== undefined) threadsWanted = threads;
  if (threadsWanted !== undefined && s !== 'off') {
    const b = loadOpenBlas(s === 'auto' ? undefined : s);
    if (b.ok) b.value.setThreads(threadsWanted);
  }
}

export function blasSetting(): BlasSetting {
  return setting;
}

export type BlasStatus = { ok: true; blas: OpenBlas } | { ok: false; reason: string };

/** The library for the current setting, or why there is none (ZEROTS_BLAS=off counts as a reason). */
export function blasStatus(): BlasStatus {
  if (setting === 'off') return { ok: false, reason: 'ZEROTS_BLAS=off' };
  const b = loadOpenBlas(setting === 'auto' ? undefined : setting);
  return b.ok ? { ok: true, blas: b.value } : b;
}

/** One line for headers: which GEMM runs and why. */
export function describeGemmBackend(): string {
  const s = blasStatus();
  if (s.ok) return `kernels: blas (${s.blas.config.split(' ').slice(0, 2).join(' ')} matrix products) + wasm`;
  return `kernels: wasm (no native BLAS: ${s.reason})`;
}
