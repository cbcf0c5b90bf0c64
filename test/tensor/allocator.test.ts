// FreeListAllocator properties against a plain model of live intervals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FreeListAllocator, MEMORY_CATEGORIES } from '../../src/tensor/allocator.js';
import type { Allocation, MemoryCategory } from '../../src/tensor/allocator.js';
import { DeviceOutOfMemoryError, StateError } from '../../src/errors.js';
import { xorshift32 } from '../helpers/xorshift.js';

function rng(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 2 ** 32;
}

test('random alloc/free: aligned, in range, disjoint, accounted, peak is the running maximum', () => {
  const base = 65536;
  const end = base + 4 * 2 ** 20;
  const A = new FreeListAllocator(base, end, 'test');
  const rand = rng(42);
  const live: Allocation[] = [];
  const model: Record<MemoryCategory, { inUse: number; peak: number }> = Object.fromEntries(
    MEMORY_CATEGORIES.map((c) => [c, { inUse: 0, peak: 0 }]),
  ) as never;
  let total = 0;
  let peak = 0;
  let ooms = 0;
  for (let step = 0; step < 5000; step++) {
    if (live.length > 0 && rand() < 0.45) {
      const i = Math.floor(rand() * live.length);
      const a = live.splice(i, 1)[0]!;
      A.free(a);
      model[a.category].inUse -= a.bytes;
      total -= a.bytes;
    } else {
      // mostly small, sometimes large, sometimes zero or odd sizes
      const r = rand();
      const bytes = r < 0.05 ? 0 : r < 0.9 ? Math.floor(rand() * 5000) + 1 : Math.floor(rand() * 800_000);
      const cat = MEMORY_CATEGORIES[Math.floor(rand() * MEMORY_CATEGORIES.length)]!;
      let a: Allocation;
      try {
        a = A.alloc(bytes, cat, `t${step}`);
      } catch (e) {
        assert.ok(e instanceof DeviceOutOfMemoryError);
        ooms++;
        continue;
      }
      assert.equal(a.ptr % 64, 0, 'aligned');
      assert.ok(a.ptr >= base && a.ptr + bytes <= end, 'in range');
      assert.equal(a.bytes, bytes);
      live.push(a);
      model[cat].inUse += bytes;
      model[cat].peak = Math.max(model[cat].peak, model[cat].inUse);
      total += bytes;
      peak = Math.max(peak, total);
    }
    if (step % 50 === 0) {
      // no overlap: sort live blocks by ptr; each (64-rounded, at least 64) block ends before the next starts
      const sorted = [...live].sort((x, y) => x.ptr - y.ptr);
      for (let i = 1; i < sorted.length; i++) {
        const prev = sorted[i - 1]!;
        assert.ok(prev.ptr + Math.max(64, Math.ceil(prev.bytes / 64) * 64) <= sorted[i]!.ptr, 'disjoint');
      }
      const s = A.stats();
      assert.equal(s.inUseBytes, total);
      assert.equal(s.peakBytes, peak);
      for (const c of MEMORY_CATEGORIES) assert.deepEqual(s.byCategory[c], model[c], c);
    }
  }
  assert.ok(ooms > 0 && ooms < 2000, `some but not all requests hit capacity (${ooms})`);
  for (const a of live) A.free(a);
  // coalescing: everything free again is one block spanning the whole range
  assert.equal(A.freeBlockCount, 1);
  assert.equal(A.largestFreeBlock, A.capacityBytes);
  assert.equal(A.stats().inUseBytes, 0);
  assert.equal(A.liveCount, 0);
});

