// AdamW, Adam and SGD against the written-out update formulas (float64 loops), on a Device and on a host arena,
// with both kernel backends; state export/import; factory mapping of DeepSpeed's optimizer config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { HostMemory } from '../../src/tensor/host.js';
import { bf16ToF32 } from '../../src/tensor/dtype.js';
import { Adam, AdamW, SGD, createOptimizer } from '../../src/optim/index.js';
import type { Optimizer, ParamShard, ShardMemory, StateKey } from '../../src/optim/index.js';
import { CheckpointError, ConfigError, StateError } from '../../src/errors.js';
import { xorshift32 } from '../helpers/xorshift.js';

function rng(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 2 ** 32 - 0.5;
}

interface Setup {
  shard: ParamShard;
  p: Float32Array;
  g: Float32Array;
}

/** A shard on `mem`, with params and grads from a seeded generator and zeroed state. */
function makeShard(
  mem: ShardMemory,
  alloc: (bytes: number) => number,
  n: number,
  keys: readonly StateKey[],
  seed: number,
  out16 = false,
): Setup {
  const param = alloc(4 * n);
  const grad = alloc(4 * n);
  const state: Partial<Record<StateKey, number>> = {};
  for (const k of keys) {
    state[k] = alloc(4 * n);
    mem.f32(state[k]!, n).fill(0);
  }
  const r = rng(seed);
  const p = mem.f32(param, n);
  const g = mem.f32(grad, n);
  for (let i = 0; i < n; i++) {
    p[i] = r() * 2;
    g[i] = r();
  }
  return {
    shard: {
      name: `test shard ${seed}`,
      memory: mem,
      n,
      param,
      grad,
      state,
      out16: out16 ? { ptr: alloc(2 * n), type: 'bf16' } : null,
    },
    p,
    g,
  };
}

