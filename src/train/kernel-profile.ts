// Per-kernel wall time of everything a device runs, for `bench train` and for telling the kernel layer where
// training time goes. Installs a timing wrapper as the device's kernels and restores the original on uninstall.
// [Note: kernel override] Device exposes `kernels` as a readonly field and has no setter; instrumentation (this
// profiler, the 2-thread GEMM of bench train) redefines the property on the one instance, for a bounded scope.
import type { Device } from '../tensor/device.js';
import type { Kernels } from '../kernels/types.js';

export interface KernelTime {
  /** Kernel name; matmuls also carry their transposes and M x N x K. */
  key: string;
  calls: number;
  ms: number;
  /** GFLOP/s for matmuls (2 M N K per call). */
  gflops?: number;
}

/** Replaces `device.kernels` with `k` until the returned function is called. */
export function overrideKernels(device: Device, k: Kernels): () => void {
  const original = device.kernels;
  Object.defineProperty(device, 'kernels', { value: k, configurable: true, writable: false });
  return () => Object.defineProperty(device, 'kernels', { value: original, configurable: true, writable: false });
}

export class KernelProfile {
  private readonly table = new Map<string, { calls: number; ms: number; flop: number }>();
  private readonly restore: () => void;

  /**
   * @param clock 'wall' (performance.now) or 'cpu' (process CPU time: on a shared machine it leaves out the time
   * other processes held the core, but counts every thread of this process, so use it for one-thread runs).
   */
  constructor(device: Device, clock: 'wall' | 'cpu' = 'wall') {
    const inner = device.kernels;
    const now =
      clock === 'wall'
        ? () => performance.now()
        : () => {
            const u = process.cpuUsage();
            return (u.user + u.system) / 1000;
          };
    const table = this.table;
    const wrapped = new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          let key = String(prop);
          let flop = 0;
          if (prop === 'matmul') {
            const [, , , M, N, K, tA, tB] = args as number[];
            key = `matmul ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K}`;
            flop = 2 * M * N * K;
          }
          const t0 = now();
          const r = (v as (...a: unknown[]) => unknown).apply(target, args);
          const e = table.get(key) ?? { calls: 0, ms: 0, flop: 0 };
          e.calls++;
          e.ms += now() - t0;
          e.flop += flop;
          table.set(key, e);
          return r;
        };
      },
    });
    this.restore = overrideKernels(device, wrapped);
  }

  reset(): void {
    this.table.clear();
  }

  /** Entries by time, largest first. */
  report(): KernelTime[] {
    return [...this.table.entries()]
      .map(([key, e]) => ({ key, calls: e.calls, ms: e.ms, ...(e.flop > 0 ? { gflops: e.flop / (e.ms * 1e6) } : {}) }))
      .sort((a, b) => b.ms - a.ms);
  }

  uninstall(): void {
    this.restore();
  }
}
