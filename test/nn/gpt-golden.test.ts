// The tiny GPT and the MLP classifier against PyTorch (tools/golden_gpt.py, float64 rounded to float32):
// logits, loss, every parameter's gradient, and the parameters after 3 AdamW steps, on both kernel backends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../src/tensor/device.js';
import { Tape } from '../../src/autograd/tape.js';
import { GPT, type GPTConfig } from '../../src/nn/gpt.js';
import { MLPClassifier } from '../../src/nn/mlp-classifier.js';
import type { Module } from '../../src/nn/module.js';
import type { Parameter } from '../../src/nn/parameter.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { paramAdamW } from '../helpers/param-adamw.js';
import { loadFixture, relErr, type Fixture } from '../helpers/golden-fixture.js';

const TOL = 2e-5;

function check(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = TOL): void {
  const e = relErr(got, want);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

function loadInit(model: Module, fx: Fixture): Parameter[] {
  const params = model.parameters();
  assert.deepEqual(
    params.map((p) => p.name),
    fx.manifest.params.map((p) => p.name),
    'parameter names and order (GPT-2 state dict)',
  );
  for (const p of params) {
    assert.deepEqual([...p.shape], fx.manifest.params.find((q) => q.name === p.name)?.shape, `${p.name} shape`);
    p.load(fx.get(`init/${p.name}`));
  }
  return params;
}

/** forward + backward + 3 AdamW steps, each step on the same batch, as the generator does. */
function runGolden(model: Module, fx: Fixture, forward: (tape: Tape) => { logits: Tensor; loss: Tensor | null }): void {
  const device = (model as unknown as { device: Device }).device;
  const params = loadInit(model, fx);
  const { lr, betas, eps, weight_decay: weightDecay, steps } = fx.manifest.adamw;
  const opt = paramAdamW(params, { lr, betas, eps, weightDecay });
  const tape = new Tape(device);
  for (let s = 0; s < steps; s++) {
    for (const p of params) p.zeroGrad();
    const { logits, loss } = forward(tape);
    assert.ok(loss !== null);
    if (s === 0) check('logits', logits.f32(), fx.get('logits'));
    const value = tape.backward(loss);
    assert.ok(
      Math.abs(value - fx.manifest.stepLosses[s]) <= 1e-5 * Math.abs(fx.manifest.stepLosses[s]),
      `loss at step ${s}: ${value} vs ${fx.manifest.stepLosses[s]}`,
    );
    tape.clear();
    if (s === 0) for (const p of params) check(`grad ${p.name}`, p.grad!.f32(), fx.get(`grad/${p.name}`));
    opt.step();
  }
  for (const p of params) {
    const got = p.value().f32();
    const want = fx.get(`step${steps}/${p.name}`);
    if (!p.name.endsWith('attn.c_attn.bias')) {
      check(`after ${steps} steps ${p.name}`, got, want);
      continue;
    }
    // [Note: the key bias] adding b_k to every key shifts each score row by the constant q.b_k, which softmax
    // ignores: d loss / d b_k is exactly 0, so both sides' gradients there are rounding noise (~1e-10 in fp32,
    // ~1e-17 in fp64) and Adam's m / (sqrt(v) + eps) turns noise into updates up to ~1% of lr. Those C entries
    // are checked against that bound; q and v biases strictly.
    const C = p.numel / 3;
    check(`after ${steps} steps ${p.name} (q)`, got.subarray(0, C), want.subarray(0, C));
    check(`after ${steps} steps ${p.name} (v)`, got.subarray(2 * C), want.subarray(2 * C));
    for (let i = C; i < 2 * C; i++)
      assert.ok(Math.abs(got[i] - want[i]) <= 0.05 * lr * steps, `${p.name}[${i}] (key bias) ${got[i]} vs ${want[i]}`);
  }
  opt.dispose();
}

for (const backend of ['js', 'wasm'] as const) {
  test(`tiny GPT matches PyTorch: logits, loss, gradients, 3 AdamW steps (${backend} kernels)`, () => {
    const fx = loadFixture('gpt_tiny');
    const device = new Device({ capacityBytes: 64 * 2 ** 20, kernels: backend });
    const cfg = { ...(fx.manifest.config as Omit<GPTConfig, 'seed'>), seed: 1 };
    const model = new GPT(device, cfg);
    const [B, T] = fx.manifest.batch;
    runGolden(model, fx, (tape) =>
      model.forward(tape, { B, T, data: fx.manifest.idx! }, { B, T, data: fx.manifest.targets }),
    );
  });

  test(`MLP classifier matches PyTorch (${backend} kernels)`, () => {
    const fx = loadFixture('mlp_classifier');
    const device = new Device({ capacityBytes: 16 * 2 ** 20, kernels: backend });
    const c = fx.manifest.config as { inDim: number; hidden: number[]; classes: number };
    const model = new MLPClassifier(device, { ...c, seed: 1 });
    runGolden(model, fx, (tape) => model.forward(tape, fx.manifest.x!, fx.manifest.targets));
  });
}
