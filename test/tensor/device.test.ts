// Device, Tensor and HostMemory: capacity, reserved region, accounting, views, leak checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device, RESERVED_BYTES } from '../../src/tensor/device.js';
import { HostMemory } from '../../src/tensor/host.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { ConfigError, DeviceOutOfMemoryError, ShapeError, StateError } from '../../src/errors.js';

const MiB = 2 ** 20;

test('device: fixed shared memory, reserved first 64 KiB, kernel workspace accounted', () => {
  const d = new Device({ capacityBytes: 4 * MiB, kernels: 'js', name: 'rank0' });
  assert.equal(d.capacityBytes, 4 * MiB);
  assert.equal(d.memory.buffer.byteLength, 4 * MiB);
  assert.ok(d.memory.buffer instanceof SharedArrayBuffer, 'shared so peers can read it');
  assert.throws(() => d.memory.grow(1), 'maximum = initial: the memory never grows');
  assert.equal(d.kernels.backend, 'js');
  const s = d.memoryStats();
  assert.equal(s.capacityBytes, 4 * MiB);
  assert.equal(s.byCategory.workspace.inUse, d.kernelScratch.bytes);
  assert.ok(d.kernelScratch.ptr >= RESERVED_BYTES);
  const a = d.alloc(1000, 'param', 'w');
  assert.ok(a.ptr >= RESERVED_BYTES && a.ptr % 64 === 0);
  assert.equal(d.memoryStats().byCategory.param.inUse, 1000);
  d.free(a);
  assert.throws(() => d.free(a), StateError);
  const other = new Device({ capacityBytes: 4 * MiB, kernels: 'js' });
  assert.throws(() => other.free(d.kernelScratch), StateError, 'foreign allocation');
});

test('device: capacity is validated with key, value and what is allowed', () => {
  for (const bad of [5 * 2 ** 30, -1, 1.5, 1000]) {
    assert.throws(
      () => new Device({ capacityBytes: bad, kernels: 'js' }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.path, 'capacityBytes');
        assert.ok(
          e.message.includes(String(bad)) && e.message.includes('4294967296') && /4 GiB/.test(e.message),
          e.message,
        );
        return true;
      },
    );
  }
  assert.throws(() => new Device({ kernels: 'cuda' as never }), ConfigError);
  // not a multiple of a page: rounded up
  assert.equal(new Device({ capacityBytes: 4 * MiB + 1, kernels: 'js' }).capacityBytes, 4 * MiB + 65536);
});

test('device: out of memory reports capacity and use per category; the device stays usable', () => {
  const d = new Device({ capacityBytes: 4 * MiB, kernels: 'js', name: 'rank1' });
  const p = Tensor.empty(d, [256, 1024], { category: 'param', label: 'h.0.mlp.c_fc.weight' }); // 1 MiB
  assert.throws(
    () => Tensor.empty(d, [1024, 1024], { category: 'activation', label: 'logits' }),
    (e: unknown) => {
      assert.ok(e instanceof DeviceOutOfMemoryError);
      assert.equal(e.requestedBytes, 4 * MiB);
      assert.equal(e.capacityBytes, d.allocatableBytes);
      assert.equal(e.inUseByCategory.param, MiB);
      assert.ok(/rank1/.test(e.message) && /logits/.test(e.message) && /param 1\.00 MiB/.test(e.message), e.message);
      return true;
    },
  );
  p.dispose();
  const q = Tensor.empty(d, [256, 1024], { category: 'activation' });
  assert.equal(q.ptr, p.ptr, 'the freed block serves the next request');
  q.dispose();
});

