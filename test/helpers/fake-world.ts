// spawnWorld's shape (src/launch/spawn.ts) over the fake transport (fake-transport.ts): runs `module`'s export `fn(ctx, args)`
// on worldSize worker threads and resolves to the results in rank order; the first failure rejects and stops all.
import type { WasmMemory } from '../../src/kernels/wasm-api.js';
import { Worker } from 'node:worker_threads';
import type { ProcessGroup } from '../../src/comm/types.js';
import { controlBytes } from './fake-transport.js';

export interface FakeRankContext {
  rank: number;
  worldSize: number;
  /** opts: the threads transport's; the fake one takes timeoutMs and ignores the rest (scratch, progressThread). */
  initProcessGroup(memory: WasmMemory, opts?: { timeoutMs?: number }): Promise<ProcessGroup>;
}

export function fakeWorld<T>(opts: {
  worldSize: number;
  module: string | URL;
  fn: string;
  args?: unknown;
  timeoutMs?: number;
}): Promise<T[]> {
  const N = opts.worldSize;
  const control = new SharedArrayBuffer(controlBytes(N));
  const memories: (WasmMemory | undefined)[] = new Array(N);
  const results: T[] = new Array(N);
  let finished = 0;
  let joined = 0;
  const workers: Worker[] = [];
  return new Promise<T[]>((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const w of workers) void w.terminate();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const timer = setTimeout(
      () => fail(new Error(`fake world timed out after ${opts.timeoutMs ?? 120_000} ms`)),
      opts.timeoutMs ?? 120_000,
    );
    for (let rank = 0; rank < N; rank++) {
      const w = new Worker(new URL('./fake-worker.js', import.meta.url), {
        workerData: { rank, worldSize: N, control, module: String(opts.module), fn: opts.fn, args: opts.args },
      });
      workers.push(w);
      w.on(
        'message',
        (m: {
          kind: string;
          memory?: WasmMemory;
          result?: T;
          error?: { name: string; message: string; stack?: string };
        }) => {
          if (m.kind === 'join') {
            memories[rank] = m.memory;
            if (++joined === N) for (const x of workers) x.postMessage({ kind: 'memories', memories });
          } else if (m.kind === 'result') {
            results[rank] = m.result as T;
            if (++finished === N && !settled) {
              settled = true;
              clearTimeout(timer);
              resolve(results);
            }
          } else if (m.kind === 'error') {
            const e = new Error(`rank ${rank}: ${m.error!.name}: ${m.error!.message}`);
            e.name = m.error!.name;
            e.stack = m.error!.stack;
            fail(e);
          }
        },
      );
      w.on('error', fail);
    }
  });
}
