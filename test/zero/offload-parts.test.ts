// The offload parts alone: sub-group planning covers every element once and respects the arena cap; nvme_path
// checks refuse a missing path, a file, an unwritable directory and too little space (bytes needed and available);
// host memory that cannot hold the state names what did not fit and what to change; a failed swap write names the
// file; the host threads' AdamW equals the device kernel bit for bit on uneven sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceOutOfMemoryError, OffloadError } from '../../src/errors.js';
import { HostMemory } from '../../src/tensor/host.js';
import { bucketize, groupedLayout } from '../../src/zero/partition.js';
import type { ZeroPlan } from '../../src/zero/plan.js';
import { planSubGroups, subGroupElements } from '../../src/zero/offload/sub-groups.js';
import { checkNvmePath } from '../../src/zero/offload/nvme-path.js';
import { ResidentStore } from '../../src/zero/offload/sub-group-store.js';
import { SwapIO } from '../../src/zero/offload/swap-io.js';
import { HostThreads } from '../../src/zero/offload/host-threads.js';
import { HEADER_WORDS, TYPE_CODE } from '../../src/zero/offload/adam-job.js';
import { xorshift32 } from '../helpers/xorshift.js';

function fakePlan(numels: number[], bucket: number, rank: number, worldSize: number): ZeroPlan {
  const shapes = numels.map((n, i) => ({ name: `p${i}`, numel: n }));
  const layout = groupedLayout(shapes, bucketize(shapes, bucket), { worldSize });
  return {
    layout,
    group: { rank, worldSize },
    partitioned: true,
    dtype: 'f32',
    names: shapes.map((s) => s.name),
    shapes: numels.map((n) => [n]),
  } as unknown as ZeroPlan;
}