/** Reference Adam/AdamW in float64 from the formulas, over plain arrays. */
function refAdam(
  p: number[],
  gs: number[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean; scale: number },
): { p: number[]; m: number[]; v: number[] } {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  p = [...p];
  gs.forEach((grad, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      let g = grad[i]! * o.scale;
      if (!o.decoupled) g += o.wd * p[i]!;
      m[i] = o.b1 * m[i]! + (1 - o.b1) * g;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * g * g;
      if (o.decoupled) p[i] = p[i]! * (1 - o.lr * o.wd);
      const mh = m[i]! / (1 - o.b1 ** t);
      const vh = v[i]! / (1 - o.b2 ** t);
      p[i] = p[i]! - (o.lr * mh) / (Math.sqrt(vh) + o.eps);
    }
  });
  return { p, m, v };
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    assert.ok(d <= 1e-7 + rtol * Math.abs(want[i]!), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

for (const backend of ['js', 'wasm'] as const) {
  for (const decoupled of [true, false]) {
    test(`${decoupled ? 'AdamW' : 'Adam'} (${backend} kernels) matches the formulas over 5 steps, with gradScale and out16`, () => {
      const dev = new Device({ capacityBytes: 4 * 2 ** 20, kernels: backend });
      const n = 1037; // odd length: SIMD tails
      const { shard, p, g } = makeShard(dev, (b) => dev.alloc(b, 'optimizer').ptr, n, ['m', 'v'], 3, true);
      const hyper = { lr: 0.01, betas: [0.8, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.1 };
      const opt: Optimizer = decoupled ? new AdamW(hyper) : new Adam(hyper);
      const p0 = Array.from(p);
      const grads: number[][] = [];
      const r = rng(99);
      for (let k = 0; k < 5; k++) {
        for (let i = 0; i < n; i++) g[i] = r();
        grads.push(Array.from(g));
        opt.step([shard], { gradScale: 0.5 });
      }
      assert.equal(opt.stepCount, 5);
      const want = refAdam(p0, grads, { lr: 0.01, b1: 0.8, b2: 0.95, eps: 1e-6, wd: 0.1, decoupled, scale: 0.5 });
      close(p, want.p, 1e-5, 'p');
      const st = opt.readState(shard);
      close(st.m!, want.m, 1e-5, 'm');
      close(st.v!, want.v, 1e-5, 'v');
      const u = dev.u16(shard.out16!.ptr, n);
      for (let i = 0; i < n; i++)
        assert.ok(Math.abs(bf16ToF32(u[i]!) - p[i]!) <= Math.abs(p[i]!) * 2 ** -8, 'bf16 copy of the new params');
    });
  }
}

test('Adam/AdamW: per-shard weight decay override, biasCorrection off, and sub-group updates equal one step', () => {
  const dev = new Device({ capacityBytes: 4 * 2 ** 20, kernels: 'js' });
  const alloc = (b: number): number => dev.alloc(b, 'optimizer').ptr;
  const a = makeShard(dev, alloc, 64, ['m', 'v'], 5);
  const noDecay: ParamShard = { ...a.shard, weightDecay: 0 };
  const p0 = Array.from(a.p);
  const g0 = Array.from(a.g);
  const opt = new AdamW({ lr: 0.1, weightDecay: 0.5, biasCorrection: false });
  opt.step([noDecay]);
  // t = 1 without bias correction: m = 0.1 g, v = 0.001 g^2, no decay
  for (let i = 0; i < 64; i++) {
    const m = 0.1 * g0[i]!;
    const v = 0.001 * g0[i]! * g0[i]!;
    assert.ok(Math.abs(a.p[i]! - (p0[i]! - (0.1 * m) / (Math.sqrt(v) + 1e-8))) < 1e-6);
  }
  // one step over two shards == advance() + updateShard on each
  const x1 = makeShard(dev, alloc, 50, ['m', 'v'], 7);
  const x2 = makeShard(dev, alloc, 30, ['m', 'v'], 8);
  const y1 = makeShard(dev, alloc, 50, ['m', 'v'], 7);
  const y2 = makeShard(dev, alloc, 30, ['m', 'v'], 8);
  const o1 = new AdamW({ lr: 0.01 });
  const o2 = new AdamW({ lr: 0.01 });
  for (let k = 0; k < 3; k++) {
    o1.step([x1.shard, x2.shard]);
    const t = o2.advance();
    o2.updateShard(y2.shard, t);
    o2.updateShard(y1.shard, t);
  }
  assert.deepEqual(x1.p, y1.p);
  assert.deepEqual(x2.p, y2.p);
});

test('SGD: momentum, dampening, nesterov and weight decay against the formulas', () => {
  const dev = new Device({ capacityBytes: 4 * 2 ** 20, kernels: 'js' });
  const alloc = (b: number): number => dev.alloc(b, 'optimizer').ptr;
  for (const o of [
    { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },
    { momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0.01 },
    { momentum: 0.9, dampening: 0.3, nesterov: false, weightDecay: 0 },
    { momentum: 0.8, dampening: 0, nesterov: true, weightDecay: 0.05 },
  ]) {
    const opt = new SGD({ lr: 0.1, ...o });
    assert.deepEqual(opt.stateKeys, o.momentum ? ['momentum'] : []);
    const { shard, p, g } = makeShard(dev, alloc, 100, opt.stateKeys, 11, true);
    const ref = Array.from(p);
    const buf = ref.map(() => 0);
    const r = rng(5);
    for (let t = 1; t <= 4; t++) {
      for (let i = 0; i < 100; i++) g[i] = r();
      for (let i = 0; i < 100; i++) {
        let d = g[i]! * 2 + o.weightDecay * ref[i]!;
        if (o.momentum) {
          buf[i] = t === 1 ? d : o.momentum * buf[i]! + (1 - o.dampening) * d;
          d = o.nesterov ? d + o.momentum * buf[i]! : buf[i]!;
        }
        ref[i] = ref[i]! - 0.1 * d;
      }
      opt.step([shard], { gradScale: 2 });
    }
    close(p, ref, 1e-5, `SGD ${JSON.stringify(o)}`);
    const u = dev.u16(shard.out16!.ptr, 100);
    assert.ok(Math.abs(bf16ToF32(u[7]!) - p[7]!) <= Math.abs(p[7]!) * 2 ** -8);
  }
  assert.throws(() => new SGD({ nesterov: true }), ConfigError);
});

test('optimizer on a host arena (offload): same result as on the device', () => {
  const dev = new Device({ capacityBytes: 4 * 2 ** 20, kernels: 'js' });
  const host = new HostMemory({ arenaBytes: 4 * 2 ** 20, kernels: 'js' });
  const n = 200;
  // one host allocation holds the whole shard (param | grad | m | v), so one arena's kernels serve it
  const block = host.alloc(16 * n, 'optimizer', 'offloaded shard');
  const mem: ShardMemory = host.arenaView(block);
  let off = block.ptr;
  const h = makeShard(
    mem,
    (b) => {
      const p = off;
      off += b;
      return p;
    },
    n,
    ['m', 'v'],
    21,
  );
  const d = makeShard(dev, (b) => dev.alloc(b, 'optimizer').ptr, n, ['m', 'v'], 21);
  const oh = new AdamW({ lr: 0.003 });
  const od = new AdamW({ lr: 0.003 });
  for (let k = 0; k < 3; k++) {
    oh.step([h.shard]);
    od.step([d.shard]);
  }
  assert.deepEqual(h.p, d.p);
  assert.equal(host.memoryStats().byCategory.optimizer.inUse, 16 * n);
});

test('state dict round trip, missing state buffers, wrong checkpoint type', () => {
  const dev = new Device({ capacityBytes: 4 * 2 ** 20, kernels: 'js' });
  const alloc = (b: number): number => dev.alloc(b, 'optimizer').ptr;
  const a = makeShard(dev, alloc, 40, ['m', 'v'], 1);
  const b = makeShard(dev, alloc, 40, ['m', 'v'], 1);
  const oa = new AdamW({ lr: 0.01 });
  oa.step([a.shard]);
  oa.step([a.shard]);
  // resume: b gets a's state and step count, then both take the same step
  const ob = new AdamW({ lr: 0.5 });
  ob.loadStateDict(oa.stateDict());
  assert.equal(ob.stepCount, 2);
  assert.equal(ob.lr, 0.01);
  ob.writeState(b.shard, oa.readState(a.shard));
  b.p.set(a.p);
  oa.step([a.shard]);
  ob.step([b.shard]);
  assert.deepEqual(b.p, a.p);
  assert.throws(() => new SGD().loadStateDict(oa.stateDict()), CheckpointError);
  assert.throws(() => ob.writeState(b.shard, { m: new Float32Array(3), v: new Float32Array(40) }), CheckpointError);
  const bare: ParamShard = { ...a.shard, state: { m: a.shard.state.m! } };
  assert.throws(
    () => oa.step([bare]),
    (e: unknown) => e instanceof StateError && /"v"/.test((e as Error).message),
  );
});

test('createOptimizer maps DeepSpeed types (adam_w_mode) and validates hyper-parameters', () => {
  const base = { lr: 1e-3, betas: [0.9, 0.999] as const, eps: 1e-8, weightDecay: 0.01 };
  assert.ok(createOptimizer({ type: 'AdamW', params: base }) instanceof AdamW);
  assert.ok(createOptimizer({ type: 'Adam', params: base }) instanceof AdamW, 'DeepSpeed Adam defaults to adam_w_mode');
  assert.ok(createOptimizer({ type: 'Adam', params: { ...base, adamWMode: false } }) instanceof Adam);
  assert.ok(createOptimizer({ type: 'SGD', params: { lr: 0.1, momentum: 0.9 } }) instanceof SGD);
  assert.throws(
    () => createOptimizer({ type: 'AdamW', params: { ...base, betas: [1, 0.9] } }),
    (e: unknown) => e instanceof ConfigError && e.path === 'optimizer.params.betas[0]',
  );
  assert.throws(() => createOptimizer({ type: 'Lion' } as never), /not supported/);
});
