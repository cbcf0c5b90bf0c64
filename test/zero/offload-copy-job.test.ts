// The host threads' copy jobs (the memcpy bound of `zerots bench offload`, [Note: offload bench bound]): each of the
// three copy methods, in fixed parts and in claimed chunks, on 2 threads, moves exactly the bytes asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostMemory } from '../../src/tensor/host.js';
import { HostThreads } from '../../src/zero/offload/host-threads.js';
import { C, CHUNK_BYTES, COPY_METHOD, H, HEADER_WORDS } from '../../src/zero/offload/adam-job.js';
import { xorshift32 } from '../helpers/xorshift.js';

test('copy jobs: set, memcpy and wasm copies on 2 threads move exactly the bytes asked for', () => {
  const bytes = 2 * CHUNK_BYTES + 4093; // a partial last chunk, an odd length
  const host = new HostMemory({ arenaBytes: 8 << 20 });
  const other = new HostMemory({ arenaBytes: 4 << 20 });
  const [src, dst] = host.allocGroup([
    { bytes: bytes + 64, category: 'workspace' },
    { bytes: bytes + 64, category: 'workspace' },
  ]) as [ReturnType<HostMemory['alloc']>, ReturnType<HostMemory['alloc']>];
  const far = other.alloc(bytes + 64, 'workspace');
  const rnd = xorshift32(7);
  host.u8(src).forEach((_, i, a) => (a[i] = rnd() & 255));
  const pool = new HostThreads(2);
  try {
    const srcId = pool.register(host.memoryOf(src).buffer as unknown as SharedArrayBuffer, host.memoryOf(src));
    const farId = pool.register(other.memoryOf(far).buffer as unknown as SharedArrayBuffer, other.memoryOf(far));
    for (const [name, method] of Object.entries(COPY_METHOD))
      for (const chunked of [0, 1]) {
        const [id, to, view] = method === COPY_METHOD.memcpy ? [farId, far, other.u8(far)] : [srcId, dst, host.u8(dst)];
        view.fill(0);
        const job = pool.jobBuffer(0);
        job.fill(0, 0, HEADER_WORDS);
        job[H.Kind] = 1;
        job[C.Src] = srcId;
        job[C.SrcOff] = src.ptr + 3; // unaligned on both sides
        job[C.Dst] = id;
        job[C.DstOff] = to.ptr + 5;
        job[C.Chunked] = chunked;
        job[C.Method] = method;
        job[H.Total] = bytes;
        pool.run();
        const want = host.u8(src).subarray(3, 3 + bytes);
        assert.deepEqual(view.subarray(5, 5 + bytes), want, `${name} chunked=${chunked}`);
        assert.equal(view[4], 0, `${name} chunked=${chunked}: byte before the range untouched`);
        assert.equal(view[5 + bytes], 0, `${name} chunked=${chunked}: byte after the range untouched`);
      }
  } finally {
    pool.close();
  }
});
