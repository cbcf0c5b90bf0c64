// The nvme store's swap I/O on worker threads, under stress: 37 sub-groups of uneven sizes streamed through 2 (the
// ring wraps at every step) or 3 host buffers, reads ahead and writes behind in flight, many passes that change every
// element, read-only walks in random order between them, and stray wake-ups of the I/O workers ([Note: a wake-up is
// not a job]: before the fix a worker ran its last read or write again, and a sub-group came back stale). Every
// acquire must see exactly what the last release left: the store is compared with a plain in-memory copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostMemory } from '../../src/tensor/host.js';
import { NvmeStore } from '../../src/zero/offload/nvme-store.js';
import { IO_WORDS } from '../../src/zero/offload/swap-io.js';
import type { SubGroup } from '../../src/zero/offload/sub-groups.js';
import { xorshift32 } from '../helpers/xorshift.js';

const PER = 3; // fp32 master, m, v

function strayWake(store: NvmeStore): void {
  const io = (store as unknown as { io: { ctrl: Int32Array; threads: number } }).io;
  for (let w = 0; w < io.threads; w++) Atomics.notify(io.ctrl, w * IO_WORDS);
}

for (const [buffers, pipelineRead, pipelineWrite] of [
  [2, true, true],
  [3, true, true],
  [2, false, true],
  [2, true, false],
] as const)
  test(`nvme store: ${buffers} buffers, read-ahead ${pipelineRead}, write-behind ${pipelineWrite}: acquire sees the last release`, () => {
    const rnd = xorshift32(buffers * 7 + (pipelineRead ? 1 : 0) + (pipelineWrite ? 2 : 0));
    const sizes = Array.from({ length: 37 }, () => 16 + (rnd() % 3000));
    const starts = sizes.map((_, k) => sizes.slice(0, k).reduce((a, b) => a + b, 0));
    const groups: SubGroup[] = sizes.map((n, index) => ({
      index,
      start: starts[index]!,
      end: starts[index]! + n,
      runs: [],
    }));
    const dir = mkdtempSync(join(tmpdir(), 'zerots-nvme-stress-'));
    const host = new HostMemory({ arenaBytes: 8 << 20 });
    const store = new NvmeStore(
      host,
      groups,
      PER,
      1,
      { path: dir, bufferCount: buffers, pipelineRead, pipelineWrite },
      0,
    );
    const model = sizes.map((n) => new Float32Array(PER * n));
    const check = (k: number, tag: string) => {
      const s = store.acquire(k);
      const got = s.view.f32(s.base, PER * sizes[k]!);
      const want = model[k]!;
      for (let i = 0; i < want.length; i++)
        if (!Object.is(got[i], want[i])) assert.fail(`${tag}: sub-group ${k} element ${i}: ${got[i]} for ${want[i]}`);
      return got;
    };
    try {
      for (let pass = 0; pass < 12; pass++) {
        for (let k = 0; k < groups.length; k++) {
          const got = check(k, `pass ${pass}`);
          const w = model[k]!;
          const salt = rnd() / 2 ** 32;
          for (let i = 0; i < w.length; i++) got[i] = w[i] = w[i]! * 0.5 + salt + i;
          store.release(k, true);
          if (k % 3 === 0) strayWake(store);
        }
        store.finish();
        strayWake(store);
        if (pass % 3 === 2)
          for (let r = 0; r < 10; r++) {
            const k = rnd() % groups.length;
            check(k, `pass ${pass} read-only walk`);
            store.release(k, false);
          }
      }
    } finally {
      store.dispose();
    }
    assert.deepEqual(readdirSync(dir), [], 'swap files removed at dispose');
    rmSync(dir, { recursive: true, force: true });
  });
