// The worker side of fake-world.ts: joins the real ProcessGroup over the fake transport with the rank's memory,
// runs the test function.
import type { WasmMemory } from '../../src/kernels/wasm-api.js';
import { parentPort, workerData } from 'node:worker_threads';
import { fakeProcessGroup } from './fake-transport.js';
import type { FakeRankContext } from './fake-world.js';

const { rank, worldSize, control, module, fn, args } = workerData as {
  rank: number;
  worldSize: number;
  control: SharedArrayBuffer;
  module: string;
  fn: string;
  args: unknown;
};
const port = parentPort!;

const ctx: FakeRankContext = {
  rank,
  worldSize,
  initProcessGroup(memory: WasmMemory, opts?: { timeoutMs?: number }) {
    return new Promise((resolve) => {
      port.once('message', (m: { memories: WasmMemory[] }) =>
        resolve(
          fakeProcessGroup(
            rank,
            worldSize,
            m.memories.map((x, r) => (r === rank ? memory : x)),
            control,
            opts,
          ),
        ),
      );
      port.postMessage({ kind: 'join', memory });
    });
  },
};

try {
  const mod = (await import(module)) as Record<string, (c: FakeRankContext, a: unknown) => unknown>;
  if (typeof mod[fn] !== 'function') throw new Error(`${module} has no export ${fn}`);
  const result = await mod[fn](ctx, args);
  port.postMessage({ kind: 'result', result });
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  port.postMessage({ kind: 'error', error: { name: err.name, message: err.message, stack: err.stack } });
}
