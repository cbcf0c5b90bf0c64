// `zerots bench capacity`'s search (src/train/capacity.ts): the ladder grows depth, then width, with parameters
// strictly increasing; the bisection finds every boundary of a monotone outcome in at most ceil(log2(n + 1)) trials
// and hands back the boundary's two trials; out-of-memory errors thrown by a real Device and a real HostMemory are
// told apart (device, host) and nothing else passes for one. Then for real, at a tiny capacity on 2 thread ranks:
// DDP's search ends on a shape that trains and a next shape that runs out of device memory, checked again outside the
// search by training both directly (the first trains 3 steps, the second throws a real DeviceOutOfMemoryError); and
// ZeRO-3 + cpu offload at a tiny host capacity runs out of host memory, not device memory. Times never asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bisectLadder,
  CAPACITY_METHODS,
  type CapacityBase,
  capacitySpec,
  gptParams,
  oomLimit,
  searchCapacity,
  shapeLadder,
  tryShape,
} from '../../src/train/capacity.js';
import { trainWorld } from '../../src/train/world.js';
import { Device } from '../../src/tensor/device.js';
import { HostMemory } from '../../src/tensor/host.js';
import { OffloadError, StateError } from '../../src/errors.js';

const TINY = { width: 32, maxDepth: 12, widthStep: 16, maxWidth: 64, heads: 2, context: 16, vocab: 256 };

test('capacity ladder: depth 1..Lmax at d0, then width at Lmax; parameters strictly increasing', () => {
  const l = shapeLadder(TINY);
  assert.deepEqual(
    l.map((s) => [s.nLayer, s.nEmbd]),
    [...Array.from({ length: 12 }, (_, i) => [i + 1, 32]), [12, 48], [12, 64]],
  );
  for (let i = 1; i < l.length; i++) assert.ok(gptParams(l[i]!) > gptParams(l[i - 1]!));
  assert.throws(() => shapeLadder({ ...TINY, widthStep: 3 }), /multiple/);
});

test('bisectLadder finds every boundary of a monotone outcome, with its two trials', async () => {
  for (const n of [1, 2, 7, 14, 88])
    for (let k = -1; k < n; k++) {
      const r = await bisectLadder(n, async (index) => ({ index, ok: index <= k }));
      assert.equal(r.index, k, `n ${n}, boundary ${k}`);
      assert.equal(r.best?.index ?? -1, k);
      assert.equal(r.firstOom?.index ?? n, k + 1);
      assert.ok(r.trials.length <= Math.ceil(Math.log2(n + 1)), `n ${n}: ${r.trials.length} trials`);
    }
});

test('oomLimit: real device and host out-of-memory errors, and nothing else', () => {
  const device = new Device({ capacityBytes: 4 << 20, name: 'd' });
  const host = new HostMemory({ capacityBytes: 3 << 20, arenaBytes: 3 << 20, name: 'h' });
  const thrown = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return null;
  };
  assert.equal(oomLimit(thrown(() => device.alloc(8 << 20, 'other'))), 'device');
  assert.equal(oomLimit(thrown(() => host.alloc(4 << 20, 'optimizer'))), 'host');
  assert.equal(oomLimit(new OffloadError('host0: out of host memory for optimizer sub-group 0 of 1')), 'host');
  assert.equal(oomLimit(new OffloadError('swap write of /x failed: EIO')), null);
  assert.equal(oomLimit(new StateError('out of memory')), null);
});

test('capacity search for real: found shape trains, next one runs out (device; host under offload)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zerots-cap-test-'));
  const base: CapacityBase = {
    deviceBytes: 6 << 20,
    hostBytes: 4 << 20,
    nvmePath: dir,
    worldSize: 2,
    seed: 1,
    kernels: 'wasm',
    steps: 3,
    bucketElements: 1 << 14,
    subGroupElements: 1 << 12,
    precision: 'bf16',
    persistence: 0,
  };
  try {
    const ladder = shapeLadder(TINY);
    const ddp = CAPACITY_METHODS.find((m) => m.key === 'ddp')!;
    const r = await searchCapacity(base, ddp, ladder);
    assert.ok(r.index >= 0 && r.index < ladder.length - 1, `DDP stops inside the ladder (at ${r.index})`);
    assert.equal(r.best?.ok, true);
    assert.equal(r.best?.params, gptParams(ladder[r.index]!), 'the formula counts what the engine trained');
    assert.ok(r.best!.devicePeak! <= base.deviceBytes);
    assert.equal(r.firstOom?.index, r.index + 1);
    assert.equal(r.firstOom?.limit, 'device');
    // outside the search: the found shape trains its 3 steps, the next one throws the allocator's error
    const [rep] = await trainWorld(capacitySpec(base, ddp, ladder[r.index]!), 2);
    assert.equal(rep!.losses.length, 3);
    await assert.rejects(trainWorld(capacitySpec(base, ddp, ladder[r.index + 1]!), 2), (e: Error) => {
      assert.equal(e.name, 'DeviceOutOfMemoryError');
      assert.match(e.message, /out of memory allocating/);
      return true;
    });
    // the top of the ladder under ZeRO-3 + cpu offload: the device holds it, 4 MiB of host does not
    const cpu = CAPACITY_METHODS.find((m) => m.key === 'zero3_cpu')!;
    const t = await tryShape(base, cpu, ladder, ladder.length - 1);
    assert.equal(t.ok, false);
    assert.equal(t.limit, 'host', t.oom ?? '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
