// AdamW against the formula written out here in float64 (PyTorch's AdamW / Adam with L2), both backends,
// with the optional 16-bit copy of the updated parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16ToF32, bf16ToF32 } from '../../src/tensor/dtype.js';
import { assertClose, makeBench, randomArray } from '../helpers/kernel-memory.js';

function adamwFormula(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  o: {
    lr: number;
    b1: number;
    b2: number;
    eps: number;
    wd: number;
    decoupled: boolean;
    t: number;
    gs: number;
  },
): void {
  const bc1 = 1 - o.b1 ** o.t,
    bc2 = 1 - o.b2 ** o.t;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i]! * o.gs;
    if (!o.decoupled) gi += o.wd * p[i]!;
    m[i] = o.b1 * m[i]! + (1 - o.b1) * gi;
    v[i] = o.b2 * v[i]! + (1 - o.b2) * gi * gi;
    let pi = p[i]!;
    if (o.decoupled) pi -= o.lr * o.wd * pi;
    p[i] = pi - (o.lr * (m[i]! / bc1)) / (Math.sqrt(v[i]! / bc2) + o.eps);
  }
}

test('adamw: both backends follow the written-out formula over several steps', () => {
  const b = makeBench(64);
  for (const n of [1, 5, 8, 1003]) {
    for (const decoupled of [true, false]) {
      for (const k of [b.wasm, b.js]) {
        b.reset();
        const o = { lr: 1e-2, b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.1, decoupled, t: 0, gs: 0.5 };
        const p = randomArray(n, n),
          m = new Float32Array(n),
          v = new Float32Array(n);
        const P = b.put(p),
          M = b.put(m),
          Vp = b.put(v),
          G = b.alloc(n),
          out16 = b.alloc(n, 2);
        for (let step = 1; step <= 3; step++) {
          const g = randomArray(n, 100 * step + n);
          b.f32.set(g, G >>> 2);
          o.t = step;
          adamwFormula(p, g, m, v, o);
          const type = step % 2 ? 'bf16' : 'f16';
          k.adamw(
            P,
            G,
            M,
            Vp,
            n,
            o.lr,
            o.b1,
            o.b2,
            o.eps,
            o.wd,
            decoupled,
            1 - o.b1 ** step,
            1 - o.b2 ** step,
            o.gs,
            out16,
            type,
          );
          const what = `${k.backend} adamw n=${n} decoupled=${decoupled} step ${step}`;
          assertClose(b.get(P, n), p, 1e-5, 1e-6, `${what} p`);
          assertClose(b.get(M, n), m, 1e-5, 1e-7, `${what} m`);
          assertClose(b.get(Vp, n), v, 1e-5, 1e-9, `${what} v`);
          for (let i = 0; i < n; i++) {
            const h = b.u16[(out16 >>> 1) + i]!;
            const back = type === 'bf16' ? bf16ToF32(h) : f16ToF32(h);
            const rel = type === 'bf16' ? 2 ** -8 : 2 ** -11;
            assert.ok(
              Math.abs(back - b.f32[(P >>> 2) + i]!) <= rel * Math.abs(b.f32[(P >>> 2) + i]!) + 1e-7,
              `${what} out16[${i}]`,
            );
          }
        }
      }
    }
  }
});

test('adamw: 16-bit gradients decoded in the kernel give the bits of decoding first (both backends)', () => {
  const b = makeBench(64);
  const bits = new Uint32Array(b.memory.buffer);
  for (const n of [1, 7, 8, 13, 1003]) {
    for (const gt of ['bf16', 'f16'] as const) {
      for (const decoupled of [true, false]) {
        for (const k of [b.wasm, b.js]) {
          b.reset();
          const p = randomArray(n, n + 1),
            m = randomArray(n, n + 2),
            v = randomArray(n, n + 3).map(Math.abs);
          const [P1, M1, V1, P2, M2, V2] = [p, m, v, p, m, v].map((a) => b.put(a)) as number[];
          const G16 = b.alloc(n, 2),
            G32 = b.alloc(n),
            O1 = b.alloc(n, 2),
            O2 = b.alloc(n, 2);
          const g = randomArray(n, n + 4);
          b.f32.set(g, G32 >>> 2);
          k.castToHalf(G16, G32, n, gt); // random 16-bit gradients
          k.castFromHalf(G32, G16, n, gt, false);
          const hp = [1e-2, 0.9, 0.95, 1e-8, 0.1, decoupled, 0.19, 0.0975, 0.5] as const;
          k.adamw(P1!, G32, M1!, V1!, n, ...hp, O1, 'bf16');
          k.adamw(P2!, G16, M2!, V2!, n, ...hp, O2, 'bf16', gt);
          const what = `${k.backend} n=${n} ${gt} decoupled=${decoupled}`;
          for (const [x, y, name] of [
            [P1!, P2!, 'p'],
            [M1!, M2!, 'm'],
            [V1!, V2!, 'v'],
          ] as const)
            assert.deepEqual(bits.slice(x >>> 2, (x >>> 2) + n), bits.slice(y >>> 2, (y >>> 2) + n), `${what} ${name}`);
          const u = b.u16;
          assert.deepEqual(u.slice(O1 >>> 1, (O1 >>> 1) + n), u.slice(O2 >>> 1, (O2 >>> 1) + n), `${what} out16`);
        }
      }
    }
  }
});
