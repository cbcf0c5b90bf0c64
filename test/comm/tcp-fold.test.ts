// The TCP helper's fold (folder.ts): wasm SIMD reducer and the plain-JS fallback, every dtype x op x world size
// 1..4, own chunk in place or not, against the reference reducer (reduce-js.ts reduceInto): exact bits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Folder } from '../../src/comm/tcp/folder.js';
import { reduceInto } from '../../src/comm/reduce-js.js';
import type { CommDType, ReduceOp } from '../../src/comm/types.js';

function rand(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function values(dtype: CommDType, n: number, seed: number): Float32Array | Uint16Array {
  const r = rand(seed);
  if (dtype === 'f32') return Float32Array.from({ length: n }, () => (r() - 0.5) * 10 ** Math.floor(r() * 12 - 4));
  // random 16-bit patterns, NaN/Inf included now and then
  return Uint16Array.from({ length: n }, () => Math.floor(r() * 65536));
}

function isNaNBits(dtype: CommDType, x: number): boolean {
  if (dtype === 'f32') return Number.isNaN(x);
  return dtype === 'bf16' ? (x & 0x7fff) > 0x7f80 : (x & 0x7fff) > 0x7c00;
}

for (const wasm of [true, false]) {
  test(`tcp fold (${wasm ? 'wasm' : 'js fallback'}) equals the reference reducer bit for bit`, () => {
    const folder = new Folder(wasm);
    if (wasm) assert.ok(folder.usesWasm, 'dist/wasm/reduce.wasm not built');
    const cases: [CommDType, ReduceOp, number, number][] = [];
    for (const dtype of ['f32', 'bf16', 'f16'] as CommDType[]) {
      for (const op of ['sum', 'avg', 'max'] as ReduceOp[])
        for (let N = 1; N <= 4; N++) cases.push([dtype, op, N, 5003]);
    }
    // longer than one fold segment (256 Ki elements), with an odd tail
    cases.push(['f32', 'sum', 3, 263_001], ['bf16', 'avg', 4, 263_001]);
    for (const [dtype, op, N, n] of cases) {
      const rank = N - 1;
      const parts = Array.from({ length: N }, (_, k) => values(dtype, n, 1000 * N + 10 * k + dtype.length));
      const want = dtype === 'f32' ? new Float32Array(n) : new Uint16Array(n);
      reduceInto(want, parts, dtype, op);
      const views = folder.prepare(N, rank, n * (dtype === 'f32' ? 4 : 2));
      parts.forEach((p, k) => {
        if (k !== rank) views[k]!.set(new Uint8Array(p.buffer));
      });
      const own = parts[rank]!.slice();
      folder.fold(own, own, 0, 1000, rank, op, dtype); // in place, in two calls
      folder.fold(own, own, 1000, n, rank, op, dtype);
      // NaN payloads may differ (wasm keeps them, JS canonicalises); any NaN matches any NaN
      const eq = (x: number, y: number) => Object.is(x, y) || (isNaNBits(dtype, x) && isNaNBits(dtype, y));
      const bad = own.findIndex((x, i) => !eq(x, want[i]!));
      assert.equal(bad, -1, `${dtype} ${op} N=${N}: first difference at ${bad}: got ${own[bad]}, want ${want[bad]}`);
    }
  });
}