test('reuse and coalescing of neighbours', () => {
  const A = new FreeListAllocator(0, 64 * 10, 'small');
  const a = A.alloc(64, 'param');
  const b = A.alloc(100, 'param'); // 128 reserved
  const c = A.alloc(64, 'grad');
  assert.deepEqual([a.ptr, b.ptr, c.ptr], [0, 64, 192]);
  A.free(b);
  const b2 = A.alloc(128, 'grad');
  assert.equal(b2.ptr, 64, 'a freed block is reused');
  A.free(a);
  A.free(b2); // joins a's block: [0, 192) free
  assert.equal(A.freeBlockCount, 2); // [0,192) and [256, 640)
  const big = A.alloc(192, 'other');
  assert.equal(big.ptr, 0, 'coalesced block serves a request larger than either piece');
  A.free(c); // joins neither: big is live before it; after it the tail is free -> joins the tail
  assert.equal(A.freeBlockCount, 1);
  A.free(big);
  assert.equal(A.freeBlockCount, 1);
  assert.equal(A.largestFreeBlock, 640);
  // best fit: with holes of 128 and 256, a 100-byte request takes the 128 hole
  const x = A.alloc(128, 'other');
  const y = A.alloc(64, 'other');
  const z = A.alloc(256, 'other');
  const w = A.alloc(64, 'other');
  A.free(x);
  A.free(z);
  assert.equal(A.alloc(100, 'other').ptr, x.ptr);
  void y;
  void w;
});

test('out-of-memory message names the request, the capacity and use per category', () => {
  const A = new FreeListAllocator(65536, 65536 + (1 << 20), 'device "rank3"');
  A.alloc(600_000, 'param', 'wte');
  A.alloc(300_000, 'optimizer', 'adam m');
  let err: unknown;
  try {
    A.alloc(200_000, 'activation', 'attn scores');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof DeviceOutOfMemoryError);
  assert.equal(err.requestedBytes, 200_000);
  assert.equal(err.capacityBytes, A.capacityBytes);
  assert.equal(err.inUseByCategory.param, 600_000);
  assert.equal(err.inUseByCategory.optimizer, 300_000);
  const m = err.message;
  for (const s of [
    'rank3',
    'out of memory',
    '200000 B',
    'activation',
    'attn scores',
    `${A.capacityBytes} B`,
    'param',
    '600000 B',
    'optimizer',
    '300000 B',
  ]) {
    assert.ok(m.includes(s), `message mentions ${s}: ${m}`);
  }
});

test('double free and foreign allocations are StateErrors', () => {
  const A = new FreeListAllocator(0, 4096, 'A');
  const B = new FreeListAllocator(0, 4096, 'B');
  const a = A.alloc(10, 'other');
  const b = B.alloc(10, 'other'); // same ptr as a, other allocator
  assert.equal(a.ptr, b.ptr);
  assert.throws(() => A.free(b), StateError);
  A.free(a);
  assert.throws(
    () => A.free(a),
    (e: unknown) => e instanceof StateError && /double free/.test((e as Error).message),
  );
  assert.throws(() => A.free({ ptr: 999, bytes: 1, category: 'other' }), StateError);
  assert.throws(() => A.alloc(-1, 'other'), RangeError);
  assert.throws(() => A.alloc(1, 'bogus' as MemoryCategory), /unknown memory category/);
});

test('leak check: repeated allocate/free cycles return to the same level and layout', () => {
  const A = new FreeListAllocator(0, 1 << 20, 'leak');
  const keep = A.alloc(1000, 'param');
  const before = A.stats();
  const blocksBefore = A.freeBlockCount;
  const rand = rng(7);
  for (let cycle = 0; cycle < 50; cycle++) {
    const xs: Allocation[] = [];
    for (let i = 0; i < 40; i++) xs.push(A.alloc(Math.floor(rand() * 10000), 'activation'));
    // free in a shuffled order
    xs.sort(() => rand() - 0.5);
    for (const x of xs) A.free(x);
    assert.equal(A.stats().inUseBytes, before.inUseBytes);
    assert.equal(A.freeBlockCount, blocksBefore);
  }
  A.free(keep);
  assert.equal(A.stats().inUseBytes, 0);
  assert.equal(A.stats().byCategory.activation.inUse, 0);
  assert.ok(A.stats().byCategory.activation.peak > 0);
  A.resetPeak();
  assert.equal(A.stats().peakBytes, 0);
  assert.equal(A.stats().byCategory.activation.peak, 0);
});
