// What the GPT keeps for backward: 16-bit activations (bf16, f16) and activation checkpointing, on one device.
// - checkpointing (any subset of blocks, on the device or in host memory) gives bit-identical losses and
//   gradients to the same run without it, in fp32 and under 16-bit activations;
// - every configuration's measured activation peak equals the closed-form accounting (src/nn/activation-bytes.ts);
// - 16-bit activations keep the gradients close to fp32's and about halve what forward keeps;
// - what forward keeps per token does not depend on the context length (no T x T matrix).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { Tape, type ActivationDType } from '../../src/autograd/tape.js';
import { checkpointHost } from '../../src/autograd/checkpoint.js';
import { GPT, type GPTConfig } from '../../src/nn/gpt.js';
import { gptActivationBytes } from '../../src/nn/activation-bytes.js';

const CFG: GPTConfig = { vocabSize: 61, blockSize: 24, nLayer: 3, nHead: 2, nEmbd: 16, seed: 7 };

function batch(B: number, T: number, seed: number): { idx: number[][]; tgt: number[][] } {
  let s = seed;
  const r = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % CFG.vocabSize;
  };
  const idx = Array.from({ length: B }, () => Array.from({ length: T }, r));
  const tgt = Array.from({ length: B }, () => Array.from({ length: T }, r));
  return { idx, tgt };
}

interface Run {
  losses: number[];
  grads: Float32Array[];
  peak: number;
  forward: number;
}

function run(
  dtype: ActivationDType,
  ckpt: boolean | number[],
  cpu = false,
  kernels: 'wasm' | 'js' = 'wasm',
  B = 3,
  T = 20,
): Run {
  const device = new Device({ capacityBytes: 48 << 20, kernels, name: 'act' });
  const model = new GPT(device, CFG);
  model.setCheckpointing(ckpt);
  const tape = new Tape(device, { activationDType: dtype, cpuCheckpointing: cpu });
  const losses: number[] = [];
  let peak = 0;
  let forward = 0;
  for (let step = 0; step < 2; step++) {
    const { idx, tgt } = batch(B, T, step + 1);
    const base = device.memoryStats().byCategory.activation.inUse;
    device.resetPeak();
    const { loss } = model.forward(tape, idx, tgt);
    forward = device.memoryStats().byCategory.activation.inUse - base;
    losses.push(tape.backward(loss!));
    peak = device.memoryStats().byCategory.activation.peak - base;
    tape.clear();
  }
  const grads = model.parameters().map((p) => p.grad!.f32().slice());
  return { losses, grads, peak, forward };
}

function sameBits(a: Run, b: Run, what: string): void {
  assert.deepEqual(a.losses, b.losses, `${what}: losses`);
  a.grads.forEach((g, i) => {
    const h = b.grads[i]!;
    for (let j = 0; j < g.length; j++)
      if (!Object.is(g[j], h[j])) assert.fail(`${what}: gradient ${i}[${j}] ${g[j]} vs ${h[j]}`);
  });
}

test('checkpointing is bit-identical to no checkpointing (fp32, bf16, f16; device and host), peak as accounted', () => {
  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    const plain = run(dtype, false);
    const acc = gptActivationBytes(CFG, 3, 20, { activationDType: dtype });
    assert.equal(plain.peak, acc.peak, `${dtype} no checkpointing: measured peak vs accounting`);
    assert.equal(plain.forward, acc.forward, `${dtype} no checkpointing: end of forward vs accounting`);
    for (const [ckpt, cpu] of [
      [true, false],
      [[1], false],
      [true, true],
    ] as const) {
      const what = `${dtype} checkpointing ${JSON.stringify(ckpt)}${cpu ? ' on the host' : ''}`;
      const hostBefore = checkpointHost.inUse;
      const r = run(dtype, ckpt as boolean | number[], cpu);
      sameBits(r, plain, what);
      assert.equal(checkpointHost.inUse, hostBefore, `${what}: host copies freed`);
      const checkpointed = [0, 1, 2].map((i) => ckpt === true || (Array.isArray(ckpt) && ckpt.includes(i)));
      const a = gptActivationBytes(CFG, 3, 20, { activationDType: dtype, checkpointed, cpuCheckpointing: cpu });
      assert.equal(r.peak, a.peak, `${what}: measured peak vs accounting`);
      assert.equal(r.forward, a.forward, `${what}: end of forward vs accounting`);
      assert.ok(r.forward < plain.forward, `${what}: keeps less (${r.forward} vs ${plain.forward})`);
    }
  }
});

test('checkpointing is bit-identical on the js backend too', () => {
  sameBits(run('bf16', true, false, 'js', 2, 9), run('bf16', false, false, 'js', 2, 9), 'js bf16');
});

test('16-bit activations: gradients close to fp32, forward keeps about half, per-token bytes independent of T', () => {
  const f = run('f32', false);
  for (const dtype of ['bf16', 'f16'] as const) {
    const h = run(dtype, false);
    assert.ok(Math.abs(h.losses[0]! - f.losses[0]!) === 0, `${dtype}: forward math is fp32 (same first loss)`);
    let num = 0;
    let den = 0;
    f.grads.forEach((g, i) =>
      g.forEach((x, j) => {
        num += (x - h.grads[i]![j]!) ** 2;
        den += x * x;
      }),
    );
    const rel = Math.sqrt(num / den);
    assert.ok(rel < (dtype === 'bf16' ? 2e-2 : 3e-3), `${dtype}: gradient relative error ${rel}`);
  }
  // per token per layer, from the accounting that the test above holds to the measured bytes
  const perTok = (dtype: ActivationDType, T: number) => {
    const cfg = { ...CFG, nLayer: 4, nEmbd: 64, nHead: 4 };
    const d = (L: number) => gptActivationBytes({ ...cfg, nLayer: L }, 2, T, { activationDType: dtype }).forward;
    return (d(4) - d(3)) / (2 * T);
  };
  assert.ok(perTok('bf16', 64) <= 0.55 * perTok('f32', 64), `bf16 ${perTok('bf16', 64)} vs fp32 ${perTok('f32', 64)}`);
  const b64 = perTok('bf16', 64);
  for (const T of [256, 1024]) assert.ok(Math.abs(perTok('bf16', T) / b64 - 1) < 0.1, `T = ${T}: ${perTok('bf16', T)}`);
});
