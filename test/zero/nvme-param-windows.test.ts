// The nvme parameter shard on its own: what the step writes through windows (at most buffer_count of them in host
// memory at once) and what a plain view writes are read back by a gather, asynchronously, bit for bit; a read-only
// view writes nothing back (unless comm() then writes into its window); the
// max_in_cpu prefix stays in host memory and out of the file; opening more windows than buffer_count with none
// written back is refused; after flush only the prefix is held, after dispose nothing (and no file). With one I/O
// worker (the default) and with three (aio.thread_count; jobs touching the same bytes are ordered) and 512-byte calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateError } from '../../src/errors.js';
import { HostMemory } from '../../src/tensor/host.js';
import { NvmeParamShard } from '../../src/zero/offload/nvme-param-shard.js';

const N = 1000;
const KEPT = 200;
const W = 64;
const value = (i: number) => (i * 7 + 3) & 0xffff;

for (const io of [{}, { ioThreads: 3, blockBytes: 512 }])
  test(`nvme parameter shard: windows, plain views, async gather reads, max_in_cpu prefix ${JSON.stringify(io)}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'zerots-param-windows-'));
    const host = new HostMemory({ arenaBytes: 4 << 20, kernels: 'js', name: 'host0' });
    try {
      const o = { bufferCount: 2, bufferElements: W, resident: KEPT, ...io };
      const shard = new NvmeParamShard(host, N, 'bf16', dir, 0, o);
      const [sub] = readdirSync(dir);
      assert.equal(statSync(join(dir, sub!, 'parameters-shard.swp')).size, (N - KEPT) * 2, 'the file: past the prefix');
      assert.equal(shard.diskBytes, (N - KEPT) * 2);
      host.resetPeak();
      // the step: the prefix in place, the rest window by window (each written back while the next is filled)
      (shard.comm(0, KEPT) as Uint16Array).forEach((_, i, a) => (a[i] = value(i)));
      for (let at = KEPT; at < N; at += W) {
        const n = Math.min(W, N - at);
        shard.openRange(at, n, true);
        const v = shard.comm(at, n) as Uint16Array;
        for (let i = 0; i < n; i++) v[i] = value(at + i);
        shard.closeRanges();
      }
      assert.equal(host.memoryStats().byCategory.param.peak, KEPT * 2 + 2 * W * 2, 'the prefix and two windows');
      assert.ok(shard.ioStats.writesOverlapped > 0, 'write backs queued while the next window filled');
      shard.flush();
      assert.equal(shard.hostBytes, KEPT * 2, 'after flush: the prefix only');
      // a plain view (a checkpoint's): read from the file, written back when the next range is asked for
      const plain = shard.comm(500, 10) as Uint16Array;
      assert.deepEqual(
        [...plain],
        Array.from({ length: 10 }, (_, i) => value(500 + i)),
      );
      plain.fill(9);
      shard.comm(700, 5);
      // a read-only view is given up, not written back; comm() on the same window makes it written back
      let written = shard.ioStats.written;
      assert.deepEqual(
        [...(shard.commReadOnly(500, 10) as Uint16Array)],
        new Array(10).fill(9),
        'the plain write kept',
      );
      shard.commReadOnly(600, 4);
      assert.equal(shard.ioStats.written - written, 5 * 2, 'only the comm() window (700, 5) written back');
      written = shard.ioStats.written;
      shard.commReadOnly(800, 10);
      (shard.comm(805, 1) as Uint16Array)[0] = 11;
      shard.flush();
      assert.equal(shard.ioStats.written - written, 10 * 2, 'a read-only window written to through comm() goes back');
      // gathers: asynchronous reads straight into shared memory
      const dst = new Uint16Array(new SharedArrayBuffer(N * 2));
      const reads = [0, 150, 450, 780].map((at) => shard.readAsync(at, dst.subarray(at, at + 100)));
      for (const r of reads) r.wait();
      for (const at of [0, 150, 450, 780])
        for (let i = at; i < at + 100; i++)
          assert.equal(dst[i], i >= 500 && i < 510 ? 9 : i === 805 ? 11 : value(i), `element ${i}`);
      assert.equal(shard.ioStats.readsAsync, 4);
      // more windows open than buffer_count, none written back: refused
      shard.openRange(300, W, true);
      shard.openRange(400, W, true);
      assert.throws(() => shard.openRange(600, W, true), StateError);
      shard.closeRanges();
      shard.dispose();
      assert.equal(host.memoryStats().inUseBytes, 0, 'nothing held after dispose');
      assert.deepEqual(readdirSync(dir), [], 'the swap directory removed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