test('sub-groups: every element of every slice in exactly one run; at most the requested size, 16-aligned', () => {
  assert.equal(subGroupElements(0, 1000), 992, '0: as large as an arena allows');
  assert.equal(subGroupElements(1e9, 5000), 4992, 'capped by the arena');
  assert.equal(subGroupElements(100, 5000), 112, 'rounded up to 16 elements');
  for (const [rank, worldSize] of [
    [0, 1],
    [1, 3],
  ]) {
    const plan = fakePlan([7, 130, 1, 64, 301, 5], 200, rank, worldSize);
    const groups = planSubGroups(plan, 48);
    const total = plan.layout.shardNumel;
    assert.equal(groups.at(-1)!.end, total);
    const seen = new Map<string, number>();
    for (const g of groups) {
      assert.ok(g.end - g.start <= 48);
      for (const r of g.runs) {
        assert.ok(r.offset >= 0 && r.offset + r.length <= g.end - g.start, 'run inside its sub-group');
        for (let e = 0; e < r.length; e++) {
          const key = `${r.param}:${r.paramStart + e}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
      }
    }
    const owned = plan.layout.buckets.reduce(
      (a, bk) =>
        a +
        bk.layout.entries.reduce((s, e) => {
          const lo = Math.max(e.offset, rank * bk.layout.chunk);
          const hi = Math.min(e.offset + e.numel, (rank + 1) * bk.layout.chunk);
          return s + Math.max(0, hi - lo);
        }, 0),
      0,
    );
    assert.equal(seen.size, owned, 'every owned element covered');
    assert.ok(
      [...seen.values()].every((c) => c === 1),
      'and only once',
    );
  }
});

test('nvme_path: missing, a file, unwritable, too small: OffloadError before anything is allocated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-nvme-check-'));
  try {
    const refuses = (path: string, need: number, hint: RegExp) =>
      assert.throws(
        () => checkNvmePath(path, need),
        (e: unknown) => e instanceof OffloadError && e.path === path && hint.test(e.message),
      );
    refuses(join(dir, 'missing'), 1, /does not exist/);
    writeFileSync(join(dir, 'file'), 'x');
    refuses(join(dir, 'file'), 1, /not a directory/);
    refuses(dir, 2 ** 60, new RegExp(`need .*\\(${2 ** 60} B\\).* has .* free`));
    checkNvmePath(dir, 1024);
    const ro = join(dir, 'read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    if (process.getuid?.() === 0)
      console.log('# skipped the unwritable case: running as root, every directory is writable');
    else refuses(ro, 1, /not writable/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host memory too small for the offloaded state: the error says what did not fit and what to change', () => {
  const host = new HostMemory({ arenaBytes: 4 << 20, capacityBytes: 8 << 20, name: 'host0' });
  const groups = Array.from({ length: 4 }, (_, k) => ({
    index: k,
    start: k * 2 ** 18,
    end: (k + 1) * 2 ** 18,
    runs: [],
  }));
  assert.throws(
    () => new ResidentStore(host, groups, 3, 1),
    (e: unknown) =>
      e instanceof OffloadError &&
      /optimizer sub-group \d of 4/.test(e.message) &&
      /nvme/.test(e.message) &&
      /sub_group_size/.test(e.message) &&
      /more ranks/i.test(e.message) &&
      e.cause instanceof DeviceOutOfMemoryError,
  );
  assert.equal(host.memoryStats().inUseBytes, 0, 'what was allocated is freed again');
});

test('a failed swap write is an OffloadError naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-swap-fail-'));
  const io = new SwapIO(1);
  try {
    const path = join(dir, 'subgroup0.swp');
    writeFileSync(path, '');
    const fd = openSync(path, 'r'); // not open for writing: the write fails
    const mem = new Uint8Array(new SharedArrayBuffer(4096));
    const t = io.submit('write', fd, path, mem, 0);
    assert.throws(
      () => io.wait(t),
      (e: unknown) => e instanceof OffloadError && e.path === path && e.message.includes(path),
    );
    closeSync(fd);
  } finally {
    io.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('swap I/O: aio.block_size splits a transfer into calls of at most that many bytes, bit for bit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-swap-block-'));
  const io = new SwapIO(3, 4096);
  try {
    const path = join(dir, 'blocks.swp');
    const fd = openSync(path, 'w+');
    const n = 3 * 4096 + 100;
    const src = new Uint8Array(new SharedArrayBuffer(n));
    for (let i = 0; i < n; i++) src[i] = (i * 31 + 7) & 0xff;
    io.wait(io.submit('write', fd, path, src, 0));
    assert.equal(io.calls, 4, 'three whole blocks and the rest');
    const dst = new Uint8Array(new SharedArrayBuffer(n));
    io.wait(io.submit('read', fd, path, dst.subarray(1, n), 1));
    assert.equal(io.calls, 8);
    assert.deepEqual(dst.subarray(1), src.subarray(1));
    closeSync(fd);
  } finally {
    io.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('host threads: AdamW over blocks, threads and odd offsets equals one device-style kernel call bit for bit', () => {
  const host = new HostMemory({ arenaBytes: 8 << 20 });
  const n = 3 * 4096 + 37;
  const [st, tmp, dev] = host.allocGroup([
    { bytes: 3 * n * 4, category: 'optimizer' },
    { bytes: 3 * 32768, category: 'workspace' },
    { bytes: 6 * n * 2 + 12 * n, category: 'other' },
  ]) as [ReturnType<HostMemory['alloc']>, ReturnType<HostMemory['alloc']>, ReturnType<HostMemory['alloc']>];
  const rnd = xorshift32(5);
  const k = host.kernelsOf(st);
  // reference buffers: p, g(f32), m, v, then bf16 grads and the bf16 output
  const ref = dev.ptr;
  const g16 = ref + 4 * n * 4;
  const o16 = g16 + n * 2;
  const f = host.arenaView(st).f32;
  for (let i = 0; i < n; i++) f(ref + i * 4, 1)[0] = rnd() - 0.5;
  new Uint16Array(host.memoryOf(st).buffer, g16, n).forEach((_, i, a) => {
    a[i] = 0x3c00 + ((i * 7919) % 997) - 500;
  });
  f(st.ptr, n).set(f(ref, n));
  k.castFromHalf(ref + n * 4, g16, n, 'bf16', false);
  k.adamw(
    ref,
    ref + n * 4,
    ref + 2 * n * 4,
    ref + 3 * n * 4,
    n,
    1e-3,
    0.9,
    0.95,
    1e-8,
    0.1,
    true,
    0.19,
    0.0975,
    0.5,
    0,
    'bf16',
  );
  k.castToHalf(o16, ref, n, 'bf16');
  const pool = new HostThreads(3);
  try {
    const id = pool.register(host.memoryOf(st).buffer as SharedArrayBuffer, host.memoryOf(st));
    const job = pool.jobBuffer(2);
    const out = o16 + n * 2;
    const cut = 5001; // two runs, the second starting at an odd element
    job.set([0, id, st.ptr, n, tmp.ptr, 2, 1e-3, 0.9, 0.95, 1e-8, 1, 0.19, 0.0975, 0.5, n], 0);
    job.set([cut, 0, id, g16, TYPE_CODE.bf16, id, out, TYPE_CODE.bf16, 0.1], HEADER_WORDS);
    job.set(
      [n - cut, cut, id, g16 + cut * 2, TYPE_CODE.bf16, id, out + cut * 2, TYPE_CODE.bf16, 0.1],
      HEADER_WORDS + 10,
    );
    pool.run();
    assert.deepEqual(f(st.ptr, 3 * n), new Float32Array([...f(ref, n), ...f(ref + 2 * n * 4, 2 * n)]));
    const u16 = (p: number) => new Uint16Array(host.memoryOf(st).buffer, p, n);
    assert.deepEqual(u16(out), u16(o16), 'the bf16 copy too');
  } finally {
    pool.close();
  }
});
