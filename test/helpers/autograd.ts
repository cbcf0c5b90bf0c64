// Test helpers: a weighted-sum "loss" op (a custom op through the public tape API) and a parameter factory.
import { Tensor } from '../../src/tensor/tensor.js';
import type { Device } from '../../src/tensor/device.js';
import type { Tape } from '../../src/autograd/tape.js';
import { Parameter } from '../../src/nn/parameter.js';
import { xorshift32 } from './xorshift.js';

/** loss = sum_i x[i] * r[i]; d loss / dx = r. */
export function weightedSum(tape: Tape, x: Tensor, r: Float32Array): Tensor {
  const xs = x.f32();
  let s = 0;
  for (let i = 0; i < r.length; i++) s += xs[i] * r[i];
  const out = tape.activation([1], 'weighted sum');
  out.f32()[0] = s;
  return tape.record('weightedSum', out, [], (dOut) => {
    const sink = tape.gradSink(x);
    if (sink === null) return;
    const g = sink.t.f32();
    const d = dOut.f32()[0];
    for (let i = 0; i < r.length; i++) g[i] = (sink.accumulate ? g[i] : 0) + d * r[i];
  });
}

/** A deterministic pseudo-random array in [-scale, scale). */
export function rand(n: number, seed: number, scale = 1): Float32Array {
  const next = xorshift32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((next() / 4294967296) * 2 - 1) * scale;
  return out;
}

/** A materialised fp32 parameter holding `values`. */
export function param(device: Device, name: string, shape: number[], values: Float32Array): Parameter {
  const p = new Parameter(name, shape, { kind: 'zeros' }, 0, device);
  p.data = Tensor.fromArray(device, values, shape, { category: 'param', label: name });
  return p;
}
