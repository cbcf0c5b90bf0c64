// Every op through the tape against central finite differences: gradients for inputs and parameters, including
// tensors consumed twice (accumulation) and parameters used twice (tied weights).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { Tape } from '../../src/autograd/tape.js';
import {
  add,
  causalAttention,
  crossEntropy,
  embedding,
  gelu,
  layerNorm,
  linear,
} from '../../src/autograd/ops/index.js';
import type { Parameter } from '../../src/nn/parameter.js';
import { param, rand, weightedSum } from '../helpers/autograd.js';

interface Case {
  name: string;
  /** f32 inputs that get gradients (shape, values). */
  inputs: { shape: number[]; values: Float32Array }[];
  params: (d: Device) => Parameter[];
  /** Builds the output from the input tensors and the parameters. */
  op: (tape: Tape, xs: Tensor[], ps: Parameter[]) => Tensor;
}

const H = 1e-2;

function gradCheck(device: Device, c: Case): void {
  const ps = c.params(device);
  const tape = new Tape(device);
  let r: Float32Array | null = null;
  const lossOf = (keepGrads: boolean): { value: number; grads: Float32Array[] } => {
    const xs = c.inputs.map((inp, i) => tape.input(inp.values, inp.shape, { requiresGrad: true, label: `x${i}` }));
    const out = c.op(tape, xs, ps);
    r ??= rand(out.numel, 99);
    const loss = out.numel === 1 ? out : weightedSum(tape, out, r);
    if (!keepGrads) {
      const v = loss.f32()[0];
      tape.clear();
      return { value: v, grads: [] };
    }
    const value = tape.backward(loss);
    const grads = xs.map((x) => tape.grad(x)?.f32().slice() ?? new Float32Array(x.numel));
    tape.clear();
    return { value, grads };
  };
  const live = (): number[] => {
    const s = device.memoryStats().byCategory;
    return [s.activation.inUse, s.workspace.inUse];
  };
  const before = live();
  const { grads } = lossOf(true);
  const pgrads = ps.map((p) => p.grad!.f32().slice());
  assert.deepEqual(live(), before, `${c.name}: activation and workspace memory back to their level after clear`);
  const targets: { name: string; data: Float32Array; grad: Float32Array }[] = [
    ...c.inputs.map((inp, i) => ({ name: `input ${i}`, data: inp.values, grad: grads[i] })),
    ...ps.map((p, i) => ({ name: p.name, data: p.data!.f32(), grad: pgrads[i] })),
  ];
  for (const t of targets) {
    const scale = Math.max(1e-3, ...Array.from(t.grad, Math.abs));
    const picks = new Set<number>();
    for (let k = 0; k < Math.min(8, t.data.length); k++)
      picks.add(
        Math.floor(rand(1, 7 + 31 * k + t.data.length)[0] * 0.5 * t.data.length + 0.5 * t.data.length) % t.data.length,
      );
    for (const j of picks) {
      const x0 = t.data[j];
      t.data[j] = x0 + H;
      const up = lossOf(false).value;
      t.data[j] = x0 - H;
      const dn = lossOf(false).value;
      t.data[j] = x0;
      const fd = (up - dn) / (2 * H);
      assert.ok(
        Math.abs(fd - t.grad[j]) <= 1e-2 * scale + 1e-4,
        `${c.name}, ${t.name}[${j}]: autograd ${t.grad[j]} vs finite difference ${fd}`,
      );
    }
  }
}

const cases: Case[] = [
  {
    name: 'linear (Conv1D layout, bias)',
    inputs: [{ shape: [5, 6], values: rand(30, 1) }],
    params: (d) => [param(d, 'w', [6, 4], rand(24, 2, 0.5)), param(d, 'b', [4], rand(4, 3, 0.5))],
    op: (t, [x], [w, b]) => linear(t, x, w, b),
  },
  {
    name: 'linear, transposed weight, no bias',
    inputs: [{ shape: [2, 3, 6], values: rand(36, 4) }],
    params: (d) => [param(d, 'w', [7, 6], rand(42, 5, 0.5))],
    op: (t, [x], [w]) => linear(t, x, w, null, { transposeWeight: true }),
  },
  {
    name: 'embedding with repeated indices, tied with a transposed linear',
    inputs: [],
    params: (d) => [param(d, 'wte', [5, 4], rand(20, 6))],
    op: (t, _xs, [w]) =>
      linear(t, embedding(t, t.input([1, 3, 1, 0, 4, 1], [6], { dtype: 'i32' }), w), w, null, {
        transposeWeight: true,
      }),
  },
  {
    name: 'add (same tensor twice)',
    inputs: [{ shape: [3, 4], values: rand(12, 7) }],
    params: () => [],
    op: (t, [x]) => add(t, x, x),
  },
  {
    name: 'add of two inputs, gelu',
    inputs: [
      { shape: [3, 4], values: rand(12, 8, 2) },
      { shape: [3, 4], values: rand(12, 9, 2) },
    ],
    params: () => [],
    op: (t, [a, b]) => gelu(t, add(t, a, b)),
  },
  {
    name: 'layerNorm (x also used on a residual path)',
    inputs: [{ shape: [4, 8], values: rand(32, 10, 2) }],
    params: (d) => [
      param(
        d,
        'g',
        [8],
        rand(8, 11, 0.5).map((v) => 1 + v),
      ),
      param(d, 'b', [8], rand(8, 12, 0.5)),
    ],
    op: (t, [x], [g, b]) => add(t, x, layerNorm(t, x, g, b, 1e-5)),
  },
  {
    name: 'causal attention (B 2, T 5, C 8, 2 heads)',
    inputs: [{ shape: [2, 5, 24], values: rand(240, 13) }],
    params: () => [],
    op: (t, [qkv]) => causalAttention(t, qkv, 2),
  },
  {
    name: 'cross-entropy with an ignored target',
    inputs: [{ shape: [4, 6], values: rand(24, 14, 2) }],
    params: () => [],
    op: (t, [x]) => crossEntropy(t, x, t.input([2, -1, 5, 0], [4], { dtype: 'i32' })),
  },
];

for (const backend of ['js', 'wasm'] as const) {
  for (const c of cases) {
    test(`finite differences: ${c.name} (${backend})`, () =>
      gradCheck(new Device({ capacityBytes: 8 * 2 ** 20, kernels: backend }), c));
  }
}