test('tensor: create, read, convert, view, dispose', () => {
  const d = new Device({ capacityBytes: 4 * MiB, kernels: 'js' });
  const base = d.memoryStats().inUseBytes;
  const t = Tensor.fromArray(d, [1, 2, 3, 4, 5, 6], [2, 3], { category: 'param', label: 'x' });
  assert.deepEqual(t.shape, [2, 3]);
  assert.equal(t.numel, 6);
  assert.equal(t.bytes, 24);
  assert.ok(t.owning);
  assert.deepEqual([...t.f32()], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => t.u16(), StateError);
  assert.throws(() => t.i32(), StateError);
  const v = Tensor.view(d, t.ptr + 12, [3]);
  assert.ok(!v.owning);
  assert.deepEqual([...v.f32()], [4, 5, 6]);
  v.f32()[0] = 40; // a live view writes through
  assert.equal(t.f32()[3], 40);
  v.dispose(); // no-op for views
  assert.deepEqual([...v.f32()], [40, 5, 6]);
  const r = t.reshape([3, 2]);
  assert.deepEqual(r.shape, [3, 2]);
  assert.throws(() => t.reshape([4]), ShapeError);

  const h = Tensor.fromArray(d, [1, 1 + 2 ** -11, 65504, 1e6], [4], { dtype: 'f16' });
  assert.equal(h.bytes, 8);
  assert.deepEqual([...h.toFloat32()], [1, 1, 65504, Infinity]);
  const b = Tensor.fromArray(d, [1, Math.PI, -1e30], [3], { dtype: 'bf16' });
  assert.deepEqual([...b.toFloat32()], [1, 3.140625, -(202 / 128) * 2 ** 99]);
  assert.throws(() => b.f32(), StateError);
  const i = Tensor.fromArray(d, [7, -3], [2], { dtype: 'i32' });
  assert.deepEqual([...i.i32()], [7, -3]);
  assert.deepEqual([...i.toFloat32()], [7, -3]);
  const z = Tensor.zeros(d, [5], { dtype: 'bf16' });
  assert.deepEqual([...z.u16()], [0, 0, 0, 0, 0]);

  assert.throws(() => Tensor.fromArray(d, [1, 2], [3]), ShapeError);
  assert.throws(() => Tensor.empty(d, [2, -1]), ShapeError);
  assert.throws(() => Tensor.view(d, 2, [1]), ShapeError, 'misaligned f32 view');
  assert.throws(() => Tensor.view(d, d.capacityBytes - 4, [2]), ShapeError, 'view past capacity');

  for (const x of [t, h, b, i, z]) x.dispose();
  t.dispose(); // idempotent
  assert.throws(
    () => t.f32(),
    (e: unknown) => e instanceof StateError && /disposed/.test((e as Error).message),
  );
  assert.equal(d.memoryStats().inUseBytes, base, 'everything freed');
});

test('tensor: leak check over allocate/dispose cycles', () => {
  const d = new Device({ capacityBytes: 4 * MiB, kernels: 'js' });
  const before = d.memoryStats();
  for (let c = 0; c < 100; c++) {
    const ts = [
      Tensor.zeros(d, [c + 1, 17]),
      Tensor.empty(d, [3, c], { dtype: 'bf16', category: 'activation' }),
      Tensor.empty(d, [0]),
    ];
    for (const t of ts.reverse()) t.dispose();
  }
  const after = d.memoryStats();
  assert.equal(after.inUseBytes, before.inUseBytes);
  assert.deepEqual(
    Object.fromEntries(Object.entries(after.byCategory).map(([k, v]) => [k, v.inUse])),
    Object.fromEntries(Object.entries(before.byCategory).map(([k, v]) => [k, v.inUse])),
  );
  assert.equal(d.liveAllocations().length, 1, 'only the kernel workspace remains');
});

test('host memory: arenas, accounting, dedicated arena for big requests, kernels per arena, capacity', () => {
  const h = new HostMemory({ arenaBytes: 4 * MiB, capacityBytes: 16 * MiB, kernels: 'js', name: 'host0' });
  const m = h.alloc(MiB, 'optimizer', 'adam m');
  const v = h.alloc(MiB, 'optimizer', 'adam v'); // does not fit beside m (workspace + reserved): a second arena
  assert.equal(h.arenaCount, 2);
  assert.notEqual(m.arena, v.arena);
  const big = h.alloc(3 * MiB, 'param', 'master'); // larger than an arena: a dedicated one
  assert.equal(h.arenaCount, 3);
  assert.ok(h.arenaTotalBytes <= 16 * MiB);
  const s = h.memoryStats();
  assert.equal(s.byCategory.optimizer.inUse, 2 * MiB);
  assert.equal(s.byCategory.param.inUse, 3 * MiB);
  assert.throws(
    () => h.alloc(4 * MiB, 'grad', 'g'),
    (e: unknown) =>
      e instanceof DeviceOutOfMemoryError &&
      /host0/.test((e as Error).message) &&
      /optimizer 2\.00 MiB/.test((e as Error).message),
  );
  // views and kernels on the arena memory
  const mv = h.f32(m);
  mv.fill(2);
  const k = h.kernelsOf(m);
  k.scale(m.ptr, 0.5, mv.length);
  assert.equal(mv[123], 1);
  assert.ok(h.memoryOf(m).buffer instanceof SharedArrayBuffer);
  h.free(big);
  assert.throws(() => h.free(big), StateError);
  assert.throws(() => h.f32(big), StateError);
  h.free(v);
  h.free(m);
  assert.equal(h.memoryStats().inUseBytes, 0);
  assert.equal(h.memoryStats().byCategory.optimizer.peak, 2 * MiB);
  assert.equal(h.trim(), 3);
  assert.equal(h.arenaCount, 0);
});
